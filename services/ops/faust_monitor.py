"""faust's Monitor without its per-record statistics.

faust calls the Monitor sensor four times for every record (message in, stream event in and out, message out) to
keep counters and timings that only faust's own web statistics page shows; this app does not serve that page, and
its own figures are the Prometheus metrics (shared/infra/metrics.py). What faust itself reads back is kept: the
time a partition's stream last took an event (`stream_inbound_time`, its check for a stalled stream) and the
per-partition offsets of commits and end offsets, which are per batch, not per record.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors import Monitor


class QuietMonitor(Monitor):
    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_table_get(self, table: Any, key: Any) -> None:
        pass

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        pass
