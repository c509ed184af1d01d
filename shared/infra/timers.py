"""Running a periodic step (expiry sweeps, deadline sweeps, payout runs) until the service stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from shared.infra import metrics
from shared.infra.faults import is_transient

log = logging.getLogger(__name__)


async def every(seconds: float, step: Callable[[], Awaitable[bool]], stopping: asyncio.Event, name: str) -> None:
    """Run `step` again at once while it reports more work (yielding first), else after `seconds`.

    A failing step is retried after `seconds`, for as long as it fails: a database restart must not take the
    consumer down with it, and every step is one transaction (or, like a payout run, a series that a rerun
    completes), so a failed one left nothing half done. Transient faults are logged in one line; anything else
    with its traceback, since it is probably a bug.
    """
    failing = False
    while not stopping.is_set():
        started = time.perf_counter()
        try:
            more = await step()
        except Exception as exc:
            metrics.timer_step(name, started, failed=True)
            if _transient(exc):
                log.warning("%s failed (%r); retrying in %.1fs", name, exc, seconds)
            else:
                log.exception("%s failed; retrying in %.1fs", name, seconds)
            failing, more = True, False
        else:
            metrics.timer_step(name, started, failed=False)
            if failing:
                log.info("%s works again", name)
                failing = False
        if more:
            await asyncio.sleep(0)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)


def _transient(exc: BaseException) -> bool:
    """`faults.is_transient`, also for a group of failures from concurrent workers (all of them transient)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_transient(e) for e in exc.exceptions)
    return is_transient(exc)
