"""Bank reconciliation: load -> reassess (domain/reconciliation.py) -> save, for each way an item changes.

- The ledger's side, in the transaction that posts the payment or the bank's confirmation (`on_ledger_events`,
  called by the ledger's consumer handler): a PaymentConfirmed is the ledger side of `credit/<TradeNo>`, a
  TransferConfirmed of `debit/<instruction id>`.
- The bank's side and its closings, from the statement topic (`on_statement`, the route's batch handler).
- An operator's resolution (`resolve`, from `cli reconciliation resolve`).
Every new difference becomes an exception and a critical alert (the tables and events operations already watch);
a difference that matches later, a resolution and an incomplete statement raise alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.escrow_settlement import outbound
from services.escrow_settlement.domain.reconciliation import (
    Closing,
    Direction,
    Item,
    Notice,
    ReconciliationKind,
    Side,
    again_key,
    incomplete,
    reassess,
)
from services.escrow_settlement.outbound import AlertRow, ExceptionRow
from services.escrow_settlement.store import notices
from services.escrow_settlement.store import reconciliation as store
from shared.clock import Clock, business_date
from shared.contracts.bank import BankStatementClosed, BankStatementLine, StatementDirection
from shared.contracts.common import order_key
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing, payload_of
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.settlement import AlertSeverity, TransferConfirmed
from shared.infra.messages import Inbound, Parsed

LEDGER_SIDES = frozenset({PaymentConfirmed.event_type, TransferConfirmed.event_type})


def ledger_item(envelope: EventEnvelope, now: datetime) -> Item | None:
    """The ledger's side of the item a consumed event is, if it is one."""
    if envelope.event_type not in LEDGER_SIDES:
        return None  # most events are not (and their payload need not be read a second time)
    event, cause = payload_of(envelope), str(envelope.event_id)
    if isinstance(event, PaymentConfirmed):
        # Expected on the payment's statement day; a sandbox test clock may date it ahead of the bank's real day.
        on = min(business_date(event.payment_date), business_date(now))
        paid = order_key(event.merchant_id, event.merchant_trade_no)
        side = Side(event.amount, on, cause)
        return Item(f"credit/{event.trade_no}", Direction.CREDIT, event.merchant_id, paid, ledger=side)
    if isinstance(event, TransferConfirmed):
        refunded = order_key(event.merchant_id, event.ticket_trade_no) if event.ticket_trade_no else None
        side = Side(event.amount, business_date(event.at), cause)
        return Item(f"debit/{event.instruction_id}", Direction.DEBIT, event.merchant_id, refunded, ledger=side)
    return None


def bank_item(line: BankStatementLine, cause: str) -> Item:
    direction = Direction.CREDIT if line.direction is StatementDirection.CREDIT else Direction.DEBIT
    order = order_key(line.merchant_id, line.merchant_trade_no) if line.merchant_id and line.merchant_trade_no else None
    side = Side(line.amount, line.statement_date, cause)
    return Item(line.line_id, direction, line.merchant_id, order, bank=side)


async def on_ledger_events(
    conn: asyncpg.Connection, envelopes: Iterable[EventEnvelope], now: datetime
) -> list[Outgoing]:
    """Record the ledger's side of the payments and confirmed transfers among these events (the caller's
    transaction posts them); events for the outbox."""
    items = [item for envelope in envelopes if (item := ledger_item(envelope, now)) is not None]
    if not items:
        return []
    await store.lock_for_items(conn)
    first, repeats = _first_per_key(items)
    stored = await store.add_sides(conn, first, ledger=True, now=now)
    kept = {i.key: i.ledger.cause_id for i in stored if i.ledger is not None}
    # A key whose stored ledger side is another event's: the ledger took the same TradeNo twice. The bank received
    # that money once, so the repeat gets an item no bank line can match.
    repeats += [i for i in first if i.ledger is not None and kept.get(i.key) != i.ledger.cause_id]
    if repeats:
        again = [Item(again_key(i.key, i.ledger.cause_id), i.direction, i.merchant_id, i.order_key, ledger=i.ledger)
                 for i in repeats if i.ledger is not None]  # fmt: skip
        stored += await store.add_sides(conn, list({i.key: i for i in again}.values()), ledger=True, now=now)
    return await _reassess(conn, stored, now)


@dataclass
class Statements:
    """The statement topic's route."""

    clock: Clock

    async def on_statement(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[EventEnvelope]]]
    ) -> list[Outgoing]:
        return await read_statement(conn, items, self.clock.now())


async def read_statement(
    conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[EventEnvelope]]], now: datetime
) -> list[Outgoing]:
    """The bank's statement lines and closings, in their order (a day's closing follows its lines)."""
    events: list[Outgoing] = []
    lines: list[Item] = []
    if any(parsed.body.event_type == BankStatementClosed.event_type for _, parsed in items):
        # The closing's lock before any other: taken after the shared one, it could wait on a ledger writer that
        # waits on a row this batch wrote (a deadlock Postgres would break by failing one of them).
        await store.lock_for_closing(conn)
    for _, parsed in items:
        event, cause = payload_of(parsed.body), str(parsed.body.event_id)
        if isinstance(event, BankStatementLine):
            lines.append(bank_item(event, cause))
        elif isinstance(event, BankStatementClosed):
            events += await _bank_sides(conn, lines, now)
            lines = []
            events += await _closing(conn, event, cause, now)
    return events + await _bank_sides(conn, lines, now)


async def _bank_sides(conn: asyncpg.Connection, lines: list[Item], now: datetime) -> list[Outgoing]:
    if not lines:
        return []
    await store.lock_for_items(conn)
    first, _ = _first_per_key(lines)  # the bank books a line id once: a second line with it changes nothing
    return await _reassess(conn, await store.add_sides(conn, first, ledger=False, now=now), now)


async def _closing(conn: asyncpg.Connection, event: BankStatementClosed, cause: str, now: datetime) -> list[Outgoing]:
    await store.lock_for_closing(conn)
    day = event.statement_date
    said = Closing(day, event.lines, event.credits_total, event.debits_total)
    if not await store.record_closing(conn, said, event.closed_at, cause, now):
        return []
    found = incomplete(said, await store.received_on(conn, day))
    events = await _raise(conn, [(found, f"reconciliation/statement/{day.isoformat()}", "*")] if found else [], now)
    return events + await _reassess(conn, await store.decided_by_closing(conn, day), now)


async def _reassess(conn: asyncpg.Connection, items: Sequence[Item], now: datetime) -> list[Outgoing]:
    days = {side.on for i in items for side in (i.ledger, i.bank) if side is not None}
    closed = await store.closed_among(conn, days)
    changed, raised = [], []
    for item in items:
        new, found = reassess(item, closed)
        if new.status != item.status:
            changed.append(new)
        raised += [(n, f"reconciliation/{new.key}", new.merchant_id or "*") for n in found]
    await store.save_statuses(conn, changed, now)
    return await _raise(conn, raised, now)


async def _raise(conn: asyncpg.Connection, found: Sequence[tuple[Notice, str, str]], now: datetime) -> list[Outgoing]:
    """Each notice as an alert (and an exception when it is one): rows for operations, events for the outbox."""
    events, alerts, problems = [], [], []
    for n, cause, merchant in found:
        kind = n.kind.value
        if n.exception:
            problems.append(ExceptionRow(kind, cause, n.subject, merchant, n.detail))
            events.append(outbound.exception_raised(kind, cause, n.subject, merchant, n.detail, now))
        alert_id = outbound.alert_id(cause, kind, n.subject)
        alerts.append(AlertRow(alert_id, kind, n.severity, n.subject, merchant, n.detail, cause))
        events.append(outbound.alert_raised(cause, kind, n.subject, merchant, n.detail, now, n.severity))
    await notices.record_exceptions(conn, problems, now)
    await notices.record_alerts(conn, alerts, now)
    return events


async def resolve(conn: asyncpg.Connection, key: str, note: str, now: datetime) -> list[Outgoing] | None:
    """An operator's decision on an item that is not matched (its money is no longer held); None if none such."""
    item = await store.resolve(conn, key, note, now)
    if item is None:
        return None
    detail = f"{key} ({item.status}) resolved by operations: {note}"
    notice = Notice(ReconciliationKind.RESOLVED, AlertSeverity.NOTICE, item.subject, detail, exception=False)
    return await _raise(
        conn, [(notice, f"reconciliation/{key}/resolved/{now.isoformat()}", item.merchant_id or "*")], now
    )


def _first_per_key(items: Iterable[Item]) -> tuple[list[Item], list[Item]]:
    """The first item of each key (one statement cannot write a row twice), and the later ones."""
    first: dict[str, Item] = {}
    later = []
    for item in items:
        if item.key in first:
            later.append(item)
        else:
            first[item.key] = item
    return list(first.values()), later
