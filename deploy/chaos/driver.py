"""The fault driver: instance kills every few seconds and the one-off faults of the schedule, one fault at a time
(a broker restart with kills under it would test the driver's patience, not the platform), each recorded with
when it began and when its cause was over (the instance ready again, the server back, the process resumed)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from deploy.bench.common import ROOT
from deploy.chaos.instances import Instances
from deploy.chaos.schedule import (
    KAFKA,
    KILL,
    PAUSE,
    PAUSE_SECONDS,
    PG_FAST,
    PG_IMMEDIATE,
    PG_TERMINATE,
    Kill,
    Milestone,
)

log = logging.getLogger(__name__)

KAFKA_DOWN_SECONDS = 5
# Kafka 4.1.1's defect after a kill -9 (docs/operations.md): the group coordinator stays broken, and says so in its log
# within seconds of starting. The operator's documented cure is a graceful broker restart; the driver applies it and
# reports it, so that the run goes on to its verdict and the report shows the defect was met.
COORDINATOR_BROKEN = "No in-memory snapshot for epoch"
COORDINATOR_WATCH_SECONDS = 30.0
RESTART_GIVE_UP_SECONDS = 900.0  # a killed instance not ready again after this long: the run fails
# What a run that gives up on an instance quotes of the broker's log: how it loaded and published its metadata since its
# start, and whether it let the admin in (how the Kafka defect of docs/decisions.md, "A broker that refuses every
# principal", was first looked for).
BROKER_START_LINES = ("ERROR", "controller activation", "MetadataLoader", "MetadataPublisher", "ScramPublisher",
                      "BrokerLifecycleManager", "Kafka Server started", "accepted principal")  # fmt: skip
TERMINATE = """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"""


@dataclass
class Injected:
    kind: str
    target: str | None
    began: float  # time.monotonic()
    over: float  # the cause removed: from here on the platform has everything it needs to recover
    detail: str = ""


@dataclass
class Driver:
    instances: Instances
    infra_name: str
    database_url: str
    milestones: list[Milestone]
    kills: Iterator[Kill]
    progress: Callable[[], float]
    restart_give_up_s: float = RESTART_GIVE_UP_SECONDS
    injected: list[Injected] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _one_at_a_time: asyncio.Lock = field(default_factory=asyncio.Lock)

    def stop_killing(self) -> None:
        self._stop.set()

    async def killing(self) -> None:
        """Until stop_killing()."""
        for kill in self.kills:
            if await self._stopped_within(kill.after_seconds):
                return
            async with self._one_at_a_time:
                began = time.monotonic()
                self.instances.kill9(kill.target)
                await asyncio.sleep(0.5)  # a supervisor's restart delay
                detail = await self._restart(kill.target)
                self.injected.append(Injected(KILL, kill.target, began, time.monotonic(), detail))

    async def _restart(self, name: str) -> str:
        """Start the killed instance again until it is ready, as a supervisor would; what it took, for the report. A
        start can fail for a cause outside the instance (services.sh waits 30 s for it to join its consumer group, and
        a broker whose group coordinator did not come back answers no join: docs/operations.md). That must be seen in
        the report as a slow recovery, not end the run without a verdict (it did, once, after 100,000 orders)."""
        deadline = time.monotonic() + self.restart_give_up_s
        tries = 1
        while True:
            try:
                await self.instances.start(name)
                return f"ready after {tries} starts" if tries > 1 else ""
            except (RuntimeError, TimeoutError) as exc:  # it exited, or is still not ready
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready after {tries} starts:\n{self._broker_story()}") from exc
                log.warning("%s not ready after a restart (%s); starting it again", name, str(exc).splitlines()[-1])
                self.instances.kill9(name)  # one still waiting is stopped first: never two of it
            tries += 1

    async def milestones_all(self) -> None:
        """Every one-off fault, each once the stream has reached its point (all of them, even if the stream ends
        first: the last ones then meet the stream's tail and the settling)."""
        for milestone in self.milestones:
            while self.progress() < milestone.at:  # noqa: ASYNC110 (a counter the stream moves: polled)
                await asyncio.sleep(0.2)
            async with self._one_at_a_time:
                began = time.monotonic()
                detail = await self._inject(milestone)
                self.injected.append(Injected(milestone.kind, milestone.target, began, time.monotonic(), detail))
                if milestone.kind == KAFKA:
                    await self._cure_broken_coordinator(self.injected[-1])

    async def _inject(self, milestone: Milestone) -> str:
        if milestone.kind == KAFKA:
            await self._infra("kafka-restart", str(KAFKA_DOWN_SECONDS), "kill")
            return f"broker killed, down {KAFKA_DOWN_SECONDS} s"
        if milestone.kind in (PG_FAST, PG_IMMEDIATE):
            await self._infra("pg-restart", "fast" if milestone.kind == PG_FAST else "immediate")
            return ""
        if milestone.kind == PG_TERMINATE:
            conn = await asyncpg.connect(self.database_url)
            try:
                return f"{await conn.fetchval(TERMINATE)} backends terminated"
            finally:
                await conn.close()
        assert milestone.kind == PAUSE and milestone.target is not None
        pid = self.instances.pid(milestone.target)
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(PAUSE_SECONDS)
        finally:
            os.kill(pid, signal.SIGCONT)
        return f"stopped {PAUSE_SECONDS:.0f} s"

    async def _cure_broken_coordinator(self, kill: Injected) -> None:
        """The fault is over once the broker answers; if its coordinator came back broken, it is over again only
        after the graceful restart, and the report says so."""
        broker_log = self._broker_log()
        deadline = time.monotonic() + COORDINATOR_WATCH_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            if COORDINATOR_BROKEN in broker_log.read_text(errors="replace"):
                log.warning("the broker's group coordinator came back broken (Kafka defect); restarting it gracefully")
                await self._infra("kafka-restart", "2", "term")
                kill.over = time.monotonic()
                kill.detail += "; its group coordinator came back broken (Kafka 4.1.1 defect), restarted gracefully"
                return

    def _broker_log(self) -> Path:
        return ROOT / ".run" / self.infra_name / "logs" / "kafka.log"  # infra.sh starts a new one each start

    def _broker_story(self) -> str:
        return broker_story(self._broker_log())

    async def _infra(self, *args: str) -> str:
        """Run infra.sh; what it said."""
        env = {**os.environ, "INFRA_NAME": self.infra_name}
        process = await asyncio.create_subprocess_exec(
            "bash", str(ROOT / "deploy/local/infra.sh"), *args, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"infra.sh {' '.join(args)} failed:\n{output.decode()[-2000:]}")
        return output.decode(errors="replace")

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return False
        return True


def broker_story(broker_log: Path, lines: int = 40) -> str:
    """What the broker said since its start that explains a service it would not let in: its errors, how it loaded
    and published its metadata, and its refused handshakes counted (the log has a line for each)."""
    if not broker_log.is_file():
        return f"(no broker log at {broker_log})"
    said = broker_log.read_text(errors="replace").splitlines()
    events = [line[:240] for line in said if any(w in line for w in BROKER_START_LINES)]
    refusals = [line for line in said if "Failed authentication" in line]
    if refusals:
        events.append(f"... {len(refusals)} handshakes refused, the first at {when(refusals[0])}, the last at "
                      f"{when(refusals[-1])}: {refusals[-1][:240]}")  # fmt: skip
    return "\n".join(events[-lines:]) or f"(nothing about its start or refusals in {broker_log})"


def when(line: str) -> str:
    """The time a broker log line was written ("[2026-11-30T06:09:07,885] INFO ...")."""
    return line[1 : line.index("]")] if line.startswith("[") and "]" in line else "?"
