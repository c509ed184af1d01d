"""What the run must show (pure): every order paid, issued and every request answered exactly once, each ticket's
events exactly those its story publishes (a second TicketRefunded or TicketWrittenOff under another id would move
money twice), no event id under two payloads. Each check counts what was lost and what was duplicated."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from deploy.chaos.observer import Observed
from deploy.chaos.plans import OK, STEPS, Order
from deploy.chaos.stream import Sent

EXAMPLES = 5
REJECTED = "RedemptionRejected"  # what a refused request publishes


@dataclass
class Check:
    name: str
    checked: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0  # neither lost nor repeated, but not what it should be (a refusal, another state)
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.lost == self.duplicated == self.wrong == 0

    def count(self, key: str, seen: int, expected: int = 1, why: str = "") -> None:
        self.checked += 1
        if seen < expected:
            self.lost += 1
            self.note(f"{key}: {seen} of {expected}" + (f" ({why})" if why else ""))
        elif seen > expected:
            self.duplicated += 1
            self.note(f"{key}: {seen}, expected {expected}")

    def note(self, example: str, *, wrong: bool = False) -> None:
        self.wrong += wrong
        if len(self.examples) < EXAMPLES:
            self.examples.append(example)


def stream_checks(orders: list[Order], sent: list[Sent], seen: Observed) -> list[Check]:
    paid = [o for o in orders if not o.stuck.startswith("checkout")]
    payments, issued, answered, refused = (Check("payments confirmed once"), Check("orders issued once"),
                                           Check("requests answered once"), Check("final answers were grants"))  # fmt: skip
    for order in paid:
        payments.count(order.trade_no, len(seen.payments.get(order.trade_no, ())))
        failed = "; ".join(seen.failed.get(order.trade_no, ()))
        issued.count(order.trade_no, len(seen.issued.get(order.trade_no, {})), why=failed and f"IssueFailed {failed}")
    for request in sent:
        replies = seen.replies.get(request.request_id, {})
        answered.count(f"{request.operation} {request.request_id} ({request.trade_no})", len(replies))
    for order in paid:
        for (operation, action), answer in zip(STEPS[order.story], order.answers, strict=False):
            refused.checked += 1
            if answer != OK:
                refused.note(f"{operation}/{action} {order.trade_no}: RtnCode {answer}", wrong=True)
    return [payments, issued, answered, refused, ticket_events(paid, seen), conflicts(seen)]


def ticket_events(orders: Iterable[Order], seen: Observed) -> Check:
    check = Check("ticket events once each (money moved once)")
    for order in orders:
        if not order.ticket_no:
            continue
        got = Counter(seen.ticket_events.get(order.ticket_no, {}).values())
        wanted = order.expected()[1]
        refusals = order.refused + sum(answer != OK for answer in order.answers)
        if got.pop(REJECTED, 0) > refusals:
            check.note(f"{order.ticket_no} ({order.story}): more {REJECTED} than refusals", wrong=True)
        for kind in sorted(set(got) | set(wanted)):
            if kind in wanted:
                check.count(f"{order.ticket_no} {kind}", got[kind], wanted[kind])
            else:
                check.note(f"{order.ticket_no} ({order.story}): unexpected {kind} x{got[kind]}", wrong=True)
    return check


def conflicts(seen: Observed) -> Check:
    check = Check("event ids with one payload", checked=len(seen.digests))
    for event_id in seen.conflicts():
        check.duplicated += 1
        check.note(f"event {event_id} published with two different payloads")
    return check
