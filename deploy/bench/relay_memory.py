"""The relay child's peak memory and time publishing a full outbox (docs/benchmarks.md, "Memory at the peak, and the
relay's read of the outbox").

In a schema of its own it writes `--rows` expiry-sized rows for the redemption events topic (650 bytes, keys shared
by 500 rows as an expiry's tickets share their order's; the topic is chained, as an expiry's events are), runs `python -m shared.infra.relay_process` on it until every row is published, and
prints the child's VmHWM and the time taken. The instance must be set up (its topics made: `make run`'s, or
`python -m shared.setup`). It imports nothing newer than the relay itself, so it runs at two commits to compare
their relays:

    source .run/dev/env && python -m deploy.bench.relay_memory --rows 200000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from deploy.bench.common import peak_rss_mb
from shared.infra.database import migrate
from shared.settings import Settings
from shared.topics import REDEMPTION_EVENTS

APPEND = (
    "INSERT INTO outbox (event_id, topic, key, value, event_type) SELECT gen_random_uuid(), $1, 'M' || (g / 500),"
    " convert_to(repeat('x', 650), 'UTF8'), 'TicketExpired' FROM generate_series(1, $2) AS g"
)


async def main(rows: int) -> None:
    settings = Settings.from_env()
    schema = "relay_memory_" + uuid.uuid4().hex[:8]
    await migrate(settings.database_url, schema, Path(tempfile.mkdtemp()))
    conn = await asyncpg.connect(settings.database_url, server_settings={"search_path": schema})
    try:
        await conn.execute(APPEND, REDEMPTION_EVENTS, rows)
        started = time.perf_counter()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.infra.relay_process", schema, "--parent", str(os.getpid())
        )
        left = "SELECT rows FROM outbox_backlog()"
        while await conn.fetchval(left):  # noqa: ASYNC110 (the database polled: there is no event to wait on)
            await asyncio.sleep(0.2)
        took = time.perf_counter() - started
        peak = peak_rss_mb(child.pid)
        child.terminate()
        await child.wait()
        print(f"{rows:,} rows published in {took:,.1f} s; the relay child's peak (VmHWM) {peak:,.1f} MB")
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().rows))
