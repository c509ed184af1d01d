"""The ops app's settings from the environment."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from services.ops.domain.fold import ORDERS_KEPT
from shared.access import ACCESS, group_of
from shared.platform import PLATFORM_SERVICES, SIMULATED_SYSTEMS
from shared.settings import Settings

# The consumer groups whose lag the dashboard shows: every platform service and simulated system that consumes
# (their ServiceSpec names, not their schemas: "payment-confirmation"). Notification's was missing from a list
# written by hand.
PLATFORM_GROUPS = tuple(group_of(name) for name in (*PLATFORM_SERVICES, *SIMULATED_SYSTEMS) if ACCESS[name].groups)
# The schemas whose outbox backlog and oldest unpublished event the dashboard shows: every one has an outbox.
PLATFORM_SCHEMAS = (*PLATFORM_SERVICES, *SIMULATED_SYSTEMS, "ops")


@dataclass(frozen=True)
class OpsConfig:
    settings: Settings
    app_id: str  # OPS_APP_ID: the consumer group, and the prefix of the tables' changelog topics
    web_host: str  # OPS_WEB_HOST
    web_port: int  # OPS_WEB_PORT
    data_dir: str  # OPS_DATA_DIR: faust's own files (the tables themselves are in memory and the changelog)
    groups: tuple[str, ...]
    schemas: tuple[str, ...]
    # OPS_OFFSET_RESET: where a new consumer group starts: "earliest" (the whole history, the default) or
    # "latest" (tests: only what is published after the app joined; a restart resumes at its committed offsets).
    offset_reset: str = "earliest"
    # Events folded per table write (OPS_BATCH), and how long a batch may wait to fill (OPS_BATCH_SECONDS). A table
    # write is a partition's whole state (tens of KB with a few hundred merchants) on the changelog: written after
    # every small batch it cost more than the fold itself (measured: 1,450 events/s with 0.05 s batches). A batch,
    # and twice as many records waiting behind it, is also what a catch-up holds at once: 1,000 took a restarted
    # app's peak from 170-184 MB (5,000) to 137, catching up as fast (docs/benchmarks.md).
    batch: int = 1000
    batch_within: float = 0.5
    # Order timelines kept per source partition (OPS_ORDERS_KEPT; six partitions): the newest, by first event.
    orders_kept: int = ORDERS_KEPT

    @classmethod
    def from_env(cls) -> OpsConfig:
        app_id = os.environ.get("OPS_APP_ID", "ops")
        return cls(
            settings=Settings.from_env(),
            app_id=app_id,
            web_host=os.environ.get("OPS_WEB_HOST", "127.0.0.1"),
            web_port=int(os.environ.get("OPS_WEB_PORT", "6066")),
            data_dir=os.environ.get("OPS_DATA_DIR") or os.path.join(tempfile.gettempdir(), f"ecticket-{app_id}"),
            groups=(*os.environ.get("OPS_GROUPS", ",".join(PLATFORM_GROUPS)).split(","), app_id),
            schemas=tuple(os.environ.get("OPS_SCHEMAS", ",".join(PLATFORM_SCHEMAS)).split(",")),
            offset_reset=os.environ.get("OPS_OFFSET_RESET", "earliest"),
            batch=int(os.environ.get("OPS_BATCH", "1000")),
            batch_within=float(os.environ.get("OPS_BATCH_SECONDS", "0.5")),
            orders_kept=int(os.environ.get("OPS_ORDERS_KEPT", str(ORDERS_KEPT))),
        )
