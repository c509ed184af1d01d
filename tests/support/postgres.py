"""Database faults for tests: restart the test PostgreSQL (fast or immediate), or terminate the services' sessions.

The server is the one `deploy/local/infra.sh up` started (what `make test` uses); the instance is found by the port
in DATABASE_URL, and restarted through `infra.sh pg-restart`, which runs pg_ctl as the `postgres` OS user with the
options the server was started with.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "local" / "infra.sh"
# Every service pool and relay names its sessions ecticket-<schema>[-relay] (shared/infra/database.py, relay.py).
SERVICE_SESSIONS = "ecticket-%"

RestartMode = Literal["fast", "immediate"]


def local_instance(database_url: str) -> str | None:
    """The infra.sh instance (INFRA_NAME) serving `database_url`, or None (e.g. a testcontainers database)."""
    port = str(urlsplit(database_url).port or 5432)
    for recorded in sorted((ROOT / ".run").glob("*/instance")):
        if f"PG_PORT={port}" in recorded.read_text().splitlines():
            return recorded.parent.name
    return None


async def restart_postgres(database_url: str, mode: RestartMode) -> float:
    """`pg_ctl -m MODE restart` on the instance serving `database_url`; seconds until it accepted connections."""
    instance = local_instance(database_url)
    if instance is None:
        raise RuntimeError(f"no deploy/local/infra.sh instance serves {database_url}")
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        "bash",
        str(INFRA),
        "pg-restart",
        mode,
        env={**os.environ, "INFRA_NAME": instance},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"pg-restart {mode} failed ({process.returncode}): {errors.decode(errors='replace')}")
    return time.monotonic() - started


async def terminate_service_sessions(database_url: str) -> int:
    """pg_terminate_backend every session of the services (pools and relays); how many there were."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name LIKE $1 AND pid <> pg_backend_pid()",
                SERVICE_SESSIONS,
            )
        )
    finally:
        await conn.close()


async def until_reachable(database_url: str, seconds: float = 30) -> None:
    """Wait until the server accepts a session and answers a query (after a restart)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            conn = await asyncpg.connect(database_url)
            try:
                await conn.fetchval("SELECT 1")
                return
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def drop_schema(database_url: str, schema: str) -> None:
    """Drop a test's own schema when it is done. A schema left behind keeps outbox rows no relay will ever publish,
    and the chaos test (run last, on the same database) waits for every outbox to drain before judging: it then
    waited its whole three minutes for them (deploy/chaos/quiet.py)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


# The schemas tests make for themselves, each named by a prefix and eight hex digits (and, for the audit tests'
# copies of the services' schemas, the service): never a platform schema.
TEST_SCHEMAS = r"^(messaging|runner|crashloop|startup|bank_test|inputs|audit|resume)_[0-9a-f]{8}(_[a-z_]+)?$"


async def drop_test_schemas(database_url: str) -> list[str]:
    """Drop every schema a test made and left (infra.sh keeps the database from one run to the next, and a test
    that died before its teardown leaves its own): what was dropped."""
    conn = await asyncpg.connect(database_url)
    try:
        names = [r[0] for r in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname ~ $1", TEST_SCHEMAS)]
        for name in names:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        return names
    finally:
        await conn.close()


async def transaction_counter(database_url: str) -> int:
    """The 32-bit transaction id the next write gets, as a row's xmin shows it (a test database never wraps it)."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT txid_current() % 4294967296"))
    finally:
        await conn.close()
