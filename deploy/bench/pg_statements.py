"""Where PostgreSQL's time goes per paid order, by kind of statement (issue 17): a warm-up burst of paid orders,
then pg_stat_statements reset, a measured burst, and its top-level statements' execution time grouped by kind.

Needs an instance whose PostgreSQL loads pg_stat_statements, and the pipeline's services running on it:

    export INFRA_NAME=pgss KAFKA_PORT=29692 PG_PORT=29832
    PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \\
      bash deploy/local/infra.sh up && source .run/pgss/env && .venv/bin/python -m shared.setup --seed
    psql "$DATABASE_URL" -c "CREATE EXTENSION pg_stat_statements"
    ECTICKET_SERVICES="payment_processor payment_confirmation issuance redemption escrow_settlement escrow_bank" \\
      bash deploy/local/services.sh start
    .venv/bin/python -m deploy.bench.pg_statements
    bash deploy/local/services.sh stop; bash deploy/local/infra.sh down

Execution time is the statements' own (a nested statement, such as a trigger's, is in its caller's): waits for
locks and disk are in it, the commit's flush is not. Printed, not appended to docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from deploy.bench.common import load_producer
from deploy.bench.issuance import checkouts, send_orders
from deploy.bench.pipeline import BURST, Rounds, Watcher
from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings

KINDS = """
SELECT round(sum(total_exec_time)::numeric / $1 * 1000) AS us, sum(calls) AS calls,
  CASE WHEN query LIKE 'INSERT INTO outbox %' THEN 'outbox: the services write their events'
       WHEN query LIKE 'WITH done AS (DELETE FROM outbox_chain_pending%' THEN 'outbox: the relays mark rows published, with their chain links'
       WHEN query LIKE '%FROM outbox WHERE published_at IS NULL%' OR query LIKE '%FROM outbox WHERE seq = ANY%'
            THEN 'outbox: the relays read'
       WHEN query LIKE 'INSERT INTO inbox%' THEN 'inbox: a row per message applied'
       WHEN query LIKE 'INSERT INTO postings%' THEN 'ledger postings, with their triggers (balances, foreign keys)'
       ELSE 'everything else' END AS kind
FROM pg_stat_statements WHERE toplevel GROUP BY kind ORDER BY us DESC
"""
TOP = "SELECT total_exec_time, calls, rows, query FROM pg_stat_statements WHERE toplevel ORDER BY 1 DESC LIMIT 15"


async def main() -> None:
    settings = Settings.from_env()
    producer = await load_producer(settings.kafka_bootstrap, linger_ms=5)
    watcher = Watcher(settings.kafka_bootstrap)
    await watcher.start()
    bench = Rounds(MerchantClient(producer), watcher, "", {})
    conn = await asyncpg.connect(settings.database_url)
    try:
        for prefix in ("SW", "SM"):  # a warm-up burst, then the measured one
            burst = bench.names(prefix, BURST)
            paid = await checkouts(burst)
            if prefix == "SM":
                await conn.execute("SELECT pg_stat_statements_reset()")
            t0 = time.perf_counter()
            await send_orders(bench.client, burst, None, {}, paid)
            await watcher.until(lambda: all(watcher.seen.through(t) for t in burst), 600, "the burst")  # noqa: B023
            print(
                f"{'measured' if prefix == 'SM' else 'warm-up'} burst: {BURST / (time.perf_counter() - t0):,.0f} orders/s"
            )
        print("\nPostgreSQL per paid order, by kind of statement (µs of execution, calls in the burst):")
        for row in await conn.fetch(KINDS, BURST):
            print(f"  {row['us']:>6} µs  {row['calls']:>7,}  {row['kind']}")
        print("\nThe top statements (µs per paid order, rows per order):")
        for row in await conn.fetch(TOP):
            query = " ".join(row["query"].split())[:110]
            print(f"  {row['total_exec_time'] / BURST * 1000:7.1f}  {row['rows'] / BURST:5.2f}  {query}")
    finally:
        await conn.close()
        await watcher.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main())
