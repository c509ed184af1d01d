"""A merchant's reply topic deleted by hand (`kafka-topics --delete`) stalls nothing (shared/infra/door_fallback.py):
its later replies, from the issuance relay and from the query service's own sender, land on the shared reply topic
within seconds, still sealed for the merchant alone, the services keep answering everybody else meanwhile, and
once the door is reopened its replies go back to it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from shared.admin.merchant_access import connect
from shared.contracts.rtncodes import RtnCode
from shared.infra import door_fallback
from shared.infra.kafka_auth import kafka_security
from shared.sandbox import tap as taps_of
from shared.sandbox.merchant import MerchantClient, open_reply
from shared.sandbox.tap import Seen
from shared.settings import Settings
from shared.topics import INGEST_REPLIES, INGEST_REQUESTS, sender_topic
from tests.integration.test_merchant_topics import FIRST_REQUEST_SECONDS, gift_issue, watching
from tests.support.merchants import fresh_merchant
from tests.support.processes import Platform
from tests.support.strangers import replied
from tests.support.tap import Tap

# Well under the producer's request timeout (40 s), the least a reply to a deleted topic used to hold up its sender.
WITHIN_SECONDS = 15


async def test_replies_to_a_deleted_reply_topic_go_to_the_shared_one_and_nothing_else_waits(
    merchant: MerchantClient, tap: Tap, topics: Settings, db: asyncpg.Pool, platform: Platform
) -> None:
    owner, other = await fresh_merchant(topics), await fresh_merchant(topics)
    await connect(topics.kafka_bootstrap, owner)
    door, own_replies = sender_topic(INGEST_REQUESTS, owner), sender_topic(INGEST_REPLIES, owner)
    try:
        # The door works: an Issue and a query through it are answered on the merchant's own reply topic.
        async with watching(topics, [own_replies]) as own:
            first, first_trade_no = gift_issue(merchant, owner)
            await merchant.send_request(first, topic=door)
            await own.wait_for(replied(first["request_id"]), seconds=FIRST_REQUEST_SECONDS)
            asked = query_issue(merchant, owner, first_trade_no)
            await merchant.send_request(asked, topic=door)
            await own.wait_for(replied(asked["request_id"]), seconds=FIRST_REQUEST_SECONDS)

        await delete_topic(topics.kafka_bootstrap, own_replies)
        # What the services last saw of the door is believed this long; a reply sent meanwhile would still go there.
        await asyncio.sleep(door_fallback.EXISTS_SECONDS)

        # Through the door again: an Issue (answered by issuance's outbox relay) and a query (answered by the query
        # consumer itself); and another merchant's Issue on the shared topic, behind them in the same relay.
        second, second_trade_no = gift_issue(merchant, owner)
        await merchant.send_request(second, topic=door)
        again = query_issue(merchant, owner, first_trade_no)
        await merchant.send_request(again, topic=door)
        others, _ = gift_issue(merchant, other)
        await merchant.send_request(others)

        [issued] = await tap.wait_for(replied(second["request_id"]), seconds=WITHIN_SECONDS)
        [queried] = await tap.wait_for(replied(again["request_id"]), seconds=WITHIN_SECONDS)
        [answered] = await tap.wait_for(replied(others["request_id"]), seconds=WITHIN_SECONDS)
        assert {issued.topic, queried.topic, answered.topic} == {INGEST_REPLIES}
        assert issued.payload["rtn_code"] == RtnCode.SUCCESS
        assert open_reply(queried.payload["response"], owner)["FreeTradeNo"] == first_trade_no  # the owner's keys
        assert answered.payload["rtn_code"] == RtnCode.SUCCESS
        await tap.wait_for(
            lambda s: s.type == "TicketsIssued" and s.payload["ticket_trade_no"] == second_trade_no,
            seconds=WITHIN_SECONDS,
        )

        # The outbox row still names the door: only where it was published changed.
        kept = await db.fetchval("SELECT topic FROM issuance.outbox WHERE event_id = $1", issued.envelope.event_id)
        assert kept in (own_replies, None)  # None: already pruned
        # The operator is told which topic, by both senders, and never what was in the replies.
        for service in ("issuance", "query"):
            lines = warnings_naming(platform[service].log_file.read_text(errors="replace"), own_replies)
            assert lines, f"{service} did not say that {own_replies} is gone"
            assert all(second["request_id"] not in line and again["request_id"] not in line for line in lines)
        rerouted = f'ecticket_replies_rerouted_total{{service="query",topic="{own_replies}"}}'
        assert (await scrape(metrics_url(platform["query"].log_file.read_text(errors="replace")))).get(rerouted) == 1

        # The door reopened, its replies go back to it once the senders ask again (after MISSING_SECONDS at most).
        await connect(topics.kafka_bootstrap, owner)
        async with watching(topics, [own_replies]) as own:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + door_fallback.MISSING_SECONDS + WITHIN_SECONDS
            while True:
                assert loop.time() < deadline, f"replies never went back to {own_replies}"
                ask = query_issue(merchant, owner, first_trade_no)
                await merchant.send_request(ask, topic=door)
                [seen] = await first_seen(replied(ask["request_id"]), [own, tap], seconds=WITHIN_SECONDS)
                if seen.topic == own_replies:
                    break
                await asyncio.sleep(1)
    finally:
        await connect(topics.kafka_bootstrap, owner)  # the door again, for whatever runs after


def query_issue(merchant: MerchantClient, owner: str, trade_no: str) -> dict[str, Any]:
    return merchant.request("QueryIssueResult", {"MerchantID": owner, "FreeTradeNo": trade_no}, merchant_id=owner)


async def first_seen(predicate: Callable[[Seen], bool], taps: list[taps_of.Tap], seconds: float) -> list[Seen]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (found := [s for t in taps for s in t.matching(predicate)]):
        if loop.time() > deadline:
            raise TimeoutError(f"not seen in {seconds} s")
        await asyncio.sleep(0.05)
    return found


async def delete_topic(bootstrap: str, topic: str) -> None:
    """What an operator's `kafka-topics --delete --topic <topic>` does; returns once the broker lists it no more."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ecticket-operator", **kafka_security())
    await admin.start()
    try:
        await admin.delete_topics([topic])
        for _ in range(100):
            if topic not in await admin.list_topics():
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{topic} still listed 10 s after its deletion")
    finally:
        await admin.close()


def warnings_naming(log: str, topic: str) -> list[str]:
    return [line for line in log.splitlines() if " WARNING " in line and f"reply topic {topic} does not exist" in line]


def metrics_url(log: str) -> str:
    [port] = re.findall(r"query: metrics on http://127\.0\.0\.1:(\d+)/metrics", log)[-1:]
    return f"http://127.0.0.1:{port}/metrics"


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    return {name: float(value) for name, value in re.findall(r"^(\S+) (\S+)$", text, re.MULTILINE)}
