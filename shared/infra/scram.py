"""A SCRAM-SHA-512 credential made on the running broker (AlterUserScramCredentials, KIP-554), for principals that
come and go with configuration (a merchant's own, `python -m shared.admin merchant-connect`); the platform's own
principals get theirs when the storage is formatted (deploy/local/infra.sh).

aiokafka does not declare the request, so it is declared here with aiokafka's protocol types, as
shared/infra/acls.py declares CreateAcls. The password never crosses the wire: the client sends a salt and the
salted password (RFC 5802's Hi, which is PBKDF2-HMAC-SHA512), from which the broker derives its stored keys.

A credential is never deleted, only retired: replaced by one whose password nobody has. Kafka (4.1.1, 4.1.2 and 4.2.0
alike) can lose every SCRAM credential when a broker restarts after a deletion: it rebuilds its credentials by
replaying the metadata log, and while replaying a deletion it may drop all of them (docs/decisions.md, "A broker
that refuses every principal": found, reproduced and explained 2026-11-30). So this module sends no deletion.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactBytes, CompactString, Int8, Int16, Int32, Schema, TaggedFields

from shared.infra.kafka_auth import ADMIN, kafka_security

SCRAM_SHA_512 = 2  # Kafka's ScramMechanism code
# Kafka's minimum for SCRAM-SHA-512 is 4,096; the client pays this once per connection, the broker nothing.
ITERATIONS = 8192


class CredentialRefused(RuntimeError):
    pass


async def upsert_credential(bootstrap: str, user: str, password: str) -> None:
    """Creates `user`'s SCRAM-SHA-512 credential, or replaces it: the old password stops working, and the new one
    works, once the broker has applied the change from its metadata log (milliseconds; merchant_access waits)."""
    salt = secrets.token_bytes(32)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    await _alter(bootstrap, AlterUserScramCredentialsRequest(user, salt, salted))


async def retire_credential(bootstrap: str, user: str) -> str:
    """No new connection gets in as `user`: its credential is replaced by one of a random password that is kept
    nowhere (deleting it instead can cost every principal its credential at the broker's next restart: the module's
    docstring). Connections made before stay authenticated (Kafka checks a password only at the handshake); what
    stops them is their ACLs going (shared/infra/acls.py, `revoke_principal`). A user that had no credential gets
    such a one: as unusable as none. Returns that password, only for the caller to see the broker apply it (once the
    random one gets in, the old one does not); drop it then."""
    password = secrets.token_urlsafe(32)
    await upsert_credential(bootstrap, user, password)
    return password


async def _alter(bootstrap: str, request: AlterUserScramCredentialsRequest) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ecticket-scram", **kafka_security(ADMIN))
    await admin.start()
    try:
        response = await admin._send_request(request)
    finally:
        await admin.close()
    refused = [(name, code, message) for name, code, message, _tags in response.results if code != 0]
    if refused:
        raise CredentialRefused(f"the broker refused the credential change: {refused}")


class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]  # noqa: N801 (aiokafka's naming)
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]  # noqa: N801
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields))),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest(Request[AlterUserScramCredentialsRequest_v0]):  # type: ignore[misc]
    """An upsertion of one user's credential; never a deletion (the module's docstring says why)."""

    API_KEY = 51

    def __init__(self, user: str, salt: bytes, salted_password: bytes) -> None:
        self._upsertions: list[Any] = [(user, SCRAM_SHA_512, ITERATIONS, salt, salted_password, {})]

    def build(
        self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
    ) -> AlterUserScramCredentialsRequest_v0:
        return request_struct_class([], self._upsertions, {})
