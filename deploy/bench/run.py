"""`make bench`: start the services on the bench instance (fsync on), measure, append to docs/benchmarks.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.bench import (
    audit,
    broker_warmup,
    door_rebalance,
    gateway,
    hostile,
    issuance,
    notifications,
    ops,
    pipeline,
    query,
    recovery,
    redemption,
    settlement,
    storage,
)
from deploy.bench.common import ROOT, Report, service_pids
from deploy.bench.profiling import Profiles
from deploy.bench.storage_report import StorageReport
from shared.infra.quotas import EXEMPT, LOAD_GENERATOR_CLIENT, Quota, apply_quotas
from shared.settings import Settings


def start_services(names: Sequence[str], instances: int = 1) -> None:
    """Start what a benchmark needs just before it runs (already running ones are left alone), so an earlier
    benchmark is not measured with services idling beside it that it does not use."""
    env = {**os.environ, "ECTICKET_SERVICES": " ".join(names), "ECTICKET_INSTANCES": str(instances)}
    subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "start"], check=True, env=env)


def command(only: str) -> str:
    return f"make bench BENCH_ARGS='--only {only}'"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", "20000")))
    parser.add_argument(
        "--only",
        choices=(
            "issuance",
            "redemption",
            "settlement",
            "hostile",
            "query",
            "gateway",
            "notifications",
            "recovery",
            "pipeline",
            "audit",
            "ops",
            "scale",
            "storage",
            "doors",
        ),
        help="run just this benchmark",
    )
    args = parser.parse_args()
    instance = os.environ.get("INFRA_NAME", "bench")
    settings = Settings.from_env()
    # The load generators measure the platform, not the admission limit for unidentified producers.
    asyncio.run(apply_quotas(settings.kafka_bootstrap, [Quota(LOAD_GENERATOR_CLIENT, EXEMPT)]))
    if broker_warmup.seconds() > 0:
        print(
            f"warming the broker for {broker_warmup.seconds():.0f} s (BENCH_WARMUP_SECONDS; deploy/bench/broker_warmup.py)"
        )
        records = asyncio.run(broker_warmup.warm(settings.kafka_bootstrap, broker_warmup.seconds()))
        print(f"  {records:,} records produced and read by {broker_warmup.GROUPS} groups")
    if args.only in (None, "issuance"):
        start_services(issuance.SERVICES)
        only = "--only issuance " if args.only else ""
        report = Report("Issuance: paid orders end to end", f"make bench BENCH_ARGS='{only}--orders {args.orders}'")
        print(f"benchmark: {args.orders} paid orders")
        asyncio.run(
            issuance.run(settings.kafka_bootstrap, settings.database_url, args.orders, report, service_pids(instance))
        )
        report.append_to_docs()
    if args.only in (None, "redemption"):
        # Alone too: issuance reads every request on the ingest topic as well, and on two cores its share of the
        # write-offs would be measured as redemption's.
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        start_services(redemption.SERVICES)
        report = Report("Redemption: write-offs and expiry", redemption.command(args.only))
        print(f"benchmark: redemption, {redemption.expiry_tickets():,} tickets to expire")
        asyncio.run(redemption.run(settings, report, instance, service_pids(instance)))
        report.append_to_docs()
    if args.only in (None, "settlement"):
        # Alone on the machine, from the end of its topics: it measures its own day of events.
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        asyncio.run(settlement.skip_backlog(settings))
        start_services(settlement.SERVICES, settlement.instances())
        report = Report("Escrow settlement: ledger events and a day's payout run", settlement.command())
        print(f"benchmark: settlement, a day of {settlement.day_orders():,} orders")
        asyncio.run(settlement.run(settings, report, service_pids(instance)))
        report.append_to_docs()
    if args.only in (None, "hostile"):
        # Alone: every service that reads an ingestion topic, and nothing else on the two cores.
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        start_services(hostile.SERVICES)
        report = Report("Hostile flood: unknown merchants and malformed messages", hostile.command(args.only))
        print(f"benchmark: hostile flood of {hostile.flood_size():,} messages")
        asyncio.run(hostile.run(settings, report, instance, service_pids(instance)))
        report.append_to_docs()
    if args.only in (None, "query"):
        # Alone but for what issues the orders it queries: their load is part of the Issue → query measure.
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        start_services(query.SERVICES)
        report = Report("Queries: latency under load, Issue → result, paging", query.command(args.only))
        print(f"benchmark: queries at {query.LOAD_RATE}/s, Issue → result, paging 10,000 tickets")
        asyncio.run(query.run(settings.kafka_bootstrap, report))
        report.append_to_docs()
    if args.only in (None, "doors"):
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        start_services(door_rebalance.SERVICES)
        report = Report("A new merchant door: what its rebalance costs the others", door_rebalance.command())
        print(f"benchmark: queries at {door_rebalance.RATE}/s while {door_rebalance.DOORS} merchant doors are opened")
        asyncio.run(door_rebalance.run(settings.kafka_bootstrap, report))
        report.append_to_docs()
    if args.only in (None, "gateway"):
        # Alone: redemption answers the write-offs, the gateway relays them over HTTP.
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        os.environ.update(gateway.ENVIRONMENT)
        start_services(gateway.SERVICES)
        report = Report("HTTP gateway: WriteOff over HTTP", gateway.command(args.only))
        url = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")
        print(f"benchmark: HTTP WriteOff at {gateway.BAR_RATE}/s and the maximum sustained rate, at {url}")
        asyncio.run(gateway.run(settings, url, report, instance, service_pids(instance)))
        report.append_to_docs()
    if args.only in (None, "notifications"):
        # Alone (last: its synthetic events stay on the topics): the notification service and the merchant
        # endpoints this process serves.
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        start_services(notifications.SERVICES)
        report = Report(
            "Notifications: event → delivered, 1,000 merchants with 10 % dead", notifications.command(args.only)
        )
        print("benchmark: notifications, event → delivered at 200/s, then 1,000 merchants with 10 % of endpoints dead")
        asyncio.run(notifications.run(settings, report))
        report.append_to_docs()
    if args.only in (None, "pipeline"):
        # Every service at once (the others stopped first, so the CPU table holds only what the pipeline uses).
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        start_services(pipeline.SERVICES)
        profiled = "PROFILE_DIR" in os.environ
        ran_by = "make profile" if profiled else pipeline.command(args.only)
        report = Report("The whole pipeline: paid order to escrow, write-off to release", ran_by)
        print(f"benchmark: the whole pipeline, a burst of {pipeline.BURST} paid orders, then their write-offs")
        profiles = Profiles(Path(os.environ["PROFILE_DIR"]), service_pids(instance)) if profiled else None
        asyncio.run(
            pipeline.run(
                settings.kafka_bootstrap, settings.database_url, report, instance, service_pids(instance), profiles
            )
        )
        print("benchmark: the auditors' replay of the pipeline's log, reconciled with the services' databases")
        audit.reconciled(report)
        if profiles:
            print("flame graphs of the measured burst:", *(str(p) for p in sorted(profiles.folder.glob("*.svg"))))
        report.append_to_docs()
    if args.only in (None, "scale"):
        # The issuance benchmark's burst with one, then two instances of each service it uses (issue 15).
        rates = []
        for count in (1, 2):
            subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
            start_services(issuance.SERVICES, instances=count)
            report = Report(f"Scale-out: paid orders end to end, {count} instance(s) of each service", command("scale"))
            print(f"benchmark: {args.orders} paid orders, {count} instance(s) of each service")
            pids = service_pids(instance)
            rates.append(asyncio.run(issuance.end_to_end(settings.kafka_bootstrap, args.orders, report, lambda: {})))
            report.add("processes running", ", ".join(sorted(pids)))
            if count == 2:
                report.add("throughput with two instances / with one", f"{rates[1] / rates[0]:.2f}")
            report.append_to_docs()
    if args.only in (None, "recovery"):
        # Alone: this benchmark starts and kills its own issuance process.
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        report = Report("Recovery after kill -9 of a consumer", recovery.command(args.only))
        print(f"benchmark: kill -9 of issuance under {recovery.RATE} requests/s, static and dynamic membership")
        asyncio.run(recovery.run(settings.kafka_bootstrap, report))
        report.append_to_docs()
    if args.only in (None, "audit"):
        # No service: the history is generated with their pure code and published by relays in this process.
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        report = Report("Audit: replaying the log", audit.command(audit.orders_default()))
        print(f"benchmark: audit, {audit.orders_default():,} generated orders")
        asyncio.run(audit.run(settings, report, audit.orders_default()))
        report.append_to_docs()
    if args.only in (None, "ops"):
        # Alone: the ops app starts itself (a consumer group of its own) and folds only what this benchmark publishes.
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        report = Report("Ops app: events folded per second, event → page latency", ops.command(args.only))
        print(f"benchmark: ops app, {ops.EVENTS:,} events, then {ops.PROBES} probes under {ops.LOAD_RATE:,} events/s")
        asyncio.run(ops.run(settings, report))
        report.append_to_docs()
    if args.only == "storage":
        # Only on request (an hour at the default million orders): the paid path's services, restarted with a
        # retention of minutes so that the run shows the inbox and outbox levelling off (issue 15).
        subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
        os.environ.update(storage.environment())
        start_services(storage.SERVICES)
        report = StorageReport("Bounded storage: inbox, outbox and domain tables over a long run", storage.command())
        print(f"benchmark: storage, {storage.orders():,} paid orders at {storage.rate():,.0f}/s")
        asyncio.run(storage.run(settings, report, service_pids(instance)))
        report.append_to_docs()
    print("results appended to docs/benchmarks.md")


if __name__ == "__main__":
    main()
