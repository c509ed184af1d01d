"""`merchant-connect`: a merchant's (or a platform's) own door to the platform over Kafka.

It makes the sender's own request and reply topics (`ecticket.ingest.requests.v1.<id>`, `...replies.v1.<id>`,
shared/topics.py) and, when the broker authenticates (KAFKA_AUTH=scram), the sender's principal `merchant-<id>`
with a new password, printed once, and its grants: write its request topic, read its reply topic, nothing else
(shared/infra/acls.py, `sender_bindings`). The services read every sender's request topic, answer a request on it
only if that sender sent it (shared/ecticket/authentication.py), and answer on the sender's reply topic: a stolen
HashKey is then not enough to act from another merchant's connection, and nobody reads another's replies. Run
again, it replaces the password (the old one stops working at once). docs/security.md, "Merchant principals".

`merchant-disconnect` closes the door: every grant of the principal goes (open connections lose them with their next
request) and so does its credential (no new connection). The two topics stay, empty after their retention: replies
to requests already in flight are still published there (were the reply topic deleted anyway, they would go to the
shared one instead, shared/infra/door_fallback.py), and requests not yet read stay readable.
"""

from __future__ import annotations

import argparse
import logging
import secrets

from shared.access import sender_principal
from shared.infra.acls import apply_acls, revoke_principal, sender_bindings
from shared.infra.compacted import CompactedView
from shared.infra.kafka_auth import auth_mode
from shared.infra.kafka_ready import KafkaNotReady, wait_for_kafka
from shared.infra.scram import retire_credential, upsert_credential
from shared.infra.topics_admin import ensure_topics
from shared.merchants.model import MerchantRecord
from shared.settings import Settings
from shared.topics import (
    INGEST_REPLIES,
    INGEST_REQUESTS,
    MERCHANT_CONFIG,
    SENDER_TOPIC_BASES,
    sender_catalog_entry,
    sender_topic,
)


async def connect(bootstrap: str, sender: str) -> str | None:
    """The sender's topic, and with an authenticating broker its principal and grants; returns the new password
    (None when the broker authenticates nobody)."""
    await ensure_topics(bootstrap, tuple(sender_catalog_entry(base, sender) for base in sorted(SENDER_TOPIC_BASES)))
    if auth_mode() == "none":
        return None
    password = secrets.token_urlsafe(24)
    principal = sender_principal(sender)
    await upsert_credential(bootstrap, principal, password)
    await apply_acls(bootstrap, sender_bindings(sender))
    await until_usable(bootstrap, principal, password, tuple(sender_topic(base, sender) for base in DOOR_BASES))
    return password


# The controller accepts a credential and grants before the broker has applied them from its metadata log
# (milliseconds, seconds on a loaded machine): a password handed out at once could be refused at its first handshake,
# and a retired one still let in.
USABLE_WITHIN_SECONDS = 30.0
DOOR_BASES = (INGEST_REQUESTS, INGEST_REPLIES)


class NotYetUsable(RuntimeError):
    pass


async def until_usable(
    bootstrap: str, principal: str, password: str, topics: tuple[str, ...] = (), within: float = USABLE_WITHIN_SECONDS
) -> None:
    """Returns once `principal` gets in with `password` and sees `topics` (a grant to write or read one implies
    seeing it), that is once the broker has applied the credential and the grants."""
    # The refused handshakes and retries of the wait are expected: nothing an operator should read as an error.
    aiokafka_log = logging.getLogger("aiokafka")  # aiokafka/client.py logs as "aiokafka"
    aiokafka_log.addFilter(_refused_handshakes)
    try:
        await wait_for_kafka(
            bootstrap, within, principal=principal, password=password, sees=topics, attempts_logged_at=logging.DEBUG
        )
    except KafkaNotReady as exc:
        raise NotYetUsable(
            f"the broker has not applied the change of {principal}'s password and grants within {within:.0f} s:"
            " run the command again"
        ) from exc
    finally:
        aiokafka_log.removeFilter(_refused_handshakes)


def _refused_handshakes(record: logging.LogRecord) -> bool:
    return "SaslAuthenticationFailed" not in record.getMessage()


async def disconnect(bootstrap: str, sender: str) -> int | None:
    """Revokes the sender's principal; returns how many grants it had (None when the broker authenticates nobody).
    Grants first: they are what an open connection loses at once."""
    if auth_mode() == "none":
        return None
    principal = sender_principal(sender)
    grants = await revoke_principal(bootstrap, principal)
    await until_usable(bootstrap, principal, await retire_credential(bootstrap, principal))
    return grants


async def is_registered(bootstrap: str, sender: str) -> bool:
    # The records as published, sealed or not: a door needs no keys.
    view = CompactedView(bootstrap, MERCHANT_CONFIG, MerchantRecord.model_validate_json, only=frozenset({sender}))
    await view.start()
    try:
        return view.get(sender) is not None
    finally:
        await view.stop()


async def run(settings: Settings, args: argparse.Namespace) -> None:
    sender: str = args.merchant_id
    if not await is_registered(settings.kafka_bootstrap, sender):
        raise ValueError(f"{sender} is not a registered merchant or platform: merchant-put it first")
    password = await connect(settings.kafka_bootstrap, sender)
    requests, replies = sender_topic(INGEST_REQUESTS, sender), sender_topic(INGEST_REPLIES, sender)
    print(f"{sender} writes its requests on {requests} and reads their replies on {replies}")
    if password is None:
        print("the broker authenticates nobody (KAFKA_AUTH=none): anyone who reaches it can write that topic too")
    else:
        print(f"Kafka principal {sender_principal(sender)}, SASL/SCRAM-SHA-512 password (shown once): {password}")


async def run_disconnect(settings: Settings, args: argparse.Namespace) -> None:
    # Not refused for an unregistered id: the merchant may have gone from the configuration already.
    sender: str = args.merchant_id
    grants = await disconnect(settings.kafka_bootstrap, sender)
    if grants is None:
        print("the broker authenticates nobody (KAFKA_AUTH=none): there is no principal to revoke")
        return
    print(f"Kafka principal {sender_principal(sender)}: {grants} grants and its password revoked")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "merchant-connect",
        help="give a registered merchant or platform its own request topic and Kafka principal (a new password)",
    )
    c.add_argument("--merchant-id", required=True, help="a MerchantID, or the PlatformID of a platform")
    c.set_defaults(run=run)
    d = sub.add_parser(
        "merchant-disconnect",
        help="revoke a merchant's or platform's Kafka principal: its grants and its password (its topics stay)",
    )
    d.add_argument("--merchant-id", required=True, help="a MerchantID, or the PlatformID of a platform")
    d.set_defaults(run=run_disconnect)
