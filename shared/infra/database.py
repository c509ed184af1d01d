"""Connection pools bound to one service schema, and the migration runner."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)


async def create_pool(dsn: str, schema: str, *, min_size: int = 2, max_size: int = 8) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (search_path), so a service cannot read another's tables."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={
            "search_path": schema,
            "application_name": f"ecticket-{schema}",
            # Plan each statement for the table as it is now. asyncpg prepares every query, and after five runs
            # Postgres may switch to a generic plan kept for the connection's life: one chosen while a table was
            # still empty (a fresh deploy) scans the whole table once it holds a million rows (measured: an
            # expiry flood at half speed with Postgres on 1.4 cores). Planning costs well under a millisecond.
            "plan_cache_mode": "force_custom_plan",
        },
    )
    assert pool is not None
    return pool


def _migration_files(migrations_dir: Path) -> list[tuple[str, str]]:
    """The messaging tables every schema has (`shared/infra/sql`, named 000_*), then the service's own."""
    shared_sql = resources.files("shared.infra").joinpath("sql")
    files = sorted((f.name, f.read_text()) for f in shared_sql.iterdir() if f.name.endswith(".sql"))
    files += [(p.name, p.read_text()) for p in sorted(migrations_dir.glob("*.sql"))]
    return files


async def migrate(dsn: str, schema: str, migrations_dir: Path) -> list[str]:
    """Apply the service's pending migrations, once, even with several instances starting together."""
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
        for name, sql in _migration_files(migrations_dir):
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations(name) VALUES ($1)", name)
            applied.append(name)
            log.info("schema %s: applied %s", schema, name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext('ecticket-migrate'))")
        await conn.close()
