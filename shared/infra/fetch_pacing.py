"""How long the broker may park a consumer's fetch: short while records flow, longer once the consumer idles.

aiokafka keeps one fetch per broker in flight, and leaves out of it every partition whose records it holds for
the application. So the fetch sent while a busy partition's batch is being handled asks only for the idle
partitions, and the broker parks it for up to fetch_max_wait_ms: the busy partition's next records wait that long
on every batch. Under a steady load that wait is most of a consumer's latency (queries at 250/s: p50 711 ms with
aiokafka's default 500 ms, 92 ms with 50 ms; at 500/s on a loaded machine: 176 ms with 50 ms, 71 ms with 5 ms). A short wait all the time costs CPU for nothing when a service idles
(the query service: 0.10 core idle at 5 ms against 0.03 at 50 ms), and an idle consumer does not need it: its
parked fetch includes every partition and returns as soon as any record arrives.

While records flow, the busy fetch also asks the broker to gather BUSY_MIN_BYTES (a few requests) before it answers
early. The fetch sent while a batch is being handled would otherwise come back with the first record that arrives,
and the records after it wait for the batch after next; gathered, they are in the next one. Queries at 500/s, three
runs each on a quiet machine (`python -m deploy.bench.query_hops`): p50 / p99 15-23 / 43-47 ms with 1 byte, 12-15 /
32-37 ms with 4,096. A lone record is held up to `busy_ms` longer, only while its consumer counts as busy.

An idle consumer's fetch waits long at the broker (IDLE_WAIT_MS, Kafka's own default 500 ms). At 50 ms, polling
empty topics cost the whole platform at rest about 0.46 of a core, 0.12 of it the broker's; at 500 ms, 0.24 and
0.06. It costs no latency when records come again: the parked fetch returns with the first of them, and aiokafka
sends no further fetch to the broker while that partition holds records the application has not read (for up to its
prefetch_backoff, 100 ms), so the fetch after them is built once `after_poll` has set the short wait.
`tests/integration/test_fetch_pacing_kafka.py` holds this with a 3-second idle wait.

A consumer whose batches hold only records it skips (issuance and redemption under a flood of queries, which share
the ingestion topic with their requests) has no reader waiting on it. Each of its batches still costs a fetch, an
entry in the crash guard and an offset commit: issuance spent 0.42 ms of CPU per query it skipped at 500 queries/s,
a fifth of a core, taken from the service that answers them. So after such a batch it skims: the broker holds its
fetch until SKIM_MIN_BYTES have arrived or SKIM_WAIT_MS have passed, and its batches are fewer and larger. The first
batch holding a record it handles sets it back to the short wait; that record was held at most SKIM_WAIT_MS longer.

aiokafka 0.14 (pinned) has no setting for this; the wait and the minimum live in its fetcher (`_fetch_max_wait_ms`,
`_fetch_min_bytes`), read each time a fetch is built. `tests/unit/test_fetch_pacing.py` fails if an upgrade moves them,
or stops holding back a node's fetch while one of its partitions has records unread.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

log = logging.getLogger(__name__)

BUSY_WAIT_MS = int(os.environ.get("ECTICKET_FETCH_BUSY_WAIT_MS", "5"))  # an operator trades CPU for latency here
BUSY_MIN_BYTES = int(os.environ.get("ECTICKET_FETCH_BUSY_MIN_BYTES", "4096"))
IDLE_WAIT_MS = 500
IDLE_AFTER_SECONDS = 1.0  # without a record for this long, the consumer counts as idle
SKIM_WAIT_MS = 25
SKIM_MIN_BYTES = 64 * 1024  # some 50 ingest requests


class FetchPacing:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        *,
        busy_ms: int = BUSY_WAIT_MS,
        busy_bytes: int = BUSY_MIN_BYTES,
        idle_ms: int = IDLE_WAIT_MS,
        idle_after: float = IDLE_AFTER_SECONDS,
        skim_ms: int = SKIM_WAIT_MS,
        skim_bytes: int = SKIM_MIN_BYTES,
    ) -> None:
        self._consumer = consumer
        self.busy_ms, self.busy_bytes, self.idle_ms, self._idle_after = busy_ms, busy_bytes, idle_ms, idle_after
        self.skim_ms, self.skim_bytes = skim_ms, skim_bytes
        self._last_record = 0.0
        self._skimming = False
        self._warned = False

    @property
    def wait_ms(self) -> int | None:
        """The wait the next fetch is built with (None: this aiokafka keeps it elsewhere)."""
        fetcher = self._fetcher()
        return None if fetcher is None else int(fetcher._fetch_max_wait_ms)

    @property
    def min_bytes(self) -> int | None:
        """What the next fetch asks the broker to gather before it answers early (None: as for `wait_ms`)."""
        fetcher = self._fetcher()
        return None if fetcher is None else int(fetcher._fetch_min_bytes)

    def after_poll(self, records: int) -> None:
        """Call after every poll with how many records it returned."""
        now = time.monotonic()
        if records:
            self._last_record = now
            if not self._skimming:
                self._set(self.busy_ms, self.busy_bytes)
        elif now - self._last_record >= self._idle_after:
            self._skimming = False
            self._set(self.idle_ms, 1)

    def after_batch(self, handled: bool) -> None:
        """Call after a batch is applied: `handled` is False when every record of it was skipped as another's."""
        self._skimming = not handled
        if handled:
            self._set(self.busy_ms, self.busy_bytes)
        else:
            self._set(self.skim_ms, self.skim_bytes)

    def _set(self, wait_ms: int, min_bytes: int) -> None:
        fetcher = self._fetcher()
        if fetcher is not None:
            fetcher._fetch_max_wait_ms = wait_ms
            fetcher._fetch_min_bytes = min_bytes

    def _fetcher(self) -> Any:
        fetcher = getattr(self._consumer, "_fetcher", None)  # None until the consumer is started
        if fetcher is not None and not all(hasattr(fetcher, a) for a in ("_fetch_max_wait_ms", "_fetch_min_bytes")):
            if not self._warned:
                log.warning("aiokafka's fetcher lacks _fetch_max_wait_ms or _fetch_min_bytes: fetch pacing is off")
                self._warned = True
            return None
        return fetcher
