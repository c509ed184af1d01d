"""Logging for the platform's processes: one format, and an outage that reads as a few lines, not a flood.

While the broker is down the Kafka client logs an ERROR per connection attempt and metadata refresh (about 11,000
lines per service in a 5 s outage, measured), burying everything else. `RepeatFilter` lets the first of a kind
through, holds back the same kind (logger, level, message template) for `window` seconds, and then logs the next one
with how many were held back meanwhile. Every kind of trouble still shows, with its first message in full.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
WINDOW_SECONDS = 10.0
# Loggers whose repeats are held back: the Kafka client's (its retries are ours to report, see the relay and the
# consumer's own lines), and the consumers' refusals of records without a valid seal (a forger's flood).
NOISY = ("aiokafka", "ecticket.provenance")


class RepeatFilter(logging.Filter):
    def __init__(self, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._kinds: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        opened, held = self._kinds.get(kind, (float("-inf"), 0))
        if now - opened < self.window:
            self._kinds[kind] = (opened, held + 1)
            return False
        self._kinds[kind] = (now, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self.window:.0f} s)"
        return True


def configure(level: int = logging.INFO) -> None:
    """The process-wide setup every service process (and its relay) starts with."""
    logging.basicConfig(level=level, format=FORMAT)
    repeats = RepeatFilter()
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    # A filter on a logger sees only what that very logger logs, not its children's records (aiokafka.conn, ...):
    # so it goes on the root handlers, applied to the noisy loggers' records only.
    for handler in logging.getLogger().handlers:
        handler.addFilter(_only(NOISY, repeats))


def _only(prefixes: tuple[str, ...], inner: RepeatFilter) -> Callable[[logging.LogRecord], bool]:
    def applies(record: logging.LogRecord) -> bool:
        return not record.name.startswith(prefixes) or inner.filter(record)

    return applies
