"""Many requests for one ticket at the same instant, through all partitions and two service instances: each
ticket changes state once; every other request is refused as already done, and every request gets one reply."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from shared.admin.seed import TEST_MERCHANT
from shared.contracts.rtncodes import RtnCode
from shared.sandbox.merchant import MerchantClient
from tests.support.orders import issue_tickets
from tests.support.pos import Pos, redemption_events
from tests.support.processes import Platform, ServiceProcess
from tests.support.tap import Tap

RACERS = 60


@pytest.fixture(scope="module")
async def second_instance(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[None]:
    """A second redemption process in the same consumer group: the partitions are split between the two."""
    first = platform["redemption"]
    second = ServiceProcess("redemption", tmp_path_factory.mktemp("second-redemption"), first.env)
    await second.start()  # ready once the group gave it partitions
    yield
    await second.stop()


async def outcomes(pos: Pos, tap: Tap, request_ids: list[str]) -> Counter[int]:
    codes = Counter([(await pos.reply(request_id, seconds=60))["RtnCode"] for request_id in request_ids])
    wanted = set(request_ids)
    replies = await tap.quiet_matching(lambda s: s.type == "RequestReplied" and s.payload["request_id"] in wanted)
    assert len({s.envelope.event_id for s in replies}) == len(request_ids), "a request got more than one reply"
    await redemption_events(tap, request_ids)  # before `changes` counts them
    return codes


def changes(tap: Tap, kind: str, ticket_no: str) -> int:
    return len(
        {s.envelope.event_id for s in tap.matching(lambda s: s.type == kind and s.payload["ticket_no"] == ticket_no)}
    )


@pytest.mark.usefixtures("second_instance")
async def test_simultaneous_write_offs_of_one_code_across_partitions_and_instances_succeed_exactly_once(
    merchant: MerchantClient, tap: Tap
) -> None:
    pos = Pos(merchant, tap, TEST_MERCHANT)
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "PU000500", face=500)
    racers = [pos.write_off_message(ticket["write_off_no"]) for _ in range(RACERS)]
    codes = await outcomes(pos, tap, await pos.send_at_once(racers))
    assert codes == Counter({1: 1, RtnCode.TICKET_ALREADY_WRITTEN_OFF: RACERS - 1})
    assert changes(tap, "TicketWrittenOff", ticket["ticket_no"]) == 1


@pytest.mark.usefixtures("second_instance")
async def test_simultaneous_refunds_of_one_ticket_refund_it_exactly_once(merchant: MerchantClient, tap: Tap) -> None:
    pos = Pos(merchant, tap, TEST_MERCHANT)
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "PU000500", face=500)
    racers = [pos.refund_message(ticket_no=ticket["ticket_no"]) for _ in range(RACERS)]
    codes = await outcomes(pos, tap, await pos.send_at_once(racers))
    assert codes == Counter({1: 1, RtnCode.TICKET_ALREADY_REFUNDED: RACERS - 1})
    assert changes(tap, "TicketRefunded", ticket["ticket_no"]) == 1


@pytest.mark.usefixtures("second_instance")
async def test_write_offs_racing_refunds_of_one_ticket_leave_a_single_winner(
    merchant: MerchantClient, tap: Tap
) -> None:
    pos = Pos(merchant, tap, TEST_MERCHANT)
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "PU000500", face=500)
    racers = [
        pos.write_off_message(ticket["write_off_no"]) if i % 2 else pos.refund_message(ticket_no=ticket["ticket_no"])
        for i in range(RACERS)
    ]
    codes = await outcomes(pos, tap, await pos.send_at_once(racers))
    written = changes(tap, "TicketWrittenOff", ticket["ticket_no"])
    refunded = changes(tap, "TicketRefunded", ticket["ticket_no"])
    assert (written, refunded) in {(1, 0), (0, 1)}
    losers: dict[int, int] = (
        {RtnCode.TICKET_ALREADY_WRITTEN_OFF: RACERS // 2 - 1, RtnCode.REFUND_OF_WRITTEN_OFF: RACERS // 2}
        if written
        else {RtnCode.TICKET_ALREADY_REFUNDED: RACERS - 1}
    )
    assert codes == Counter({1: 1, **losers})


@pytest.mark.usefixtures("platform")
async def test_requests_for_one_ticket_in_one_batch_are_decided_in_arrival_order(
    merchant: MerchantClient, tap: Tap
) -> None:
    """One partition, sent at once: the consumer decides them in one batch, each on the state the previous left."""
    pos = Pos(merchant, tap, TEST_MERCHANT)
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "PU000500", face=500)
    number = ticket["write_off_no"]
    sequence = [
        pos.write_off_message(number),
        pos.write_off_message(number, action="2"),
        pos.write_off_message(number),
        pos.refund_message(ticket_no=ticket["ticket_no"]),
        pos.write_off_message(number),
    ]
    request_ids = await pos.send_at_once(sequence, partitions=1)
    replies = [await pos.reply(request_id) for request_id in request_ids]
    await redemption_events(tap, request_ids)
    assert [r["RtnCode"] for r in replies] == [
        1,
        1,
        1,
        RtnCode.REFUND_OF_WRITTEN_OFF,
        RtnCode.TICKET_ALREADY_WRITTEN_OFF,
    ]
    assert [r.get("UseStatus") for r in replies] == [2, 1, 2, 2, 2]
    assert changes(tap, "TicketWrittenOff", ticket["ticket_no"]) == 2
    assert changes(tap, "WriteOffCancelled", ticket["ticket_no"]) == 1
