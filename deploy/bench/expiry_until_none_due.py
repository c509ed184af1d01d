"""Expiry of N due tickets, timed until none of them is due, with each process's CPU per ticket: the driver behind
docs/benchmarks.md, "Expiry with one event per order and batch, and with its UPDATE made HOT…" (issue 17).

Unlike `deploy.bench.expiry_cpu`, which counts TicketExpired rows in the outbox, this waits on the tickets, so it
also measures the two throwaway redesigns in deploy/bench/expiry_redesign_patches/ (not part of the platform, kept to
reproduce those numbers; they applied to the code of 2026-12-01): `batched_events.patch` joins an expiry batch's
events into one outbox row per order (switch `X_BATCH_EVENTS=1`), `due_apart.patch` keeps the due times in a table
of their own so the tickets' UPDATE can be HOT (switch `X_DUE=1`, which needs the table below and, to be HOT in a
flood, a fillfactor on `tickets`). Prints one line; appends nothing.

    export INFRA_NAME=xb KAFKA_PORT=31192 PG_PORT=31532
    bash deploy/local/infra.sh up && source .run/xb/env && .venv/bin/python -m shared.setup --seed
    git apply deploy/bench/expiry_redesign_patches/batched_events.patch     # and/or due_apart.patch
    psql "$DATABASE_URL" -c "CREATE TABLE redemption.x_due (merchant_id text NOT NULL, due_at timestamptz NOT NULL,
      ticket_no text PRIMARY KEY); CREATE INDEX ON redemption.x_due (merchant_id, due_at);
      GRANT ALL ON redemption.x_due TO PUBLIC"                            # for X_DUE only
    for switch in X_BATCH_EVENTS=1 X_BATCH_EVENTS=; do                     # alternate, with INFRA_NAME exported
      ECTICKET_SERVICES=redemption bash deploy/local/services.sh stop
      env $switch ECTICKET_SERVICES=redemption bash deploy/local/services.sh start
      env $switch .venv/bin/python -m deploy.bench.expiry_until_none_due --tickets 300000
    done
    git checkout services/; bash deploy/local/services.sh stop; bash deploy/local/infra.sh down
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta

from deploy.bench.common import Report, service_pids
from deploy.bench.cpu_share import TICKS
from deploy.bench.expiry_cpu import cpu_ticks, tickets_main
from deploy.bench.redemption import opened_pos, seed_due
from deploy.bench.redemption_support import wait_published
from shared.admin.clocks import advance_clock, reset_clock
from shared.settings import Settings

DUE_IN_TICKETS = "SELECT count(*) FROM redemption.tickets WHERE merchant_id = $1 AND due_at IS NOT NULL"
DUE_APART = "SELECT count(*) FROM redemption.x_due WHERE merchant_id = $1"  # due_apart.patch's queue


async def run(tickets: int) -> None:
    instance = os.environ.get("INFRA_NAME", "dev")
    pids = service_pids(instance)
    due = DUE_APART if os.environ.get("X_DUE") else DUE_IN_TICKETS
    async with opened_pos(Settings.from_env(), "write-offs") as pos:
        merchant = await seed_due(pos, tickets, Report("expiry until none due", "deploy.bench.expiry_until_none_due"))
        await wait_published(pos.pool, 600)
        await pos.pool.execute("VACUUM ANALYZE redemption.tickets")
        if await pos.pool.fetchval(due, merchant) != tickets:
            raise SystemExit(f"not {tickets:,} due tickets: is the service running with the switches given here?")
        before, started = cpu_ticks(instance, pids), time.perf_counter()
        await advance_clock(pos.settings, merchant, timedelta(days=92))  # past every escrow end and ExpireDate
        while await pos.pool.fetchval(due, merchant):  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.25)
        committed = time.perf_counter()
        await wait_published(pos.pool, 600)
        published, after = time.perf_counter(), cpu_ticks(instance, pids)
        await reset_clock(pos.settings, merchant)
    cpu = {name: (after[name] - before[name]) / TICKS * 1e6 / tickets for name in after}
    switches = " ".join(f"{k}={os.environ.get(k, '')!r}" for k in ("X_BATCH_EVENTS", "X_DUE"))
    print(
        f"{switches} committed {tickets / (committed - started):,.0f} tickets/s; published "
        f"{tickets / (published - started):,.0f}/s; µs CPU per ticket: "
        + ", ".join(f"{name} {us:.0f}" for name, us in cpu.items())
        + f", all {sum(cpu.values()):.0f}"
    )


def main() -> None:
    tickets_main(__doc__, run)


if __name__ == "__main__":
    main()
