"""What the agents, timers and web routes share: the database pool, the polled lag and outbox backlogs, and the
dashboard's reads of the tables."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import faust

from services.ops import store
from services.ops.config import OpsConfig
from services.ops.consumer_lag import ConsumerLag
from services.ops.domain import views
from services.ops.handlers import Live
from shared.infra import metrics
from shared.infra.chain import Checkpointer
from shared.infra.database import create_pool, migrate
from shared.infra.relay import OutboxRelay

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0
MIGRATIONS = Path(__file__).parent / "migrations"


class OpsRuntime:
    def __init__(self, config: OpsConfig, live: Live) -> None:
        self.config, self.live = config, live
        self.lag: dict[str, dict[str, int]] = {}
        self.outboxes: dict[str, dict[str, Any]] = {}
        self.stopping = asyncio.Event()
        self._pool: asyncpg.Pool | None = None
        self._lag_reader: ConsumerLag | None = None
        self._states: list[Any] = []
        self._orders: Any = None
        self._app: Any = None

    async def pool(self) -> asyncpg.Pool:
        """Opened at first use: the counters need no database, only dead letters and the outbox poll do."""
        if self._pool is None:
            await migrate(self.config.settings.database_url, store.SCHEMA, MIGRATIONS)
            pool = await create_pool(self.config.settings.database_url, store.SCHEMA, min_size=1, max_size=3)
            if self._pool is None:
                self._pool = pool
            else:
                await pool.close()
        return self._pool

    def attach(self, app: faust.App, *, states: list[Any], orders: Any) -> None:
        self._states, self._orders = states, orders
        app.timer(POLL_SECONDS)(self._polling(self._poll_lag, "consumer lag"))
        app.timer(POLL_SECONDS)(self._polling(self._poll_outboxes, "outbox backlogs"))
        app.task(self._relay)
        app.task(self._announce_ready)
        self._app = app
        app.on_before_shutdown.connect(self._close)  # type: ignore[arg-type]  # mode types the handler narrowly

    async def _announce_ready(self) -> None:
        """Touch ECTICKET_READY_FILE once the tables are recovered (the local scripts and tests wait for it)."""
        await self._app.tables.recovery.completed.wait()
        marker = os.environ.get("ECTICKET_READY_FILE")
        if marker:
            await asyncio.to_thread(Path(marker).touch)
        log.info("ops ready: http://%s:%d/", self.config.web_host, self.config.web_port)

    async def _poll_lag(self) -> None:
        if self._lag_reader is None:
            reader = ConsumerLag(self.config.settings.kafka_bootstrap, self.config.groups)
            await reader.start()
            self._lag_reader = reader
        lag = await self._lag_reader.read()
        for group, value in lag.items():
            metrics.CONSUMER_LAG.labels(group).set(value["lag"])
        if lag != self.lag:
            self.lag = lag
            self.live.bump()

    async def _poll_outboxes(self) -> None:
        outboxes = await store.outbox_backlogs(await self.pool(), self.config.schemas)
        if outboxes != self.outboxes:
            self.outboxes = outboxes
            self.live.bump()

    def _polling(self, poll: Callable[[], Awaitable[None]], what: str) -> Callable[[], Awaitable[None]]:
        """A poll that fails (the database or the broker away) is logged and tried again at the next tick: a faust
        timer whose function raises stops for good, and the dashboard would keep showing stale numbers."""

        async def step() -> None:
            try:
                await poll()
            except Exception as exc:
                log.warning("ops: reading %s failed (%r); trying again in %.0f s", what, exc, POLL_SECONDS)

        step.__name__ = step.__qualname__ = f"poll_{what.replace(' ', '_')}"  # faust names its timers after them
        return step

    async def _relay(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.pool()  # the ops schema (and its outbox) exists before the relay reads it
                break
            except Exception as exc:
                log.warning("ops: the database is not reachable (%r); the relay waits for it", exc)
                await asyncio.sleep(POLL_SECONDS)
        # In this process, not in a child of its own as the platform services' relays are (relay_process.py): the
        # ops outbox holds only the MessageRejected of a poison event, too little to take CPU from the tables, and a
        # child (an interpreter with asyncpg and aiokafka) was some 40 MB of the dashboard's memory (issue 17).
        settings = self.config.settings
        checkpointer = Checkpointer.from_settings(settings)
        await OutboxRelay(
            store.SCHEMA, settings.database_url, settings.kafka_bootstrap, checkpointer, stopping=self.stopping
        ).run()

    async def _close(self, _app: Any, *_: Any, signal: Any = None, **__: Any) -> None:
        self.stopping.set()
        self.live.bump()  # wakes the open live streams (each waits up to 15 s for a change) to see `stopping` and end
        if self._lag_reader is not None:
            with contextlib.suppress(Exception):
                await self._lag_reader.stop()
        if self._pool is not None:
            await self._pool.close()

    # The dashboard's reads (the tables are in memory: these are dictionary reads, no I/O).

    def merged(self) -> dict[str, Any]:
        return views.merge(value for table in self._states for value in table.values() if value)

    def summary(self) -> dict[str, Any]:
        merged = self.merged()
        return {
            **views.scope_view(merged),
            "rates": views.series(merged["rates"], int(time.time()) // 60),
            "notices": merged["notices"],
            "dead_letters": list(merged["open_letters"].values())[:50],
            "merchants": views.merchants(merged)[:100],
            "lag": self.lag,
            "outboxes": self.outboxes,
            "version": self.live.version,
        }

    def merchant(self, merchant_id: str) -> dict[str, Any] | None:
        merged = self.merged()
        if merchant_id not in merged["counters"]:
            return None
        prefix = f"{merchant_id}/"
        orders = [o for key, o in self._orders.items() if key.startswith(prefix) and o]
        orders.sort(key=lambda o: o["events"][-1]["at"] if o["events"] else "", reverse=True)
        recent = [
            {"trade_no": o["trade_no"], "waiting": o["waiting"], "last": o["events"][-1]}
            for o in orders[:50]
            if o["events"]
        ]
        return {"merchant_id": merchant_id, **views.scope_view(merged, merchant_id), "orders": recent}

    def orders(self, trade_no: str, merchant_id: str | None = None) -> list[dict[str, Any]]:
        """Every order with this number (each merchant numbers its own), with its full timeline."""
        if merchant_id:
            found = self._orders.get(f"{merchant_id}/{trade_no}")
            return [found] if found else []
        suffix = f"/{trade_no}"
        return [o for key, o in self._orders.items() if key.endswith(suffix) and o]
