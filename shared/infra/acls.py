"""Kafka ACLs from the access table (shared/access.py), created with one CreateAcls request.

aiokafka's CreateAclsRequest carries one binding and only versions 0-1, which Kafka 4 no longer accepts (KIP-896),
so version 2-3 (flexible) is declared here with aiokafka's protocol types, as shared/infra/quotas.py declares
AlterClientQuotas. Creating a binding that exists is a no-op, so applying the table again is idempotent; a grant
removed from the table is not revoked by this (docs/security.md says how to revoke). `revoke_principal` deletes
every grant of one principal (DeleteAcls, declared here the same way): a merchant's door closing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactString, Int8, Int16, Int32, Schema, TaggedFields

from shared.access import ACCESS, Access, sender_principal
from shared.infra.kafka_auth import ADMIN, kafka_security
from shared.topics import INGEST_REPLIES, INGEST_REQUESTS, sender_topic

# Kafka's codes (org.apache.kafka.common.resource / acl).
ANY = 1  # in a filter: any resource type, pattern type, operation or permission
TOPIC, GROUP, CLUSTER = 2, 3, 4
LITERAL, PREFIXED = 3, 4
READ, WRITE, CREATE, DESCRIBE = 3, 4, 5, 8
ALLOW = 3
CLUSTER_NAME = "kafka-cluster"


@dataclass(frozen=True, order=True)
class Binding:
    resource_type: int
    resource_name: str
    pattern: int
    principal: str  # "User:<name>"
    operation: int


def bindings_of(principal: str, access: Access) -> list[Binding]:
    """READ implies DESCRIBE and WRITE implies DESCRIBE on a topic, so these are all a client needs (fetching,
    listing offsets, producing idempotently: Kafka 3+ grants InitProducerId to anyone who may write a topic)."""
    user = f"User:{principal}"
    rows = [Binding(TOPIC, t, LITERAL, user, READ) for t in access.reads]
    # Who reads the shared request topic reads every sender's own, and who answers on the shared reply topic answers
    # on every sender's own too (shared/topics.py: a sender's topics are named after the shared ones).
    if INGEST_REQUESTS in access.reads:
        rows.append(Binding(TOPIC, f"{INGEST_REQUESTS}.", PREFIXED, user, READ))
    if INGEST_REPLIES in access.writes:
        rows.append(Binding(TOPIC, f"{INGEST_REPLIES}.", PREFIXED, user, WRITE))
    rows += [Binding(TOPIC, t, LITERAL, user, WRITE) for t in access.writes]
    rows += [Binding(GROUP, g, LITERAL, user, READ) for g in access.groups]
    rows += [Binding(GROUP, g, LITERAL, user, DESCRIBE) for g in access.watches_groups]
    rows += [Binding(TOPIC, t, LITERAL, user, DESCRIBE) for t in access.describes]
    if access.own_prefix:
        rows += [Binding(TOPIC, access.own_prefix, PREFIXED, user, op) for op in (CREATE, READ, WRITE)]
        rows.append(Binding(GROUP, access.own_prefix, PREFIXED, user, READ))
    if access.describes_cluster:
        rows.append(Binding(CLUSTER, CLUSTER_NAME, LITERAL, user, DESCRIBE))
    return sorted(rows)


def sender_bindings(sender: str) -> list[Binding]:
    """A merchant's (or platform's) own principal: it writes its requests on its own request topic, reads its own
    reply topic, and commits its reading in consumer groups named `merchant-<id>.<anything>`; nothing else."""
    user = f"User:{sender_principal(sender)}"
    return sorted(
        [
            Binding(TOPIC, sender_topic(INGEST_REQUESTS, sender), LITERAL, user, WRITE),
            Binding(TOPIC, sender_topic(INGEST_REPLIES, sender), LITERAL, user, READ),
            Binding(GROUP, f"{sender_principal(sender)}.", PREFIXED, user, READ),
        ]
    )


def platform_bindings() -> list[Binding]:
    return [row for principal, access in ACCESS.items() for row in bindings_of(principal, access)]


async def apply_acls(bootstrap: str, bindings: Sequence[Binding] | None = None) -> int:
    """Creates the bindings (as admin, the super user); returns how many were sent. Raises AclsRefused."""
    rows = list(platform_bindings() if bindings is None else bindings)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ecticket-acls", **kafka_security(ADMIN))
    await admin.start()
    try:
        response = await admin._send_request(CreateAclsRequest(rows))
    finally:
        await admin.close()
    refused = [(row, code, message) for row, (code, message, _tags) in zip(rows, response.results, strict=True) if code]
    if refused:
        raise AclsRefused(f"the broker refused ACLs: {refused[:5]}")
    return len(rows)


async def revoke_principal(bootstrap: str, principal: str) -> int:
    """Deletes every grant of `principal` (as admin), those of `sender_bindings` and any added by hand; returns how
    many there were. The broker checks ACLs on every request, so connections already open lose them at once."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ecticket-acls", **kafka_security(ADMIN))
    await admin.start()
    try:
        response = await admin._send_request(DeleteAclsRequest(f"User:{principal}"))
    finally:
        await admin.close()
    (code, message, matching, _tags), *_ = response.filter_results
    refused = [row for row in matching if row[0]]
    if code or refused:
        raise AclsRefused(f"the broker refused to delete ACLs of {principal}: {code} {message} {refused[:5]}")
    return len(matching)


class AclsRefused(RuntimeError):
    pass


class CreateAclsResponse_v2(Response):  # type: ignore[misc]  # noqa: N801 (aiokafka's naming)
    API_KEY = 30
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(("error_code", Int16), ("error_message", CompactString("utf-8")), ("tags", TaggedFields)),
        ),
        ("tags", TaggedFields),
    )


class CreateAclsResponse_v3(Response):  # type: ignore[misc]  # noqa: N801
    API_KEY = 30
    API_VERSION = 3
    SCHEMA = CreateAclsResponse_v2.SCHEMA


_CREATIONS = Schema(
    (
        "creations",
        CompactArray(
            ("resource_type", Int8),
            ("resource_name", CompactString("utf-8")),
            ("resource_pattern_type", Int8),
            ("principal", CompactString("utf-8")),
            ("host", CompactString("utf-8")),
            ("operation", Int8),
            ("permission_type", Int8),
            ("tags", TaggedFields),
        ),
    ),
    ("tags", TaggedFields),
)


class CreateAclsRequest_v2(RequestStruct):  # type: ignore[misc]  # noqa: N801
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 2
    RESPONSE_TYPE = CreateAclsResponse_v2
    SCHEMA = _CREATIONS


class CreateAclsRequest_v3(RequestStruct):  # type: ignore[misc]  # noqa: N801
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 3
    RESPONSE_TYPE = CreateAclsResponse_v3
    SCHEMA = _CREATIONS


class CreateAclsRequest(Request[CreateAclsRequest_v2 | CreateAclsRequest_v3]):  # type: ignore[misc]
    API_KEY = 30

    def __init__(self, bindings: Iterable[Binding]) -> None:
        self._creations: list[Any] = [
            (b.resource_type, b.resource_name, b.pattern, b.principal, "*", b.operation, ALLOW, {}) for b in bindings
        ]

    def build(
        self, request_struct_class: type[CreateAclsRequest_v2 | CreateAclsRequest_v3]
    ) -> CreateAclsRequest_v2 | CreateAclsRequest_v3:
        return request_struct_class(self._creations, {})


class DeleteAclsResponse_v2(Response):  # type: ignore[misc]  # noqa: N801
    API_KEY = 31
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "filter_results",
            CompactArray(
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                (
                    "matching_acls",
                    CompactArray(
                        ("error_code", Int16),
                        ("error_message", CompactString("utf-8")),
                        ("resource_type", Int8),
                        ("resource_name", CompactString("utf-8")),
                        ("pattern_type", Int8),
                        ("principal", CompactString("utf-8")),
                        ("host", CompactString("utf-8")),
                        ("operation", Int8),
                        ("permission_type", Int8),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DeleteAclsRequest_v2(RequestStruct):  # type: ignore[misc]  # noqa: N801
    FLEXIBLE_VERSION = True
    API_KEY = 31
    API_VERSION = 2
    RESPONSE_TYPE = DeleteAclsResponse_v2
    SCHEMA = Schema(
        (
            "filters",
            CompactArray(
                ("resource_type_filter", Int8),
                ("resource_name_filter", CompactString("utf-8")),  # null: any name
                ("pattern_type_filter", Int8),
                ("principal_filter", CompactString("utf-8")),
                ("host_filter", CompactString("utf-8")),  # null: any host
                ("operation", Int8),
                ("permission_type", Int8),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DeleteAclsRequest(Request[DeleteAclsRequest_v2]):  # type: ignore[misc]
    API_KEY = 31

    def __init__(self, principal: str) -> None:
        self._filter: Any = (ANY, None, ANY, principal, None, ANY, ANY, {})

    def build(self, request_struct_class: type[DeleteAclsRequest_v2]) -> DeleteAclsRequest_v2:
        return request_struct_class([self._filter], {})
