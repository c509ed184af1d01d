"""A short fuzz campaign of the admin CLI (the full one is `make fuzz`): mutated command lines and key variables of
an operator, each ending with its confirmation or a specific message and exit status (never a traceback), and no
merchant published by a command line that was refused."""

from __future__ import annotations

import asyncio
import uuid

from deploy.fuzz.cli_campaign import run, summary
from shared.settings import Settings

INPUTS = 300


async def test_three_hundred_mutated_command_lines_each_end_specifically_and_publish_only_when_accepted(
    topics: Settings,
) -> None:
    # Each command runs its own event loop (as from a shell): in a thread, outside the test's loop.
    report = await asyncio.to_thread(run, topics.kafka_bootstrap, INPUTS, 21, "T" + uuid.uuid4().hex[:3])
    assert report.ok(), summary(report) + f"\ncrashes: {report.crashes[:5]}\nsilent: {report.silent[:5]}"
    assert report.inputs == INPUTS and len(report.by_strategy) > 25
    assert report.published and {"0", "1", "2"} <= set(report.by_exit)  # accepted, refused, and argparse's errors
