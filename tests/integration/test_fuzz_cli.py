"""A short fuzz campaign of the admin CLI (the full one is `make fuzz`): mutated command lines and key variables of
an operator, each ending with its confirmation or a specific message and exit status (never a traceback), and no
merchant published by a command line that was refused."""

from __future__ import annotations

import asyncio
import uuid

from deploy.fuzz.cli_campaign import run, summary
from shared.settings import Settings

# Every command with every kind of mutation (30 strategies) and every edge value is drawn within 200 inputs with
# this seed; each input runs a whole command (its own event loop, often a producer): 300 took 12-17 s, 200 take 6.
INPUTS = 200
COMMANDS = ("merchant-put", "product-put", "clock-advance", "clock-reset", "rotate-keys", "dead-letters")
KINDS = ("value", "drop", "repeat", "unknown", "env")


async def test_two_hundred_mutated_command_lines_each_end_specifically_and_publish_only_when_accepted(
    topics: Settings,
) -> None:
    # Each command runs its own event loop (as from a shell): in a thread, outside the test's loop.
    report = await asyncio.to_thread(run, topics.kafka_bootstrap, INPUTS, 21, "T" + uuid.uuid4().hex[:3])
    assert report.ok(), summary(report) + f"\ncrashes: {report.crashes[:5]}\nsilent: {report.silent[:5]}"
    assert report.inputs == INPUTS and set(report.by_strategy) == {f"{c}: {k}" for c in COMMANDS for k in KINDS}
    assert report.published and {"0", "1", "2"} <= set(report.by_exit)  # accepted, refused, and argparse's errors
