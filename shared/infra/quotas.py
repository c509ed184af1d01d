"""Kafka client quotas: admission control in front of the ingestion topics (docs/security.md, "Produce quotas").

Each partition of an ingestion topic is consumed first in, first out, so a sender that writes faster than the
platform drains builds a backlog every other merchant's requests then wait behind. The broker's produce quotas stop
that before it reaches a topic: a merchant's producer (client id `ecticket-merchant-<MerchantID>`) gets the byte
rate its merchant record grants, any producer the platform does not know gets `ECTICKET_QUOTA_UNIDENTIFIED` (default
1 MiB/s, well under the ~2,500 hostile messages/s the ingestion consumers drain), and the platform's own producers
(relays, gateway, admin tools, ops app) are exempt. A client id is whatever a producer declares, so this bounds one
sender, not a crowd; a merchant with a principal of its own (`merchant-connect`, authenticated by the broker) gets
the same rate as a quota on that user, which the broker applies before any client-id quota and which a sender
cannot choose.

aiokafka has no AlterClientQuotas call, so the request (Kafka API 49, KIP-546, version 0) is declared here with
aiokafka's own protocol types, the way aiokafka declares DescribeClientQuotas.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DescribeClientQuotasRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Float64, Int16, Int32, Schema, String

from shared.infra.kafka_auth import kafka_security
from shared.platform import PLATFORM_SERVICES, SIMULATED_SYSTEMS

PRODUCE_RATE = "producer_byte_rate"
REQUEST_SHARE = "request_percentage"
MERCHANT_CLIENT_PREFIX = "ecticket-merchant-"
UNIDENTIFIED_DEFAULT = 1024 * 1024
EXEMPT = float(2**62)  # a rate no client reaches: Kafka has no "unlimited" value for a client id of its own

# Every schema with an outbox has a relay whose producer is "<schema>-relay" (shared/infra/relay.py).
RELAY_SCHEMAS = (*PLATFORM_SERVICES, *SIMULATED_SYSTEMS)
GATEWAY_CLIENT = "ecticket-gateway"
ADMIN_CLIENT = "ecticket-admin"
OPS_CLIENT = "ecticket-ops"
QUERY_REPLIES_CLIENT = "query-replies"  # the query side sends its replies itself (services/query/replies_now.py)
# Benchmarks' and tests' load generators measure the platform, not the admission limit: they exempt this id
# themselves (deploy/bench/run.py, tests/conftest.py); a production set-up never does.
LOAD_GENERATOR_CLIENT = "ecticket-load-generator"
PLATFORM_PRODUCERS = (
    *(f"{schema}-relay" for schema in RELAY_SCHEMAS),
    GATEWAY_CLIENT,
    ADMIN_CLIENT,
    OPS_CLIENT,
    QUERY_REPLIES_CLIENT,
)


def merchant_client_id(merchant_id: str) -> str:
    """The client id a merchant's producer declares, so that its produce quota applies (docs/integrating.md)."""
    return f"{MERCHANT_CLIENT_PREFIX}{merchant_id}"


def unidentified_rate() -> int:
    """ECTICKET_QUOTA_UNIDENTIFIED: bytes/s for a producer whose client id has no quota of its own (0: no limit)."""
    return int(os.environ.get("ECTICKET_QUOTA_UNIDENTIFIED", str(UNIDENTIFIED_DEFAULT)))


CLIENT, USER = "client-id", "user"  # Kafka's quota entity types


@dataclass(frozen=True)
class Quota:
    name: str | None  # a client id or a user; None: the default for every one without a quota of its own
    produce_bytes_per_second: float | None  # None: remove the quota
    entity: str = CLIENT
    request_percentage: float | None = None  # None: left as it is


def platform_quotas(unidentified: int) -> list[Quota]:
    """The platform's own producers exempt, everyone unidentified limited (no limit when `unidentified` is 0)."""
    return [Quota(None, unidentified or None), *(Quota(client, EXEMPT) for client in PLATFORM_PRODUCERS)]


async def apply_quotas(bootstrap: str, quotas: Sequence[Quota]) -> None:
    """Sets (or removes) each quota; idempotent. Raises QuotaRefused naming the client ids the broker refused."""
    if not quotas:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=ADMIN_CLIENT, **kafka_security())
    await admin.start()
    try:
        response = await admin._send_request(AlterClientQuotasRequest(quotas))
    finally:
        await admin.close()
    refused = [(entity, code, message) for code, message, entity in response.entries if code != 0]
    if refused:
        raise QuotaRefused(f"the broker refused client quotas: {refused}")


async def produce_quotas(bootstrap: str, entity: str = CLIENT, key: str = PRODUCE_RATE) -> dict[str | None, float]:
    """Every client id's (or user's) produce quota the broker holds (None: the default); `key`: another quota."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=ADMIN_CLIENT, **kafka_security())
    await admin.start()
    try:
        response = await admin._send_request(DescribeClientQuotasRequest([], False))
    finally:
        await admin.close()
    if response.error_code:
        raise QuotaRefused(f"the broker refused to describe client quotas: {response.error_message}")
    quotas: dict[str | None, float] = {}
    for names, values in response.entries:
        rate = dict(values).get(key)
        if rate is not None and [kind for kind, _ in names] == [entity]:
            quotas[dict(names)[entity]] = rate
    return quotas


class QuotaRefused(RuntimeError):
    pass


class AlterClientQuotasResponse_v0(Response):  # type: ignore[misc]  # noqa: N801 (aiokafka's naming)
    API_KEY = 49
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "entries",
            Array(
                ("error_code", Int16),
                ("error_message", String("utf-8")),
                ("entity", Array(("entity_type", String("utf-8")), ("entity_name", String("utf-8")))),
            ),
        ),
    )


class AlterClientQuotasRequest_v0(RequestStruct):  # type: ignore[misc]  # noqa: N801
    API_KEY = 49
    API_VERSION = 0
    RESPONSE_TYPE = AlterClientQuotasResponse_v0
    SCHEMA = Schema(
        (
            "entries",
            Array(
                ("entity", Array(("entity_type", String("utf-8")), ("entity_name", String("utf-8")))),
                ("ops", Array(("key", String("utf-8")), ("value", Float64), ("remove", Boolean))),
            ),
        ),
        ("validate_only", Boolean),
    )


class AlterClientQuotasRequest(Request[AlterClientQuotasRequest_v0]):  # type: ignore[misc]
    API_KEY = 49

    def __init__(self, quotas: Iterable[Quota]) -> None:
        self._entries: list[Any] = [
            (
                [(q.entity, q.name)],
                [
                    (PRODUCE_RATE, q.produce_bytes_per_second or 0.0, q.produce_bytes_per_second is None),
                    *([] if q.request_percentage is None else [(REQUEST_SHARE, q.request_percentage, False)]),
                ],
            )
            for q in quotas
        ]

    def build(self, request_struct_class: type[AlterClientQuotasRequest_v0]) -> AlterClientQuotasRequest_v0:
        return request_struct_class(self._entries, False)
