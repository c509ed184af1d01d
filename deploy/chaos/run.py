"""One chaos run: the run's merchants registered, the stream and the fault driver side by side, the platform left
to settle, then every check; the result as a dict (report.summary)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from deploy.chaos import checks, merchants, plans, report, schedule, state
from deploy.chaos.driver import RESTART_GIVE_UP_SECONDS, Driver
from deploy.chaos.instances import Instances
from deploy.chaos.observer import Observer
from deploy.chaos.quiet import quiet
from deploy.chaos.stream import Stream
from shared.settings import Settings

MERCHANTS = 6  # requests are keyed by merchant: six spread the stream over the ingestion topic's partitions
SETTLE_SECONDS = 180.0
LATE_DUPLICATE_SECONDS = 3.0  # after everything arrived: time for a duplicate to show, had there been one


@dataclass(frozen=True)
class Options:
    orders: int
    seed: int
    infra_name: str
    kill_every: float = 4.0
    shared_instance: bool = False  # other tests' records share the topics and tables: judge the run's own only
    restart_give_up_s: float = RESTART_GIVE_UP_SECONDS  # an instance not ready again after this long ends the run


async def chaos(settings: Settings, instances: Instances, options: Options) -> dict[str, Any]:
    began, t0 = datetime.now(UTC), time.monotonic()
    regular = await merchants.register(settings, MERCHANTS)
    expiring = await merchants.register(settings, len(plans.EXPIRY_WAVES))
    everyone = regular + expiring
    await asyncio.sleep(3)  # the services' views of the merchant and product topics catch up
    observer = Observer(settings.kafka_bootstrap, set(everyone))
    await observer.start()
    try:
        orders = plans.orders(options.seed, options.orders, uuid.uuid4().hex[:6].upper(), regular, expiring)
        stream = Stream(settings, observer, orders, expiring)
        targets = instances.names()
        driver = Driver(instances, options.infra_name, settings.database_url,
                        schedule.milestones(options.seed, targets), schedule.kills(options.seed, targets,
                        options.kill_every), stream.progress, options.restart_give_up_s)  # fmt: skip
        killing = asyncio.create_task(driver.killing())
        try:
            await asyncio.gather(stream.run(), driver.milestones_all())
        finally:
            driver.stop_killing()
            await killing
        await settle(observer, stream)
        seconds = time.monotonic() - t0
        drained = await quiet(settings.kafka_bootstrap, settings.database_url, SETTLE_SECONDS)
        found = checks.stream_checks(orders, stream.sent, observer.seen)
    finally:
        await observer.stop()
    since = began - timedelta(minutes=1) if options.shared_instance else None
    verifier = await state.replay(settings, everyone, since)
    found += state.audit_checks(verifier, orders, with_chain=not options.shared_instance)
    found += await state.database_checks(settings, verifier, orders, everyone, began)
    if not options.shared_instance:
        found.append(await state.settlement_check())
    found.append(checkouts(stream.checkout_failures, len(orders)))
    run = {"orders": options.orders, "seed": options.seed, "seconds": round(seconds, 1),
           "kill_every_s": options.kill_every,
           "quiet_after_s": round(drained.seconds, 1), "busy": drained.busy, "instances": targets, "resends": stream.resends,
           "clocks_moved": stream.clocks_moved, "stories": dict(Counter(o.story for o in orders)),
           "stuck": dict(Counter(o.stuck for o in orders if o.stuck)),
           "refused_then_granted_on_retry": sum(o.refused for o in orders)}  # fmt: skip
    return report.summary(run, driver.injected, stream.sent, observer.seen, found)


async def settle(observer: Observer, stream: Stream) -> None:
    """Until every request is answered and every ticket's events are in (or SETTLE_SECONDS), then a little
    longer for a late duplicate."""
    seen = observer.seen

    def done() -> bool:
        if any(not seen.replies.get(s.request_id) for s in stream.sent):
            return False
        return all(
            set(seen.ticket_events.get(o.ticket_no, {}).values()) >= set(o.expected()[1])
            for o in stream.orders
            if o.ticket_no and not o.stuck
        )

    await observer.until(done, SETTLE_SECONDS)
    await asyncio.sleep(LATE_DUPLICATE_SECONDS)


def checkouts(failures: list[str], orders: int) -> checks.Check:
    check = checks.Check("checkouts accepted by the processor", checked=orders)
    for failure in failures:
        check.note(failure, wrong=True)
    return check
