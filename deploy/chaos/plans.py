"""The orders of a run and what happens to each (pure, from the seed): which merchant, and its ticket's story."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from shared.contracts.common import UseStatus

WRITE_OFF, WRITE_OFF_CANCEL, REFUND, REFUND_CANCEL, KEEP, EXPIRE = (
    "write_off", "write_off_cancel", "refund", "refund_cancel", "keep", "expire"
)  # fmt: skip
WEIGHTS = {WRITE_OFF: 35, WRITE_OFF_CANCEL: 15, REFUND: 20, REFUND_CANCEL: 10, KEEP: 20}
EXPIRY_SHARE = 0.1  # of the orders: tickets left unused at a merchant whose clock is advanced past escrow
EXPIRY_WAVES = (0.4, 0.8)  # expiry merchant i takes orders until this share of the stream, then its clock moves

# The requests each story sends, in order: (operation, Action), each sent once the previous one is answered.
STEPS: dict[str, tuple[tuple[str, str], ...]] = {
    WRITE_OFF: (("WriteOff", "1"),),
    WRITE_OFF_CANCEL: (("WriteOff", "1"), ("WriteOff", "2")),
    REFUND: (("Refund", "1"),),
    REFUND_CANCEL: (("Refund", "1"), ("Refund", "2")),
    KEEP: (),
    EXPIRE: (),
}
# What a granted request makes of the ticket, and the one event it publishes (a second one under another id would
# move money twice). A refused request changes nothing and publishes a RedemptionRejected.
GRANTED: dict[tuple[str, str], tuple[UseStatus, str]] = {
    ("WriteOff", "1"): (UseStatus.WRITTEN_OFF, "TicketWrittenOff"),
    ("WriteOff", "2"): (UseStatus.UNUSED, "WriteOffCancelled"),
    ("Refund", "1"): (UseStatus.REFUNDED, "TicketRefunded"),
    ("Refund", "2"): (UseStatus.UNUSED, "RefundCancelled"),
}
OK = "1"
TICKET_NOT_FOUND = "3001"  # redemption's bounded wait for a ticket's TicketsIssued ran out (a fault delayed it)


@dataclass
class Order:
    index: int
    merchant_id: str
    trade_no: str
    story: str
    ticket_no: str = ""
    write_off_no: str = ""
    stuck: str = ""  # the step whose wait ran out, if one did
    answers: list[str] = field(default_factory=list)  # the RtnCode finally answered to each step
    refused: int = 0  # requests refused and sent again (a new request: what a merchant's terminal would do)

    def expected(self) -> tuple[tuple[UseStatus, bool], Counter[str]]:
        """The ticket's (status, escrow released) and its events, as redemption's core decides them for the
        requests it answered: each granted step applied in order, refused ones leave it as it was."""
        status, events = UseStatus.UNUSED, Counter[str]()
        for (operation, action), answer in zip(STEPS[self.story], self.answers, strict=False):
            if answer == OK:
                status, event = GRANTED[(operation, action)]
                events[event] += 1
        if self.story == EXPIRE:
            events["TicketExpired"] += 1
        return (status, self.story == EXPIRE), events


def orders(seed: int, count: int, run: str, merchants: list[str], expiry_merchants: list[str]) -> list[Order]:
    """`count` orders; trade numbers carry the run's tag (unique per run, whatever the seed)."""
    rng = random.Random(seed)
    stories, weights = list(WEIGHTS), list(WEIGHTS.values())
    made = []
    for i in range(count):
        progress = i / count
        wave = next((m for m, end in zip(expiry_merchants, EXPIRY_WAVES, strict=False) if progress < end), None)
        if wave is not None and rng.random() < EXPIRY_SHARE:
            merchant, story = wave, EXPIRE
        else:
            merchant, story = rng.choice(merchants), rng.choices(stories, weights)[0]
        made.append(Order(i, merchant, f"CH{run}{i:08d}", story))
    return made
