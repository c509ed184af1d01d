"""A consumer whose handler kills its own process on one message (`msg:die`), as a native crash or the kernel's
OOM killer would: `python -m tests.support.crashing_consumer <schema> <topic>` (real Kafka and Postgres)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from shared.clock import SystemClock
from shared.contracts.events import Outgoing
from shared.ids import content_id
from shared.infra.consumer import ConsumerRunner
from shared.infra.database import create_pool, migrate
from shared.infra.messages import Inbound, Parsed, Route, one_by_one
from shared.settings import Settings


def parse(record: Inbound) -> Parsed[str]:
    return Parsed(content_id(record.topic, record.value), record.value.decode())


async def handle(conn: asyncpg.Connection, parsed: Parsed[str], _record: Inbound) -> Sequence[Outgoing]:
    if parsed.body == "msg:die":
        os.kill(os.getpid(), signal.SIGKILL)
    await conn.execute("INSERT INTO handled (body) VALUES ($1)", parsed.body)
    return []


async def main(schema: str, topic: str) -> None:
    settings = Settings.from_env()
    migrations = Path(tempfile.mkdtemp())
    (migrations / "001_handled.sql").write_text("CREATE TABLE handled (body text NOT NULL);")
    await migrate(settings.database_url, schema, migrations)
    pool = await create_pool(settings.database_url, schema, min_size=1, max_size=2)
    route = Route(parse=parse, handle=one_by_one(handle))
    runner = ConsumerRunner(schema, schema, pool, settings.kafka_bootstrap, {topic: route}, SystemClock())
    await runner.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
