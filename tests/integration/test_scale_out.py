"""Two instances of every service share the work on their consumer groups, and losing one loses nothing: its
partitions move to the other, every request is still answered exactly once and every order issued exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.platform import PLATFORM_SERVICES
from shared.sandbox.merchant import MerchantClient, unique
from shared.settings import Settings
from tests.support.codes import with_codes
from tests.support.merchants import GIFT, fresh_merchant
from tests.support.orders import issue_data
from tests.support.ports import free_port
from tests.support.pos import Pos
from tests.support.processes import Platform, ServiceProcess
from tests.support.tap import Seen, Tap

pytestmark = pytest.mark.slow

ORDERS = 120
PARTITIONS = 6  # of the ingestion topic: requests are spread over all of them, so both instances get some


@pytest.fixture
async def second_instances(platform: Platform, tmp_path: Path) -> AsyncIterator[dict[str, ServiceProcess]]:
    """A second instance of every platform service, with a static group membership id of its own."""
    seconds: dict[str, ServiceProcess] = {}
    for name in PLATFORM_SERVICES:
        first = platform[name]
        env = {**first.env, "ECTICKET_INSTANCE_ID": f"{name}-2", "GATEWAY_PORT": str(free_port())}
        seconds[name] = ServiceProcess(name, tmp_path, env)
    try:
        await asyncio.gather(*(s.start() for s in seconds.values()))
        yield seconds
    finally:
        await asyncio.gather(*(s.stop() for s in seconds.values()))


def replies_per_request(tap: Tap, request_ids: set[str]) -> Counter[str]:
    seen = tap.matching(lambda s: s.type == "RequestReplied" and s.payload["request_id"] in request_ids)
    return Counter(s.payload["request_id"] for s in seen)


async def test_killing_one_of_two_instances_loses_and_repeats_nothing(
    merchant: MerchantClient, tap: Tap, topics: Settings, second_instances: dict[str, ServiceProcess]
) -> None:
    merchant_id = await fresh_merchant(topics)
    trade_nos = [unique("SO") for _ in range(ORDERS)]
    issues: set[str] = set()
    for i, trade_no in enumerate(trade_nos):
        if i == ORDERS // 2:
            second_instances["issuance"].kill9()  # mid-stream: its partitions must move to the first instance
        message = merchant.request("Issue", issue_data(trade_no, {GIFT: 1}, merchant_id=merchant_id, free=True),
                                   merchant_id=merchant_id)  # fmt: skip
        issues.add(await merchant.send_request(message, partition=i % PARTITIONS))
        await asyncio.sleep(0.02)
    # By order, not by count: a relay killed mid-stream publishes some events again (same id), which a count would
    # take for other orders.
    by_order = await tap.wait_for_each(
        lambda s: s.type == "TicketsIssued", lambda s: s.payload["ticket_trade_no"], set(trade_nos), seconds=60
    )
    issued = [seen[0] for seen in by_order.values()]

    pos = Pos(merchant, tap, merchant_id)
    write_offs: set[str] = set()
    for i, order in enumerate(issued):
        if i == len(issued) // 2:
            second_instances["redemption"].kill9()
        [ticket] = with_codes(order.payload["tickets"])
        write_offs.add(await pos.send(pos.write_off_message(ticket["write_off_no"]), partition=i % PARTITIONS))
        await asyncio.sleep(0.02)
    await tap.wait_for_each(lambda s: s.type == "TicketWrittenOff", lambda s: s.payload["request_id"], set(write_offs),
                            seconds=60)  # fmt: skip
    # The replies travel on another topic than the events, which the tap reads independently.
    await tap.wait_for_each(lambda s: s.type == "RequestReplied", lambda s: s.payload["request_id"],
                            issues | write_offs, seconds=60)  # fmt: skip

    await asyncio.sleep(2)  # time for a late duplicate to show, had there been one
    assert set(replies_per_request(tap, issues).values()) == {1} and len(replies_per_request(tap, issues)) == ORDERS
    assert set(replies_per_request(tap, write_offs).values()) == {1}
    assert len(replies_per_request(tap, write_offs)) == ORDERS
    # One TicketsIssued per order and one write-off per ticket (a relay's republished copy shares its event id).
    issued_ids = {(s.payload["ticket_trade_no"], s.envelope.event_id) for s in mine(tap, "TicketsIssued", merchant_id)}
    assert set(Counter(trade_no for trade_no, _ in issued_ids).values()) == {1} and len(issued_ids) == ORDERS
    written_ids = {(s.payload["ticket_no"], s.envelope.event_id) for s in mine(tap, "TicketWrittenOff", merchant_id)}
    assert set(Counter(ticket for ticket, _ in written_ids).values()) == {1} and len(written_ids) == ORDERS


def mine(tap: Tap, event_type: str, merchant_id: str) -> list[Seen]:
    return tap.matching(lambda s: s.type == event_type and s.payload["merchant_id"] == merchant_id)
