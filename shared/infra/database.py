"""Connection pools bound to one service schema, and the migration runner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TypeVar

import asyncpg

from shared.infra.faults import Backoff, is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")


class _TransientInOneLine(logging.Filter):
    """asyncpg's pool logs every failed attempt to restore its minimum size with a traceback, once a second per pool
    while the database is down or restarting: a transient cause is said in one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and is_transient(error):
            record.msg, record.args = f"{record.getMessage()}: {error!r}", None
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("asyncpg.pool").addFilter(_TransientInOneLine())

# Start-up waits for a database that is restarting, failing over or not up yet, however long it takes (an
# orchestrator may start the services first): a service that exits instead only gets restarted into the same wait.
STARTUP_FIRST_DELAY = 0.2
STARTUP_MAX_DELAY = 5.0
COMMAND_TIMEOUT_SECONDS = 60.0


async def create_pool(dsn: str, schema: str, *, min_size: int = 2, max_size: int = 8) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (search_path), so a service cannot read another's tables."""

    async def open_pool() -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            # A connection whose server vanished without a reset (a network partition, a failover that sends
            # nothing) would otherwise wait for ever; a statement cut off here is a TimeoutError, which the
            # consumer and the timers retry as transient. The slowest statement measured (an expiry batch of
            # 2,000 tickets) takes well under a second; 60 s only ever cuts a dead connection.
            command_timeout=COMMAND_TIMEOUT_SECONDS,
            # Returning a connection costs no round trip: asyncpg still rolls back an open transaction, but skips
            # its reset query (unlock all advisory locks, CLOSE ALL, UNLISTEN *, RESET ALL). Pool connections keep
            # no session state to undo: locks are transaction-scoped, settings are SET LOCAL, and LISTEN and the
            # relay's session lock live on connections of their own. Measured: 6% of a consumer's time in a flood
            # of small batches.
            reset=_nothing_to_reset,
            server_settings={
                "search_path": schema,
                "application_name": f"ecticket-{schema}",
                # Plan each statement for the table as it is now. asyncpg prepares every query, and after five runs
                # Postgres may switch to a generic plan kept for the connection's life: one chosen while a table
                # was still empty (a fresh deploy) scans the whole table once it holds a million rows (measured: an
                # expiry flood at half speed with Postgres on 1.4 cores). Planning costs well under a millisecond.
                "plan_cache_mode": "force_custom_plan",
                # A consumer commits its Kafka offsets once its transaction has committed, and never reads those
                # messages again: the commit must survive a Postgres crash or restart, whatever the server's
                # default says (the test servers run with synchronous_commit=off, where an immediate restart
                # forgets the last fraction of a second of commits). A transaction that may be lost says so
                # itself (SET LOCAL), like the relay's marks.
                "synchronous_commit": "on",
            },
        )
        assert pool is not None
        return pool

    # A pooled connection whose server went away (a restart, pg_terminate_backend) is noticed by asyncpg when the
    # socket closes and replaced at the next acquire; one that breaks mid-statement fails that statement (a
    # transient error its caller retries) and is terminated instead of going back to the pool.
    return await _until_reachable(f"pool for {schema}", open_pool)


async def _nothing_to_reset(_conn: asyncpg.Connection) -> None:
    return None


def migration_files(migrations_dir: Path) -> list[tuple[str, str]]:
    """The messaging tables every schema has (`shared/infra/sql`, named 000_*), then the service's own."""
    shared_sql = resources.files("shared.infra").joinpath("sql")
    files = sorted((f.name, f.read_text()) for f in shared_sql.iterdir() if f.name.endswith(".sql"))
    files += [(p.name, p.read_text()) for p in sorted(migrations_dir.glob("*.sql"))]
    return files


async def migrate(dsn: str, schema: str, migrations_dir: Path) -> list[str]:
    """Apply the service's pending migrations, once, even with several instances starting together.

    A connection lost on the way is retried from the start: each migration commits together with its row in
    schema_migrations, so a retry applies exactly the ones that did not commit.
    """
    return await _until_reachable(f"migrations of {schema}", lambda: _migrate_once(dsn, schema, migrations_dir))


async def _migrate_once(dsn: str, schema: str, migrations_dir: Path) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('ecticket-migrate'))")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        applied = []
        for name, sql in migration_files(migrations_dir):
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations(name) VALUES ($1)", name)
            applied.append(name)
            log.info("schema %s: applied %s", schema, name)
        await conn.execute("SELECT pg_advisory_unlock(hashtext('ecticket-migrate'))")
        return applied
    finally:
        # The lock is the session's: closing (or losing) the connection releases it too. A connection that broke
        # is terminated, so the error that broke it is the one raised, not a second one from closing it.
        if conn.is_closed():
            conn.terminate()
        else:
            await conn.close()


async def _until_reachable(what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()` until it does not fail transiently (database down, restarting, out of connections)."""
    backoff = Backoff(STARTUP_FIRST_DELAY, STARTUP_MAX_DELAY)
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if not is_transient(exc):
                raise  # a wrong password or database name: waiting would not help
            delay = backoff.next()
            log.warning("%s: database not reachable (%r); retrying in %.1fs", what, exc, delay)
        await asyncio.sleep(delay)
