"""A merchant's own door (`python -m shared.admin merchant-connect`, docs/security.md "Merchant principals"): its
requests on its own topic are answered as on the shared one, a request sealed by anyone else is refused there and
acts on nothing, and with an authenticating broker the merchant's principal may write that topic and read its
replies, nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from deploy.local.kafka.scram_restart_risk import JARS, Change, changes_of, dump_of
from shared.access import sender_principal
from shared.admin.merchant_access import NotYetUsable, connect, until_usable
from shared.contracts.rtncodes import RtnCode
from shared.infra.kafka_auth import auth_mode, kafka_security
from shared.infra.scram import SCRAM_SHA_512 as SHA_512
from shared.infra.scram import upsert_credential
from shared.merchants.model import IssueReply
from shared.sandbox.merchant import MerchantClient, open_reply, unique
from shared.sandbox.tap import Tap
from shared.settings import Settings
from shared.topics import INGEST_PAYMENTS, INGEST_REPLIES, INGEST_REQUESTS, ISSUANCE_EVENTS, sender_topic
from tests.support.kafka_principals import PASSWORDS, reads_refused, writes_refused
from tests.support.merchants import GIFT, fresh_merchant
from tests.support.orders import issue_data
from tests.support.strangers import replied

pytestmark = pytest.mark.usefixtures("platform")
ROOT = Path(__file__).resolve().parents[2]
# A door made while the services run is found at their next metadata refresh (ECTICKET_TOPIC_DISCOVERY_MS, 5 s)
# and a rebalance of each group: its first request waits for that.
FIRST_REQUEST_SECONDS = 60


def gift_issue(merchant: MerchantClient, merchant_id: str) -> tuple[dict[str, Any], str]:
    trade_no = unique("MT")
    data = issue_data(trade_no, {GIFT: 1}, merchant_id=merchant_id, free=True)
    return merchant.request("Issue", data, merchant_id=merchant_id), trade_no


async def test_a_merchant_issues_through_its_own_topic_and_another_merchants_request_there_is_refused_unread(
    merchant: MerchantClient, tap: Tap, topics: Settings, db: asyncpg.Pool
) -> None:
    # Its Issue is answered with the outcome, built when the tickets are issued: the door is kept with the order.
    owner = await fresh_merchant(topics, issue_reply=IssueReply.OUTCOME)
    other = await fresh_merchant(topics)
    await connect(topics.kafka_bootstrap, owner)
    door = sender_topic(INGEST_REQUESTS, owner)
    async with watching(topics, [sender_topic(INGEST_REPLIES, owner)]) as own_replies:
        own, own_trade_no = gift_issue(merchant, owner)
        await merchant.send_request(own, topic=door)
        [issued] = await tap.wait_for(
            lambda s: s.type == "TicketsIssued" and s.payload["ticket_trade_no"] == own_trade_no,
            seconds=FIRST_REQUEST_SECONDS,
        )
        assert issued.payload["merchant_id"] == owner
        [answer] = await own_replies.wait_for(replied(own["request_id"]))
        assert answer.payload["rtn_code"] == RtnCode.SUCCESS
        assert open_reply(answer.payload["response"], owner)["TicketList"]

        # The other merchant's request is valid, sealed with its own keys: what a stolen HashKey would allow.
        foreign, foreign_trade_no = gift_issue(merchant, other)
        await merchant.send_request(foreign, topic=door)
        [refusal] = await own_replies.wait_for(replied(foreign["request_id"]))  # told to whoever wrote there
        assert (refusal.payload["trans_code"], refusal.payload["rtn_code"]) == (RtnCode.PLATFORM_NOT_AUTHORISED,) * 2
        assert refusal.payload["response"]["TransMsg"] == (
            f"this topic is sender {owner}'s own: a request on it must come from {owner}"
        )
        assert refusal.payload["response"]["Data"] == ""  # nothing the topic's owner could learn of the other's keys
    orders = await db.fetchval(
        "SELECT count(*) FROM issuance.orders WHERE merchant_id = $1 AND ticket_trade_no = $2", other, foreign_trade_no
    )
    assert orders == 0
    # Nothing of either went to the shared reply topic, which every gateway reader sees.
    assert not tap.matching(lambda s: replied(own["request_id"])(s) or replied(foreign["request_id"])(s))


async def test_a_request_parked_for_its_ticket_is_answered_on_its_senders_own_reply_topic(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    owner = await fresh_merchant(topics)
    await connect(topics.kafka_bootstrap, owner)
    async with watching(topics, [sender_topic(INGEST_REPLIES, owner)]) as own_replies:
        data = {"MerchantID": owner, "WriteOffNo": unique("W"), "Action": "1", "Operator": "pos1"}
        request = merchant.request("WriteOff", data, merchant_id=owner)
        await merchant.send_request(request, topic=sender_topic(INGEST_REQUESTS, owner))
        # No such ticket: the request waits for its TicketsIssued (REDEMPTION_TICKET_WAIT_SECONDS), then is answered.
        [answer] = await own_replies.wait_for(replied(request["request_id"]), seconds=FIRST_REQUEST_SECONDS)
    assert open_reply(answer.payload["response"], owner)["RtnCode"] == RtnCode.TICKET_NOT_FOUND
    assert not tap.matching(replied(request["request_id"]))


@contextlib.asynccontextmanager
async def watching(topics: Settings, names: list[str]) -> AsyncIterator[Tap]:
    watcher = Tap(topics.kafka_bootstrap, names)
    await watcher.start()
    try:
        yield watcher
    finally:
        await watcher.stop()


@pytest.mark.skipif(auth_mode() != "scram", reason="the broker does not authenticate (KAFKA_AUTH=none)")
async def test_a_merchants_principal_writes_its_own_topic_and_reads_the_replies_and_nothing_else(
    topics: Settings,
) -> None:
    owner, other = await fresh_merchant(topics), await fresh_merchant(topics)
    password = await connect(topics.kafka_bootstrap, owner)
    await connect(topics.kafka_bootstrap, other)
    assert password is not None
    principal = sender_principal(owner)
    PASSWORDS[principal] = password
    bootstrap = topics.kafka_bootstrap
    door, others_door = sender_topic(INGEST_REQUESTS, owner), sender_topic(INGEST_REQUESTS, other)

    writes = await writes_refused(
        bootstrap, principal, [door, others_door, INGEST_REQUESTS, INGEST_PAYMENTS, ISSUANCE_EVENTS]
    )
    assert writes == {
        door: False,
        others_door: True,
        INGEST_REQUESTS: True,
        INGEST_PAYMENTS: True,
        ISSUANCE_EVENTS: True,
    }
    own_replies, others_replies = sender_topic(INGEST_REPLIES, owner), sender_topic(INGEST_REPLIES, other)
    reads = await reads_refused(
        bootstrap, principal, [own_replies, others_replies, INGEST_REPLIES, door, others_door, ISSUANCE_EVENTS]
    )
    assert reads == {
        own_replies: False,
        others_replies: True,  # another merchant's replies
        INGEST_REPLIES: True,  # the gateway's
        door: True,
        others_door: True,
        ISSUANCE_EVENTS: True,
    }

    # Connecting again replaces the password: the old one no longer gets in.
    PASSWORDS[principal] = await connect(bootstrap, owner) or ""
    assert (await writes_refused(bootstrap, principal, [door])) == {door: False}
    stale = AIOKafkaProducer(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, **kafka_security(principal, password)
    )
    with pytest.raises(KafkaConnectionError):
        await stale.start()
    await stale.stop()


@pytest.mark.skipif(auth_mode() != "scram", reason="the broker does not authenticate (KAFKA_AUTH=none)")
async def test_a_disconnected_merchant_loses_its_open_connection_and_cannot_connect_again(topics: Settings) -> None:
    merchant = await fresh_merchant(topics)
    password = await connect(topics.kafka_bootstrap, merchant)
    assert password is not None
    principal, door = sender_principal(merchant), sender_topic(INGEST_REQUESTS, merchant)
    open_producer = AIOKafkaProducer(
        bootstrap_servers=topics.kafka_bootstrap, acks="all", **kafka_security(principal, password)
    )
    try:
        await open_producer.start()  # in the try: a producer whose start failed must be stopped too
        await open_producer.send_and_wait(door, b"{}", key=b"before")

        code, output = await admin_cli("merchant-disconnect", "--merchant-id", merchant)
        assert (code, output) == (0, f"Kafka principal {principal}: 3 grants and its password revoked\n")

        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(open_producer.send_and_wait(door, b"{}", key=b"after"), 20)
    finally:
        await open_producer.stop()
    newcomer = AIOKafkaProducer(
        bootstrap_servers=topics.kafka_bootstrap, request_timeout_ms=5000, **kafka_security(principal, password)
    )
    with pytest.raises(KafkaConnectionError):
        await newcomer.start()
    await newcomer.stop()
    assert await admin_cli("merchant-disconnect", "--merchant-id", merchant) == (
        0,
        f"Kafka principal {principal}: 0 grants and its password revoked\n",
    )


@pytest.mark.skipif(auth_mode() != "scram", reason="the broker does not authenticate (KAFKA_AUTH=none)")
async def test_a_new_password_is_handed_out_only_once_the_broker_lets_it_in(
    topics: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # The broker applies a credential a moment after the controller accepted it (a CI run once handed a merchant a
    # password its first handshake was refused with). Here the moment is made a second long: the credential is
    # changed only after the wait began.
    merchant = await fresh_merchant(topics)
    assert await connect(topics.kafka_bootstrap, merchant) is not None
    principal, doors = sender_principal(merchant), (sender_topic(INGEST_REQUESTS, merchant),)
    password = "rotated-" + unique("PW")
    waiting = asyncio.create_task(until_usable(topics.kafka_bootstrap, principal, password, doors))
    await asyncio.sleep(1)
    assert not waiting.done()

    await upsert_credential(topics.kafka_bootstrap, principal, password)
    await asyncio.wait_for(waiting, 20)
    producer = AIOKafkaProducer(bootstrap_servers=topics.kafka_bootstrap, **kafka_security(principal, password))
    try:
        await producer.start()
        await producer.send_and_wait(doors[0], b"{}", key=b"first-handshake")
    finally:
        await producer.stop()
    # The refused handshakes of the wait were expected: nothing in the log calls them an error.
    assert not [r for r in caplog.records if "SaslAuthenticationFailed" in r.getMessage()]


@pytest.mark.skipif(auth_mode() != "scram", reason="the broker does not authenticate (KAFKA_AUTH=none)")
async def test_a_password_the_broker_never_applies_is_reported_not_handed_out(topics: Settings) -> None:
    merchant = await fresh_merchant(topics)
    assert await connect(topics.kafka_bootstrap, merchant) is not None
    principal = sender_principal(merchant)
    with pytest.raises(
        NotYetUsable, match=f"has not applied the change of {principal}'s password and grants within 2 s"
    ):
        await until_usable(
            topics.kafka_bootstrap, principal, "never-set", (sender_topic(INGEST_REQUESTS, merchant),), within=2
        )


@pytest.mark.skipif(auth_mode() != "scram", reason="the broker does not authenticate (KAFKA_AUTH=none)")
async def test_a_disconnect_retires_the_credential_and_writes_no_removal_a_broker_restart_would_trip_on(
    topics: Settings,
) -> None:
    # Kafka (4.1.1-4.2.0) can drop every SCRAM credential when a broker restarts after a credential's removal
    # (docs/decisions.md, "A broker that refuses every principal"), so a disconnect must never remove one. What is
    # written is read from the broker's own metadata log, with Kafka's DumpLogSegments (as scram_restart_risk.py does).
    metadata = ROOT / ".run" / os.environ.get("INFRA_NAME", "-") / "kafka" / "data" / "__cluster_metadata-0"
    if not metadata.is_dir():
        pytest.skip("reads the metadata log of a broker deploy/local/infra.sh runs (make test)")
    merchant = await fresh_merchant(topics)
    principal = sender_principal(merchant)
    assert await connect(topics.kafka_bootstrap, merchant) is not None
    assert (await admin_cli("merchant-disconnect", "--merchant-id", merchant))[0] == 0
    written = [c for c in changes_of(await asyncio.to_thread(dump_of, metadata, JARS)) if c.name == principal]
    # Connected, then retired: a password of its own, then one nobody has; no removal.
    assert written == [Change(principal, SHA_512, removed=False), Change(principal, SHA_512, removed=False)]


async def admin_cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.admin", *args, stdout=PIPE, stderr=STDOUT, cwd=ROOT
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_the_operator_connects_a_registered_merchant_and_is_told_no_for_an_unknown_one(topics: Settings) -> None:
    known = await fresh_merchant(topics)
    code, output = await admin_cli("merchant-connect", "--merchant-id", known)
    assert code == 0, output
    lines = output.splitlines()
    requests, replies = sender_topic(INGEST_REQUESTS, known), sender_topic(INGEST_REPLIES, known)
    assert lines[0] == f"{known} writes its requests on {requests} and reads their replies on {replies}"
    if auth_mode() == "scram":
        assert lines[1].startswith(
            f"Kafka principal {sender_principal(known)}, SASL/SCRAM-SHA-512 password (shown once): "
        )
    code, output = await admin_cli("merchant-connect", "--merchant-id", "9000000000")
    assert (code, output) == (
        2,
        "invalid: 9000000000 is not a registered merchant or platform: merchant-put it first\n",
    )
