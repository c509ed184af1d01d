"""A synthetic but valid history for the audit's tests and benchmark: orders paid, issued or failed, their tickets
written off, refunded, cancelled and expired, duplicate payments, refunds and payouts sent and confirmed.

Every decision is taken by the services' own code, as they would take it: redemption's `decide` on tickets from
`tickets_from_issued`, settlement's `inbound.fact_from`, `settle` and `outbound` for the ledger entries and the
instructions. Only the inputs (requests, payments, the bank's answers) are made up. Events come out per producing
service in the order that service would publish them; `records` links them as the relay does, for tests that need
no broker; `deploy.bench.audit.publish` appends them to real outboxes and runs the real relays.
"""

from __future__ import annotations

import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.records import Record
from services.audit.domain.verify import TOPIC_ORDER
from services.escrow_settlement import outbound as settlement_out
from services.escrow_settlement.domain.accounts import Account
from services.escrow_settlement.domain.batch import Slice, settle
from services.escrow_settlement.domain.facts import Fact, PayoutSent, RefundTransferSent, TransferFactBase
from services.escrow_settlement.domain.payouts import payout_id, refund_id
from services.escrow_settlement.domain.state import OrderBook, TransferBook
from services.escrow_settlement.domain.subjects import merchant_of, subject_of
from services.escrow_settlement.inbound import fact_from
from services.redemption.domain.commands import Command, ExpireEscrow, Refund, WriteOff, WriteOffAction
from services.redemption.domain.decide import decide
from services.redemption.domain.ticket import Ticket, tickets_from_issued
from shared import chain
from shared.clock import end_of_business_day
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.contracts.events import Event, Outgoing, Producer
from shared.contracts.issuance import IssuedTicket, IssueFailed, PaymentRef, TicketsIssued
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.settlement import TransferConfirmed, TransferKind
from shared.ids import derived_id
from shared.topics import AUDIT_CHECKPOINTS, BY_NAME

MERCHANTS = ("3000001", "3000002", "3000003")
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Taipei
ESCROW_DAYS = 7
FEE = RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000)
SERVICES = ("payment_confirmation", "issuance", "redemption", "escrow_settlement", "escrow_bank")


@dataclass
class History:
    prefix: str = ""  # prepended to each service's name, so a test's chains are its own
    events: dict[str, list[Outgoing]] = field(default_factory=lambda: {s: [] for s in SERVICES})
    balances: dict[str, dict[Account, int]] = field(default_factory=dict)  # owner -> its accounts
    books: dict[str, OrderBook] = field(default_factory=dict)
    transfers: dict[uuid.UUID, TransferBook] = field(default_factory=dict)
    orders: int = 0
    merchants: tuple[str, ...] = MERCHANTS

    def records(self) -> Iterator[tuple[str, Outgoing, chain.Link]]:
        """Each event with the link the relay gives it: per service, in publishing order."""
        for service, events in self.events.items():
            name = self.prefix + service
            rows = [(e.topic, e.key, e.value) for e in events]
            yield from (
                (name, e, x) for e, x in zip(events, chain.extend(name, 0, chain.genesis(name), rows), strict=True)
            )

    def emit(self, service: str, event: Event, cause: str, at: datetime) -> Outgoing:
        out = Producer(service.replace("_", "-")).event(event, derived_id(cause, event.event_type), at)
        self.events[service].append(out)
        return out

    def post(self, facts: list[Fact], at: datetime) -> None:
        """Settlement's batch: its core on the slice these facts touch, its events for the entries."""
        owners = {subject_of(f) for f in facts} | {merchant_of(f) for f in facts}
        instructions = {f.instruction_id for f in facts if isinstance(f, TransferFactBase)}
        loaded = Slice(
            books={s: self.books[s] for s in {subject_of(f) for f in facts} if s in self.books},
            transfers={i: self.transfers[i] for i in instructions if i in self.transfers},
            balances={a: v for owner in owners for a, v in self.balances.get(owner, {}).items()},
        )
        outcome = settle(loaded, facts)
        assert not outcome.violations, outcome.violations
        self.books.update(outcome.books)
        self.transfers.update(outcome.transfers)
        for a, v in outcome.balances.items():
            owned = self.balances.setdefault(a.owner, {})
            owned[a] = owned.get(a, 0) + v - loaded.balances.get(a, 0)
        self.events["escrow_settlement"] += [settlement_out.entry_posted(e, at) for e in outcome.entries]


def as_log(generated: History, key: Ed25519PrivateKey, at: datetime) -> tuple[Record, ...]:
    """The history as the log holds it, for a replay without a broker: per topic, partition by partition (the key's
    crc32, as the tests' partitioner), each service's final link signed by `key` (id "k1") at `at`."""
    by_topic: dict[str, list[tuple[int, Record]]] = {t: [] for t in TOPIC_ORDER}
    offsets: Counter[tuple[str, int]] = Counter()
    tails: dict[str, chain.Link] = {}
    for service, event, link in generated.records():
        partition = zlib.crc32(event.key.encode()) % BY_NAME[event.topic].partitions
        offset = offsets[(event.topic, partition)]
        offsets[(event.topic, partition)] += 1
        headers = (("event_type", event.event_type.encode()), *link.headers())
        record = Record(event.topic, partition, offset, 0, event.key.encode(), event.value, headers)
        by_topic[event.topic].append((partition, record))
        tails[service] = link
    records = [r for t in TOPIC_ORDER for _, r in sorted(by_topic[t], key=lambda pr: (pr[0], pr[1].offset))]
    for n, (service, tail) in enumerate(sorted(tails.items())):
        checkpoint = chain.Checkpoint(service, tail.seq, tail.link, at, "k1").signed(key)
        records.append(Record(AUDIT_CHECKPOINTS, 0, n, 0, service.encode(), checkpoint.to_bytes(), ()))
    return tuple(records)


def generate(orders: int, prefix: str = "", overpay: int = 0, merchants: int = len(MERCHANTS)) -> History:
    """`overpay`: each merchant's payout pays that much more than was due (a broken payout run, for the tests);
    `merchants`: how many the orders are spread over (3000001, 3000002, ...)."""
    h = History(prefix, merchants=tuple(f"{3000001 + n}" for n in range(merchants)))
    for i in range(orders):
        _order(h, i)
    # Paid out after the last escrow has ended: a payout may only pay what entries dated up to its day hold.
    _refunds_and_payouts(h, START + timedelta(seconds=30 * orders, days=ESCROW_DAYS + 3), overpay)
    return h


def _order(h: History, i: int) -> None:
    merchant, trade = h.merchants[i % len(h.merchants)], f"A{i:07d}"
    paid_at = START + timedelta(seconds=30 * i)
    faces = [100 * (1 + (i + j) % 5) for j in range(1 + i % 3)]
    payment = PaymentConfirmed(merchant_id=merchant, merchant_trade_no=trade, trade_no=f"T{i:09d}", amount=sum(faces),
                               payment_type="Credit_CreditCard", payment_date=paid_at, simulated=True,
                               escrow_days=ESCROW_DAYS)  # fmt: skip
    paid = h.emit("payment_confirmation", payment, f"pay/{i}", paid_at)
    events = [paid]
    if i % 41 == 7:  # the consumer paid twice: the second is a duplicate, refunded in full
        dup = payment.model_copy(update={"trade_no": f"D{i:09d}", "duplicate_of": payment.trade_no})
        events.append(h.emit("payment_confirmation", dup, f"dup/{i}", paid_at + timedelta(seconds=5)))
    issued_at = paid_at + timedelta(seconds=2)
    if i % 20 == 13:  # the order failed for good: its payment is refunded in full
        failed = IssueFailed(merchant_id=merchant, platform_id=None, merchant_trade_no=trade, free_trade_no=None,
                             request_id=f"r{i}", rtn_code=2002, reason="payment wait ran out", failed_at=issued_at,
                             final=True)  # fmt: skip
        events.append(h.emit("issuance", failed, f"fail/{i}", issued_at))
    else:
        events += _issue(h, i, merchant, trade, faces, payment, issued_at)
    h.post([f for e in events if (f := fact_from(e.envelope, _CUTOFF)) is not None], issued_at)
    h.orders += 1


def _issue(h: History, i: int, merchant: str, trade: str, faces: list[int], payment: PaymentConfirmed,
           at: datetime) -> list[Outgoing]:  # fmt: skip
    escrow_end = (at + timedelta(hours=8)).date() + timedelta(days=ESCROW_DAYS)
    tickets = tuple(IssuedTicket(ticket_no=f"K{i:07d}{j}", write_off_hash=f"H{i:07d}{j}", write_off_sealed="v1.", ticket_type=TicketType.PICKUP,
                                 item_no="P1", item_name="pickup", face_value=face, start_date=None, expire_date=None,
                                 refund_fee_rule=FEE) for j, face in enumerate(faces))  # fmt: skip
    issued = TicketsIssued(merchant_id=merchant, platform_id=None, ticket_trade_no=trade, merchant_trade_no=trade,
                           free_trade_no=None, request_id=f"r{i}", issue_type="1", issued_at=at,
                           payment=PaymentRef(trade_no=payment.trade_no, amount=payment.amount,
                                              payment_date=payment.payment_date),
                           escrow_days=ESCROW_DAYS, escrow_expiry_date=escrow_end, total_face_value=sum(faces),
                           tickets=tickets)  # fmt: skip
    events = [h.emit("issuance", issued, f"issue/{i}", at)]
    for j, ticket in enumerate(tickets_from_issued(issued)):
        events += _use(h, i * 7 + j, ticket, at + timedelta(minutes=5), escrow_end)
    return events


def _use(h: History, n: int, ticket: Ticket, at: datetime, escrow_end: date) -> list[Outgoing]:
    """One of the ticket's lives: written off (and maybe cancelled), refunded (and maybe cancelled), or expired."""

    def w(action: WriteOffAction, k: int) -> WriteOff:
        return WriteOff(ticket.write_off_hash, action, None, "op", None, f"q{n}/{k}", ticket.merchant_id, None)

    def r(cancel: bool, k: int) -> Refund:
        return Refund(ticket.ticket_no, None, cancel, "op", f"q{n}/{k}", ticket.merchant_id, None)

    plans: list[list[Command]] = [
        [w(WriteOffAction.WRITE_OFF, 0)],
        [w(WriteOffAction.WRITE_OFF, 0), w(WriteOffAction.CANCEL, 1)],
        [r(False, 0)],
        [r(False, 0), r(True, 1), w(WriteOffAction.WRITE_OFF, 2)],
        [ExpireEscrow(ticket.ticket_no)],
    ]
    events = []
    for k, command in enumerate(plans[n % len(plans)]):
        when = end_of_business_day(escrow_end) + timedelta(minutes=1) if isinstance(command, ExpireEscrow) else at
        decision = decide(ticket, command, when + timedelta(seconds=k))
        assert decision.ticket is not None and decision.rejection is None, decision
        ticket = decision.ticket
        events += [h.emit("redemption", e, f"use/{n}/{k}/{x}", when) for x, e in enumerate(decision.events)]
    return events


def _refunds_and_payouts(h: History, at: datetime, overpay: int) -> None:
    day = at.date()
    for _, book in sorted(h.books.items()):
        if owed := book.owed_back:
            i = refund_id(book.order, day, 0)
            _transfer(h, RefundTransferSent(cause_id=str(i), on=day, instruction_id=i, order=book.order, attempt=0,
                                            amount=owed), at)  # fmt: skip
    due: Counter[tuple[str, str]] = Counter()
    for account, raw in ((a, v) for owned in h.balances.values() for a, v in owned.items()):
        if account.kind.value in ("merchant_payable", "merchant_fee_income"):
            due[(account.owner, account.kind.value)] -= raw  # credit-normal: the natural balance is -raw
    for m in h.merchants:
        if not (due[(m, "merchant_payable")] or due[(m, "merchant_fee_income")] or overpay):
            continue  # nothing due: a payout run instructs no payout of NT$0
        i = payout_id(m, day, 0)
        _transfer(h, PayoutSent(cause_id=str(i), on=day, instruction_id=i, merchant_id=m, attempt=0,
                                payable_part=due[(m, "merchant_payable")] + overpay,
                                fee_part=due[(m, "merchant_fee_income")]), at)  # fmt: skip


def _transfer(h: History, sent: PayoutSent | RefundTransferSent, at: datetime) -> None:
    h.post([sent], at)
    h.events["escrow_settlement"].append(settlement_out.instructed(sent, at))
    order = None if isinstance(sent, PayoutSent) else sent.order
    confirmed = TransferConfirmed(instruction_id=sent.instruction_id,
                                  transfer=TransferKind.PAYOUT if order is None else TransferKind.REFUND,
                                  merchant_id=merchant_of(sent), ticket_trade_no=order.ticket_trade_no if order else None,
                                  amount=sent.amount, at=at + timedelta(hours=1))  # fmt: skip
    out = h.emit("escrow_bank", confirmed, f"bank/{sent.instruction_id}", at + timedelta(hours=1))
    fact = fact_from(out.envelope, _CUTOFF)
    assert fact is not None
    h.post([fact], at + timedelta(hours=1))


_CUTOFF = datetime.min.time()
