"""The processor simulator's settings from the environment (docs/money-trust.md, "Settings")."""

from __future__ import annotations

import os
from dataclasses import dataclass

from shared.ecticket.processor_query import ProcessorCredentials, processor_credentials

DEFAULT_HTTP_PORT = 18090


@dataclass(frozen=True)
class ProcessorConfig:
    http_host: str  # 127.0.0.1 on a host; 0.0.0.0 inside a container, so its port mapping reaches it
    http_port: int
    credentials: ProcessorCredentials  # the platform's, which it signs trade-query answers with

    @classmethod
    def from_env(cls) -> ProcessorConfig:
        return cls(
            http_host=os.environ.get("PROCESSOR_HTTP_HOST", "127.0.0.1"),
            http_port=int(os.environ.get("PROCESSOR_HTTP_PORT", str(DEFAULT_HTTP_PORT))),
            credentials=processor_credentials(),
        )
