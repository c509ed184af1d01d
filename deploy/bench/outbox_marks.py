"""What a relay's mark costs PostgreSQL per row, by the outbox's layout (docs/benchmarks.md, "Marking the outbox
published in place"; shared/infra/sql/000_messaging_007_outbox_hot_marks.sql).

For each layout, in a schema of its own: `--rows` rows of 600 bytes are written and checkpointed, then marked
published in batches of 2,000 with the relay's statement (`UPDATE ... FROM unnest(...)`, random 32-byte links), and
the wall time per row and how many updates were HOT are printed. The layouts: the partial index of unpublished rows
(as before this change), fillfactor 100 and 50 without it, the migrations' own (fillfactor 40), and, for comparison,
an insert of the marks into a narrow table of their own instead of an update. Run it against a running instance:

    source .run/dev/env && python -m deploy.bench.outbox_marks --rows 200000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time

import asyncpg

BATCH = 2000
TABLE = (
    "CREATE TABLE outbox (seq bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, topic text NOT NULL,"
    " key text NOT NULL, value bytea NOT NULL, event_type text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
    " published_at timestamptz, chain_seq bigint, chain_prev bytea, chain_link bytea) WITH (fillfactor = {fill})"
)
FILL = (
    "INSERT INTO outbox (event_id, topic, key, value, event_type) SELECT gen_random_uuid(), 'ecticket.redemption"
    ".events.v1', 'M1/T' || g, convert_to(repeat('x', 600), 'UTF8'), 'TicketExpired' FROM generate_series(1, $1) g"
)
MARK = (
    "UPDATE outbox o SET published_at = now(), chain_seq = u.chain_seq, chain_prev = u.chain_prev,"
    " chain_link = u.chain_link FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[])"
    " AS u(seq, chain_seq, chain_prev, chain_link) WHERE o.seq = u.seq"
)
NARROW = (
    "INSERT INTO marks (seq, chain_seq, chain_prev, chain_link)"
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[])"
)
LAYOUTS = {  # name: (fillfactor, partial index, marks into a narrow table)
    "partial index, fillfactor 100 (before)": (100, True, False),
    "no index over published_at, fillfactor 100": (100, False, False),
    "no index over published_at, fillfactor 50": (50, False, False),
    "no index over published_at, fillfactor 40 (the migrations')": (40, False, False),
    "a narrow table of marks instead (not chosen)": (100, True, True),
}


async def measure(conn: asyncpg.Connection, rows: int, fill: int, partial: bool, narrow: bool) -> str:
    await conn.execute("DROP SCHEMA IF EXISTS bench_outbox_marks CASCADE; CREATE SCHEMA bench_outbox_marks")
    await conn.execute("SET search_path = bench_outbox_marks")
    await conn.execute(TABLE.format(fill=fill))
    if partial:
        await conn.execute("CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL")
    await conn.execute("CREATE TABLE marks (seq bigint PRIMARY KEY, chain_seq bigint, chain_prev bytea,"
                       " chain_link bytea, published_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
    await conn.execute(FILL, rows)
    await conn.execute("VACUUM ANALYZE outbox")
    await conn.execute("CHECKPOINT")
    spent = 0.0
    for first in range(1, rows + 1, BATCH):
        seqs = list(range(first, min(first + BATCH, rows + 1)))
        links = [[secrets.token_bytes(32) for _ in seqs] for _ in range(2)]
        started = time.perf_counter()
        await conn.execute(NARROW if narrow else MARK, seqs, seqs, *links)  # a transaction each, as the relay's
        spent += time.perf_counter() - started
    per_row = spent * 1e6 / rows
    # The backend's counts reach the table's statistics when it flushes them (at most once a second): forced here.
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT 1")
    hot = await conn.fetchval("SELECT pg_stat_get_tuples_hot_updated('outbox'::regclass)")
    await conn.execute("DROP SCHEMA bench_outbox_marks CASCADE")
    return f"{per_row:5.1f} µs a row, HOT {hot:,} of {0 if narrow else rows:,}"


async def main(rows: int) -> None:
    conn = await asyncpg.connect(os.environ["DATABASE_URL"], server_settings={"synchronous_commit": "off"})
    try:
        for name, (fill, partial, narrow) in LAYOUTS.items():
            print(f"{name}: {await measure(conn, rows, fill, partial, narrow)}", flush=True)
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().rows))
