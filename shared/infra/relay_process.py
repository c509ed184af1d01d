"""Each service's outbox relay runs in a child process of the service, not on the service's event loop.

Why: publishing costs about 12 µs of Python per event. On the service's loop that time was taken from the consumer
and the timers, and every database round trip of theirs waited behind it: a million-ticket expiry flood ran at
21,000-22,000 tickets/s with the relay in-process and at 23,500-24,400 with it in a process of its own (same
machine, same flood, in a throwaway profiling run; `make bench` in docs/benchmarks.md shows the combined gains).
Nothing else changes: leadership is still the advisory lock, so with several service instances one relay publishes
and the others stand by.

The child follows its parent: it stops when the service stops (SIGTERM), and when the service dies without
stopping it (kill -9) it notices within PARENT_POLL_SECONDS and exits, at the latest STOP_SECONDS later even when
it is stuck on a broker that is gone, so no relay outlives its service for long (and one that lingers only publishes
committed rows, which is harmless, but holds the relay lock its successor waits for). If the child dies, the service starts
another after RESTART_SECONDS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys

from shared.infra import logs
from shared.infra.chain import Checkpointer
from shared.infra.relay import OutboxRelay
from shared.settings import Settings

log = logging.getLogger(__name__)

PARENT_POLL_SECONDS = 0.5
RESTART_SECONDS = 1.0
STOP_SECONDS = 15.0


async def supervise(schema: str, settings: Settings, stopping: asyncio.Event) -> None:
    """Keep a relay child running for `schema` until `stopping`, then stop it."""
    env = {**os.environ, "DATABASE_URL": settings.database_url, "KAFKA_BOOTSTRAP": settings.kafka_bootstrap}
    while not stopping.is_set():
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.infra.relay_process", schema, "--parent", str(os.getpid()), env=env
        )
        exited = asyncio.create_task(child.wait())
        halted = asyncio.create_task(stopping.wait())
        await asyncio.wait([exited, halted], return_when=asyncio.FIRST_COMPLETED)
        halted.cancel()
        if exited.done():
            log.warning("relay %s: child exited with %s; starting another", schema, child.returncode)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RESTART_SECONDS)
            continue
        child.terminate()
        try:
            await asyncio.wait_for(exited, STOP_SECONDS)
        except TimeoutError:
            child.kill()
            await exited


async def _run(schema: str, parent: int) -> None:
    settings = Settings.from_env()
    relay = OutboxRelay(schema, settings.database_url, settings.kafka_bootstrap, Checkpointer.from_settings(settings))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, relay.stopping.set)
    task = asyncio.create_task(relay.run())
    while not relay.stopping.is_set() and not task.done():
        if os.getppid() != parent:
            log.warning("relay %s: service %d is gone; stopping", schema, parent)
            relay.stopping.set()
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(relay.stopping.wait(), PARENT_POLL_SECONDS)
    try:
        await asyncio.wait_for(asyncio.shield(task), STOP_SECONDS)
    except TimeoutError:
        # Stuck sending to a broker that is gone (a send or the producer's close waits for it): a relay that outlived
        # its service would hold the relay lock, and its successor would stand by behind it for as long as the broker
        # stays away, and longer (seen in a chaos run). Leaving is safe: rows not marked published stay in the
        # outbox, and the next relay sends them again with the same bytes.
        log.error("relay %s: not stopped within %.0f s; leaving without it", schema, STOP_SECONDS)
        logging.shutdown()
        os._exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description="Publish one service schema's outbox to Kafka.")
    parser.add_argument("schema")
    parser.add_argument("--parent", type=int, required=True, help="the service's pid; the relay ends with it")
    args = parser.parse_args()
    # Each event allocates short-lived, acyclic objects (a row, a future, headers) that reference counting frees.
    # At the default threshold (700) the cyclic collector's runs cost a fifth of the relay's CPU: 14.0 against
    # 11.3 µs per event, publishing 200,000 events of an expiry's size (a throwaway profiling run, not kept).
    gc.set_threshold(10_000, 10, 10)
    logs.configure()
    asyncio.run(_run(args.schema, args.parent))


if __name__ == "__main__":
    main()
