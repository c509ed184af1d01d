"""Settlement in tests: synthetic order histories as the contract events upstream services publish (and the bank's
statement line crediting each payment, as the escrow bank would book it), the ledger the pure core derives from
them, and the ledger the service stored (read back from its schema)."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from services.escrow_settlement.domain.accounts import natural
from services.escrow_settlement.domain.facts import Fact
from services.escrow_settlement.domain.postings import post_all
from services.escrow_settlement.domain.state import LedgerState
from services.escrow_settlement.inbound import fact_from
from shared.clock import business_date
from shared.contracts.bank import BankStatementClosed, BankStatementLine, StatementDirection, credit_line_id
from shared.contracts.common import RefundFeeRule, TicketType
from shared.contracts.events import Event, Outgoing, wrap
from shared.contracts.issuance import IssuedTicket, PaymentRef, TicketsIssued
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.redemption import (
    ExpiryKind,
    RefundCancelled,
    TicketExpired,
    TicketRefunded,
    TicketWrittenOff,
    WriteOffCancelled,
)
from shared.infra.seal import sealed_headers

Entry = tuple[str, str, date, frozenset[tuple[str, int]]]  # kind, cause id, business date, postings
_numbers = itertools.count(1)


def synthetic_merchant() -> str:
    """A merchant id for a ledger test: settlement needs no registered merchant, so each test has its own."""
    return "8" + "".join(secrets.choice("0123456789") for _ in range(9))


@dataclass
class History:
    """Contract events of synthetic orders of one merchant, in their natural order (`events`)."""

    merchant_id: str
    at: datetime  # when everything happens, unless a call says otherwise
    events: list[Outgoing] = field(default_factory=list)
    tickets: dict[str, IssuedTicket] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)  # ticket no -> trade no
    trade_nos: dict[str, str] = field(default_factory=dict)  # trade no (MerchantTradeNo) -> the processor's TradeNo

    def add(self, event: Event, at: datetime | None = None) -> Outgoing:
        out = wrap(event, event_id=uuid.uuid4(), occurred_at=at or self.at, producer="test",
                   correlation_id=event.key(), causation_id=None)  # fmt: skip
        self.events.append(out)
        return out

    def paid_order(
        self, *faces: int, gifts: int = 0, paid: int | None = None, credited: bool = True, banked: int | None = None
    ) -> list[str]:
        """Payment + TicketsIssued for pickup vouchers of these faces (and gift vouchers); the ticket numbers.
        The bank's credit line of the payment comes with it (`credited`), of the paid amount (or `banked`)."""
        trade_no = f"S{next(_numbers):06d}{secrets.token_hex(3).upper()}"
        amount = sum(faces) if paid is None else paid
        escrow_end = (self.at + timedelta(days=90)).date()
        tickets = [self._ticket(TicketType.PICKUP, face) for face in faces]
        tickets += [self._ticket(TicketType.GIFT, 0) for _ in range(gifts)]
        if amount:
            self.add(PaymentConfirmed(merchant_id=self.merchant_id, merchant_trade_no=trade_no, trade_no="E" + trade_no,
                                      amount=amount, payment_type="Credit_CreditCard", payment_date=self.at,
                                      simulated=True))  # fmt: skip
            if credited:
                self.bank_credit(banked or amount, trade_no, "E" + trade_no)
        self.trade_nos[trade_no] = "E" + trade_no
        payment = PaymentRef(trade_no="E" + trade_no, amount=amount, payment_date=self.at) if amount else None
        self.add(TicketsIssued(
            merchant_id=self.merchant_id, platform_id=None, ticket_trade_no=trade_no,
            merchant_trade_no=trade_no if amount else None, free_trade_no=None if amount else trade_no,
            request_id=f"R{trade_no}", issue_type="3", issued_at=self.at, payment=payment,
            escrow_days=90 if faces else None, escrow_expiry_date=escrow_end if faces else None,
            total_face_value=sum(faces), tickets=tuple(tickets),
        ))  # fmt: skip
        for t in tickets:
            self.tickets[t.ticket_no], self.orders[t.ticket_no] = t, trade_no
        return [t.ticket_no for t in tickets]

    def bank_credit(
        self, amount: int, merchant_trade_no: str | None, trade_no: str, on: date | None = None
    ) -> Outgoing:
        """The escrow bank's statement line for money it received (as deploy/simulators/bank books it)."""
        line = BankStatementLine(
            statement_date=on or business_date(self.at), line_id=credit_line_id(trade_no),
            direction=StatementDirection.CREDIT, amount=amount, booked_at=self.at, merchant_id=self.merchant_id,
            merchant_trade_no=merchant_trade_no, trade_no=trade_no,
        )  # fmt: skip
        return self.add(line)

    def _ticket(self, kind: TicketType, face: int) -> IssuedTicket:
        no = f"T{next(_numbers):07d}{secrets.token_hex(4).upper()}"
        return IssuedTicket(ticket_no=no, write_off_hash="H" + no, write_off_sealed="v1.", ticket_type=kind, item_no=None, item_name="x",
                            face_value=face, start_date=None, expire_date=None, refund_fee_rule=RefundFeeRule())  # fmt: skip

    def _common(self, ticket_no: str, within: bool, at: datetime | None) -> dict[str, Any]:
        t, trade_no = self.tickets[ticket_no], self.orders[ticket_no]
        return {
            "merchant_id": self.merchant_id, "platform_id": None, "ticket_trade_no": trade_no,
            "merchant_trade_no": trade_no, "free_trade_no": None, "ticket_no": ticket_no, "write_off_hash": t.write_off_hash,
            "ticket_type": t.ticket_type, "face_value": t.face_value,
            "escrow_expiry_date": (self.at + timedelta(days=90)).date() if t.ticket_type is TicketType.PICKUP else None,
            "within_escrow": within and t.ticket_type is TicketType.PICKUP, "request_id": "R" + ticket_no,
            "at": at or self.at,
        }  # fmt: skip

    def written_off(self, no: str, within: bool = True, at: datetime | None = None) -> Outgoing:
        return self.add(TicketWrittenOff(**self._common(no, within, at), store_id=None, operator="pos"), at)

    def write_off_cancelled(self, no: str, within: bool = True) -> Outgoing:
        return self.add(WriteOffCancelled(**self._common(no, within, None), written_off_at=self.at, operator="pos",
                                          cancel_reason=None))  # fmt: skip

    def refunded(self, no: str, fee: int) -> Outgoing:
        face = self.tickets[no].face_value
        return self.add(TicketRefunded(**self._common(no, True, None), fee=fee, refund_amount=face - fee, operator="d"))

    def refund_cancelled(self, no: str, fee: int) -> Outgoing:
        face = self.tickets[no].face_value
        return self.add(RefundCancelled(**self._common(no, True, None), refunded_at=self.at, fee=fee,
                                        refund_amount=face - fee, operator="d"))  # fmt: skip

    def expired(self, no: str, at: datetime) -> Outgoing:
        kind = ExpiryKind.ESCROW if self.tickets[no].ticket_type is TicketType.PICKUP else ExpiryKind.USAGE
        return self.add(TicketExpired(**self._common(no, False, at), kind=kind), at)


def core_ledger(events: Iterable[Outgoing], cutoff: time = time(0)) -> tuple[dict[uuid.UUID, Entry], dict[str, int]]:
    """What the pure core makes of these events in this order: entries by id, and natural balances (non-zero)."""
    return facts_ledger([f for e in events if (f := fact_from(e.envelope, cutoff)) is not None])


def facts_ledger(facts: Sequence[Fact]) -> tuple[dict[uuid.UUID, Entry], dict[str, int]]:
    state, outcomes = post_all(LedgerState(), list(facts))
    entries = {
        e.entry_id: (e.kind.value, e.cause_id, e.on, frozenset((str(p.account), p.amount) for p in e.postings))
        for o in outcomes
        for e in o.entries
    }
    return entries, {str(a): natural(a, raw) for a, raw in state.balances.items() if raw}


async def stored_ledger(db: asyncpg.Pool, merchant_ids: Sequence[str]) -> tuple[dict[uuid.UUID, Entry], dict[str, int]]:
    """The service's entries of these merchants, and the natural balances those entries sum to (non-zero)."""
    rows = await db.fetch(
        "SELECT e.entry_id, e.kind, e.cause_id, e.business_date, p.kind AS account, p.owner, p.amount"
        " FROM escrow_settlement.journal_entries e LEFT JOIN escrow_settlement.postings p USING (entry_id)"
        " WHERE e.merchant_id = ANY($1::text[])",
        list(merchant_ids),
    )
    lines: dict[uuid.UUID, tuple[str, str, date, set[tuple[str, int]]]] = {}
    totals: dict[str, int] = {}
    for r in rows:
        entry = lines.setdefault(r["entry_id"], (r["kind"], r["cause_id"], r["business_date"], set()))
        if r["account"] is not None:
            account = f"{r['account']}:{r['owner']}"
            entry[3].add((account, r["amount"]))
            totals[account] = totals.get(account, 0) + r["amount"]
    entries = {i: (k, c, d, frozenset(p)) for i, (k, c, d, p) in lines.items()}
    return entries, {a: (v if a.startswith("bank_cash:") else -v) for a, v in totals.items() if v}


async def account_balances(db: asyncpg.Pool, merchant_ids: Sequence[str]) -> dict[str, int]:
    """Natural balances of the merchants' own accounts as the database keeps them (non-zero)."""
    rows = await db.fetch(
        "SELECT kind, owner, balance FROM escrow_settlement.accounts WHERE merchant_id = ANY($1::text[])"
        " AND balance <> 0",
        list(merchant_ids),
    )
    return {f"{r['kind']}:{r['owner']}": -r["balance"] for r in rows}


async def publish(producer: AIOKafkaProducer, events: Iterable[Outgoing]) -> None:
    """Publish contract events as their upstream service would (topic, key), all in flight at once."""
    sent = []
    for e in events:
        value, key = e.envelope.to_bytes(), e.key.encode()
        sent.append(await producer.send(e.topic, value, key=key, headers=sealed_headers(e.topic, key, value)))
    await asyncio.gather(*sent)


async def settled(
    db: asyncpg.Pool,
    merchant_ids: Sequence[str],
    expected: dict[uuid.UUID, Entry],
    seconds: float = 30,
    credits: int | None = None,
) -> tuple[dict[uuid.UUID, Entry], dict[str, int]]:
    """The stored ledger once it holds (at least) the expected entries, and reconciliation holds the bank's credit
    of `credits` payments (default: every payment among the expected entries); or whatever it holds at the deadline.
    (A payout run must not start before the credits are in: the money of a payment the bank has not matched is held.)
    """
    received = sum(1 for _, _, _, postings in expected.values() if any(
        account.startswith("bank_cash:") and amount > 0 for account, amount in postings))  # fmt: skip
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        entries, balances = await stored_ledger(db, merchant_ids)
        done = expected.keys() <= entries.keys()
        if done and await credited(db, merchant_ids) < (received if credits is None else credits):
            done = False
        if done or loop.time() > deadline:
            return entries, balances
        await asyncio.sleep(0.1)


async def credited(db: asyncpg.Pool, merchant_ids: Sequence[str]) -> int:
    """Payments of these merchants whose bank credit line reconciliation holds (matched or not)."""
    count: int = await db.fetchval(
        "SELECT count(*) FROM escrow_settlement.recon_items WHERE merchant_id = ANY($1::text[])"
        " AND direction = 'credit' AND ledger_amount IS NOT NULL AND bank_amount IS NOT NULL",
        list(merchant_ids),
    )
    return count


def statement_closed(day: date, events: Iterable[Outgoing], at: datetime) -> Outgoing:
    """The bank's closing of `day`, counting the statement lines of that day among `events`."""
    lines = [p for e in events if e.event_type == "BankStatementLine"
             and (p := e.envelope.payload)["statement_date"] == day.isoformat()]  # fmt: skip

    def total(direction: str) -> int:
        return sum(int(p["amount"]) for p in lines if p["direction"] == direction)

    closing = BankStatementClosed(statement_date=day, lines=len(lines), credits_total=total("credit"),
                                  debits_total=total("debit"), closed_at=at)  # fmt: skip
    return wrap(closing, event_id=uuid.uuid4(), occurred_at=at, producer="test", correlation_id=closing.key(),
                causation_id=None)  # fmt: skip


async def payout_run(db: asyncpg.Pool, day: date, merchant_ids: Sequence[str], seconds: float = 60) -> dict[str, Any]:
    """Ask the service for a payout run of these merchants (as `cli payout-run` does) and wait for its summary."""
    run_id = await db.fetchval(
        "INSERT INTO escrow_settlement.payout_runs (business_date, merchant_ids, requested_by, requested_at)"
        " VALUES ($1, $2, 'test', now()) RETURNING run_id",
        day,
        list(merchant_ids),
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (summary := await db.fetchval(
        "SELECT summary FROM escrow_settlement.payout_runs WHERE run_id = $1 AND finished_at IS NOT NULL", run_id
    )) is None:  # fmt: skip
        assert loop.time() < deadline, f"payout run {run_id} not finished in {seconds}s"
        await asyncio.sleep(0.1)
    return dict(json.loads(summary))


SCENARIOS = (
    (), ("write_off",), ("write_off", "cancel_write_off"), ("refund",), ("refund", "cancel_refund"),
    ("write_off", "cancel_write_off", "refund"), ("expire",), ("refund", "cancel_refund", "expire"),
    ("expire", "late_write_off"),
)  # fmt: skip


def random_history(merchant_id: str, at: datetime, orders: int, seed: int) -> History:
    """`orders` paid orders of 1-3 pickup vouchers (sometimes a gift voucher too), each voucher living one of
    SCENARIOS; escrow expiries happen 92 days after `at`. Events in their natural order."""
    chance, h = random.Random(seed), History(merchant_id, at)
    later = at + timedelta(days=92)
    for _ in range(orders):
        faces = [chance.choice((100, 250, 500, 1200)) for _ in range(chance.randint(1, 3))]
        tickets = h.paid_order(*faces, gifts=chance.randint(0, 1))
        for no, face in zip(tickets, faces, strict=False):
            fee = chance.randint(0, face // 10)
            for step in chance.choice(SCENARIOS):
                if step == "write_off":
                    h.written_off(no)
                elif step == "cancel_write_off":
                    h.write_off_cancelled(no)
                elif step == "refund":
                    h.refunded(no, fee)
                elif step == "cancel_refund":
                    h.refund_cancelled(no, fee)
                elif step == "expire":
                    h.expired(no, later)
                else:
                    h.written_off(no, within=False, at=later)
    return h
