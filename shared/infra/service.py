"""Wires one service process: schema migrations, merchant directory, consumer runner, outbox relay, timers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from shared.access import require_reads
from shared.clock import Clock, SystemClock
from shared.ecticket.authentication import MerchantDirectory
from shared.infra import logs, metrics, relay_process, retention
from shared.infra.compacted import CompactedView
from shared.infra.consumer import ConsumerRunner
from shared.infra.database import create_pool, migrate
from shared.infra.kafka_auth import adopt_principal, current_principal
from shared.infra.kafka_ready import wait_for_kafka
from shared.infra.messages import Route
from shared.infra.redrive import redrive_step
from shared.infra.sandbox_clocks import ClockOffset, SandboxClocks
from shared.infra.timers import every
from shared.merchants.model import Merchant, merchant_parser
from shared.settings import Settings
from shared.topics import MERCHANT_CONFIG, TEST_CLOCKS

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What handlers and timers of a service may use."""

    name: str
    schema: str
    settings: Settings
    pool: asyncpg.Pool
    clock: Clock
    merchants: MerchantDirectory
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # The sandbox test clocks behind `clock` (schedulers ask it which merchants run ahead).
    sandbox_clocks: SandboxClocks | None = None
    merchant_view: CompactedView[Merchant] | None = None  # behind `merchants`, stopped with the service


@dataclass
class Wiring:
    """What a service plugs into the shell: its routes, its timers, and what to close on the way out."""

    routes: Mapping[str, Route[Any]]
    # Long-running loops besides the consumer (deadline sweepers, schedulers); they watch runtime.stopping.
    timers: list[Coroutine[Any, Any, None]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    schema: str
    migrations: Path
    wire: Callable[[Runtime], Awaitable[Wiring]]


async def start_runtime(spec: ServiceSpec, settings: Settings) -> Runtime:
    await migrate(settings.database_url, spec.schema, spec.migrations)
    pool = await create_pool(settings.database_url, spec.schema)
    log.info("%s: database pool open", spec.name)
    await wait_for_kafka(settings.kafka_bootstrap)
    view = CompactedView(
        settings.kafka_bootstrap,
        MERCHANT_CONFIG,
        merchant_parser(settings.config_key_hex, *settings.previous_config_keys_hex),
    )
    offsets = CompactedView(settings.kafka_bootstrap, TEST_CLOCKS, ClockOffset.model_validate_json)
    await asyncio.gather(view.start(), offsets.start())
    log.info("%s: merchant and test-clock views current; joining the consumer group", spec.name)
    # One clock port for every service: real time, shifted per sandbox merchant by its test clock.
    clocks = SandboxClocks(offsets, view)
    clock = SystemClock(offsets=clocks.offset)
    return Runtime(
        spec.name,
        spec.schema,
        settings,
        pool,
        clock,
        MerchantDirectory(view),
        sandbox_clocks=clocks,
        merchant_view=view,
    )


async def serve(spec: ServiceSpec, settings: Settings | None = None) -> None:
    """Run until SIGTERM/SIGINT, then finish the batch in hand, commit, and stop."""
    runtime = await start_runtime(spec, settings or Settings.from_env())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.stopping.set)
    wiring = await spec.wire(runtime)
    _freeze_what_startup_made()
    require_reads(current_principal(), set(wiring.routes))
    metrics.serve(spec.name)
    probe = metrics.Probe(spec.name, spec.schema, runtime.pool)
    runner = ConsumerRunner(
        name=spec.name,
        schema=spec.schema,
        pool=runtime.pool,
        bootstrap=runtime.settings.kafka_bootstrap,
        routes=wiring.routes,
        clock=runtime.clock,
        stopping=runtime.stopping,
    )
    relay = relay_process.supervise(spec.schema, runtime.settings, runtime.stopping)
    redrives = every(1.0, lambda: redrive_step(runner), runtime.stopping, "dead-letter re-drive")
    probes = every(metrics.PROBE_SECONDS, probe.step, runtime.stopping, "metrics probe")
    keep, keep_outbox = retention.retention(), retention.outbox_retention()
    prunes = every(
        retention.PRUNE_EVERY_SECONDS,
        lambda: retention.prune_step(runtime.pool, keep, runtime.clock.now(), keep_outbox),
        runtime.stopping,
        "inbox and outbox pruning",
    )
    # A process that consumes no topic (the payment-processor simulator only serves HTTP, started by its wire())
    # joins no consumer group: it is ready once wired, and runs its relay and timers only.
    consuming = [runner.run()] if wiring.routes else []
    if not wiring.routes:
        runner.ready.set()
    loops = (*consuming, relay, redrives, probes, prunes, *wiring.timers)
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(c) for c in loops]
    announcer = asyncio.create_task(_announce_ready(spec.name, runner.ready))
    try:
        # Any loop ending on its own is a failure (they run until stopping): stop the process loudly.
        done, _ = await asyncio.wait(
            [*tasks, asyncio.create_task(runtime.stopping.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            if task in tasks and task.exception() is not None:
                raise RuntimeError(f"{spec.name}: a loop crashed") from task.exception()
    finally:
        announcer.cancel()
        runtime.stopping.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 15)
        for close in wiring.closers:
            await close()
        if runtime.merchant_view is not None:
            await runtime.merchant_view.stop()
        if runtime.sandbox_clocks is not None:
            await runtime.sandbox_clocks.stop()
        await runtime.pool.close()
        log.info("%s stopped", spec.name)


async def _announce_ready(name: str, ready: asyncio.Event) -> None:
    """Log readiness and touch ECTICKET_READY_FILE (the local scripts and tests wait for it)."""
    await ready.wait()
    log.info("%s ready", name)
    marker = os.environ.get("ECTICKET_READY_FILE")
    if marker:
        await asyncio.to_thread(Path(marker).touch)


def _freeze_what_startup_made() -> None:
    """Leave what start-up made (modules, models, views: some 70,000 objects that live as long as the process) out
    of the garbage collector's full passes. Each full pass scanned them all: 30-95 ms with the event loop stopped, a
    few times a minute under load, which was the gateway's p99 (docs/decisions.md, "Latency between the hops")."""
    gc.collect()
    gc.freeze()


def main(spec: ServiceSpec) -> None:
    logs.configure()
    # Every Kafka client of the process (and of its relay child) authenticates as the service (shared/access.py):
    # its principal is its schema's name, as in shared/platform.py.
    adopt_principal(spec.schema)
    asyncio.run(serve(spec))
