"""A SCRAM-SHA-512 credential made on the running broker (AlterUserScramCredentials, KIP-554), for principals that
come and go with configuration (a merchant's own, `python -m shared.admin merchant-connect`); the platform's own
principals get theirs when the storage is formatted (deploy/local/infra.sh).

aiokafka does not declare the request, so it is declared here with aiokafka's protocol types, as
shared/infra/acls.py declares CreateAcls. The password never crosses the wire: the client sends a salt and the
salted password (RFC 5802's Hi, which is PBKDF2-HMAC-SHA512), from which the broker derives its stored keys.
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


# Kafka's RESOURCE_NOT_FOUND: deleting a credential that does not exist (a merchant disconnected twice).
NO_SUCH_CREDENTIAL = 91


class CredentialRefused(RuntimeError):
    pass


async def upsert_credential(bootstrap: str, user: str, password: str) -> None:
    """Creates `user`'s SCRAM-SHA-512 credential, or replaces it (the old password stops working at once)."""
    salt = secrets.token_bytes(32)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    await _alter(bootstrap, AlterUserScramCredentialsRequest(upsert=(user, salt, salted)), tolerated=())


async def delete_credential(bootstrap: str, user: str) -> None:
    """Removes `user`'s SCRAM-SHA-512 credential: no new connection gets in with it. A credential already gone is
    not an error. Connections made before stay authenticated (Kafka checks a password only at the handshake); what
    stops them is their ACLs going (shared/infra/acls.py, `revoke_principal`)."""
    await _alter(bootstrap, AlterUserScramCredentialsRequest(delete=user), tolerated=(NO_SUCH_CREDENTIAL,))


async def _alter(bootstrap: str, request: AlterUserScramCredentialsRequest, tolerated: tuple[int, ...]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ecticket-scram", **kafka_security(ADMIN))
    await admin.start()
    try:
        response = await admin._send_request(request)
    finally:
        await admin.close()
    refused = [(name, code, message) for name, code, message, _tags in response.results if code not in (0, *tolerated)]
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
    API_KEY = 51

    def __init__(self, *, upsert: tuple[str, bytes, bytes] | None = None, delete: str | None = None) -> None:
        """`upsert`: (user, salt, salted password); `delete`: a user."""
        self._upsertions: list[Any] = []
        if upsert is not None:
            user, salt, salted_password = upsert
            self._upsertions.append((user, SCRAM_SHA_512, ITERATIONS, salt, salted_password, {}))
        self._deletions: list[Any] = [(delete, SCRAM_SHA_512, {})] if delete else []

    def build(
        self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
    ) -> AlterUserScramCredentialsRequest_v0:
        return request_struct_class(self._deletions, self._upsertions, {})
