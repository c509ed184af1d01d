"""Running a periodic step (expiry sweeps, deadline sweeps, payout runs) until the service stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(seconds: float, step: Callable[[], Awaitable[bool]], stopping: asyncio.Event, name: str) -> None:
    """Run `step` again at once while it reports more work (yielding first), else after `seconds`.

    A failing step is logged and retried after `seconds`: a database hiccup must not take the consumer down with
    it, and every step is one transaction, so a failed one left nothing behind.
    """
    while not stopping.is_set():
        try:
            more = await step()
        except Exception:
            log.exception("%s failed; retrying in %.1fs", name, seconds)
            more = False
        if more:
            await asyncio.sleep(0)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)
