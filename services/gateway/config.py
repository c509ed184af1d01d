"""The gateway's settings from the environment (docs/http.md, "Settings")."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

DEFAULT_PORT = 8080


@dataclass(frozen=True)
class GatewayConfig:
    host: str  # 127.0.0.1 on a host; 0.0.0.0 inside a container, so its port mapping reaches it
    port: int
    max_body_bytes: int  # a larger request body is refused (HTTP 413) before it is read to the end
    rate_per_second: float  # per MerchantID, with bursts of `rate_burst`; beyond: HTTP 403 (§2.1)
    rate_burst: float
    reply_seconds: float  # how long a request waits for its reply before HTTP 504 (send it again to get it)
    drain_seconds: float  # on SIGTERM, how long requests in flight may still wait for their replies
    request_id_secret: bytes = b""  # keys the request ids (inbound.request_id_of)

    @classmethod
    def from_env(cls, config_key_hex: str) -> GatewayConfig:
        return cls(
            host=os.environ.get("GATEWAY_HOST", "127.0.0.1"),
            port=int(os.environ.get("GATEWAY_PORT", str(DEFAULT_PORT))),
            max_body_bytes=int(os.environ.get("GATEWAY_MAX_BODY_BYTES", str(128 * 1024))),
            rate_per_second=float(os.environ.get("GATEWAY_RATE_PER_SECOND", "100")),
            rate_burst=float(os.environ.get("GATEWAY_RATE_BURST", "200")),
            reply_seconds=float(os.environ.get("GATEWAY_REPLY_SECONDS", "30")),
            # Within the 15 s the service runtime gives each of its loops to stop.
            drain_seconds=float(os.environ.get("GATEWAY_DRAIN_SECONDS", "10")),
            # Derived from the platform's config key: stable across restarts and instances, secret like it.
            request_id_secret=hmac.new(bytes.fromhex(config_key_hex), b"gateway request ids", hashlib.sha256).digest(),
        )
