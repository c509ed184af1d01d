"""The database's own defences behind the core (unbalanced entries, an append-only journal, escrow never negative),
and what a violated invariant does: the order is quarantined and alerted, its facts wait, operations release it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import pytest

from services.escrow_settlement.domain.accounts import BANK_CASH, OrderRef, escrow_held
from services.escrow_settlement.domain.reconciliation import Direction, Item, Side
from services.escrow_settlement.store import journal, reconciliation
from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Tap
from shared.settings import Settings
from tests.support.processes import run_module
from tests.support.settlement import History, core_ledger, publish, settled, stored_ledger, synthetic_merchant

pytestmark = pytest.mark.usefixtures("platform")
TODAY = datetime.now(UTC).date()


@contextlib.asynccontextmanager
async def rolled_back(db: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back at the end: the test leaves nothing in the ledger."""
    async with db.acquire() as conn, rolled_back_on(conn):
        yield conn


@contextlib.asynccontextmanager
async def rolled_back_on(conn: asyncpg.Connection) -> AsyncIterator[None]:
    tx = conn.transaction()
    await tx.start()
    try:
        yield
    finally:
        await tx.rollback()


async def entry_with(conn: asyncpg.Connection, owner: str, *postings: tuple[str, int]) -> uuid.UUID:
    """A journal entry written straight into the tables: postings ("escrow" or "bank", raw amount)."""
    await conn.execute(
        "INSERT INTO escrow_settlement.accounts (kind, owner, merchant_id) VALUES ('escrow_held', $1, 'X'),"
        " ('bank_cash', 'escrow-bank', NULL) ON CONFLICT DO NOTHING",
        owner,
    )
    entry_id = await journal_entry(conn)
    if postings:  # in one statement, as the ledger writes an entry (the database checks each statement)
        accounts = {"bank": ("bank_cash", "escrow-bank"), "escrow": ("escrow_held", owner)}
        await postings_of(conn, entry_id, *((*accounts[account], amount) for account, amount in postings))
    return entry_id


async def journal_entry(conn: asyncpg.Connection) -> uuid.UUID:
    """A journal entry with no postings yet, straight into the table."""
    entry_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO escrow_settlement.journal_entries (entry_id, cause_id, business_date, kind, merchant_id)"
        " VALUES ($1, 'sql', $2, 'payment', 'X')",
        entry_id,
        TODAY,
    )
    return entry_id


async def postings_of(conn: asyncpg.Connection, entry_id: uuid.UUID, *postings: tuple[str, str, int]) -> None:
    """Postings (account kind, owner, raw amount) added to an entry in one statement, straight into the table."""
    await conn.execute(
        "INSERT INTO escrow_settlement.postings (entry_id, line, kind, owner, amount, business_date, entry_kind)"
        " SELECT $1, (SELECT coalesce(max(line), -1) FROM escrow_settlement.postings WHERE entry_id = $1) + line,"
        " kind, owner, amount, $5, 'payment'"
        " FROM unnest($2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS p(kind, owner, amount, line)",
        entry_id, [k for k, _, _ in postings], [o for _, o, _ in postings], [a for _, _, a in postings], TODAY,
    )  # fmt: skip


async def test_the_database_refuses_an_unbalanced_entry_and_nothing_of_its_transaction_stays(
    db: asyncpg.Pool,
) -> None:
    owner = f"X/{uuid.uuid4().hex}"
    async with db.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="unbalanced: its postings sum to 100"):
            async with conn.transaction():
                await entry_with(conn, owner, ("bank", 100))
        assert await conn.fetchval("SELECT count(*) FROM escrow_settlement.accounts WHERE owner = $1", owner) == 0


async def test_an_entry_must_balance_after_every_statement_that_adds_postings_to_it(db: asyncpg.Pool) -> None:
    owner = f"X/{uuid.uuid4().hex}"
    async with rolled_back(db) as conn:
        entry_id = await entry_with(conn, owner, ("bank", 100), ("escrow", -100))
        await entry_with(conn, f"X/{uuid.uuid4().hex}")  # a "considered" entry: no postings at all
        await postings_of(conn, entry_id, ("bank_cash", "escrow-bank", 30), ("escrow_held", owner, -30))
        with pytest.raises(asyncpg.CheckViolationError, match=f"{entry_id} is unbalanced: its postings sum to 7"):
            async with conn.transaction():
                await postings_of(conn, entry_id, ("bank_cash", "escrow-bank", 7))
        balance = "SELECT balance FROM escrow_settlement.accounts WHERE kind = 'escrow_held' AND owner = $1"
        assert await conn.fetchval(balance, owner) == -130


async def test_a_posting_must_name_an_existing_account_and_an_entry_of_the_journal(db: asyncpg.Pool) -> None:
    owner = f"X/{uuid.uuid4().hex}"
    async with rolled_back(db) as conn:
        entry_id = await entry_with(conn, owner)
        with pytest.raises(asyncpg.ForeignKeyViolationError, match=f"account escrow_held/{owner}/nobody, which"):
            async with conn.transaction():
                await postings_of(
                    conn, entry_id, ("bank_cash", "escrow-bank", 50), ("escrow_held", f"{owner}/nobody", -50)
                )
        stranger = uuid.uuid4()
        with pytest.raises(asyncpg.ForeignKeyViolationError, match=f"entry {stranger}, which is not in the journal"):
            async with conn.transaction():
                await postings_of(conn, stranger, ("bank_cash", "escrow-bank", 50), ("bank_cash", "escrow-bank", -50))


async def test_an_account_postings_name_can_be_neither_removed_nor_renamed(db: asyncpg.Pool) -> None:
    owner = f"X/{uuid.uuid4().hex}"
    async with rolled_back(db) as conn:
        await entry_with(conn, owner, ("bank", 100), ("escrow", -100))
        for sql in ("DELETE FROM escrow_settlement.accounts WHERE owner = $1",
                    "UPDATE escrow_settlement.accounts SET owner = owner || '-moved' WHERE owner = $1"):  # fmt: skip
            with pytest.raises(asyncpg.RestrictViolationError, match="never removed or renamed"):
                async with conn.transaction():
                    await conn.execute(sql, owner)


async def test_writers_posting_to_the_same_accounts_queue_behind_each_other_and_never_deadlock(
    db: asyncpg.Pool, infra: Settings
) -> None:
    """Two instances of the service post to the same merchants' accounts in every batch, in one statement each."""
    owners = [f"X/{uuid.uuid4().hex}" for _ in range(24)]  # the merchants every batch posts to
    async with db.acquire() as conn:  # committed, so every writer sees them; with no postings, they hold nothing
        await conn.execute(
            "INSERT INTO escrow_settlement.accounts (kind, owner, merchant_id)"
            " SELECT k, o, 'X' FROM unnest($1::text[]) AS o, unnest(ARRAY['bank_cash', 'escrow_held']) AS k",
            owners,
        )

    async def post(conn: asyncpg.Connection, chosen: list[str], _writer: int, _batch: int) -> None:
        postings = [p for o in chosen for p in (("bank_cash", o, 1), ("escrow_held", o, -1))]
        await postings_of(conn, await journal_entry(conn), *postings)

    # The plan of a ledger of many accounts (a test database has few): account by account through the index, in
    # the order the statement's postings hash to.
    planned = "SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off"
    deadlocks = await deadlocks_among_writers(infra, owners, post, planned)
    assert deadlocks == 0  # locked in the order the postings hash to, 39-109 of the 240 deadlocked


async def test_a_batch_opens_its_new_accounts_without_waiting_for_another_writer_of_the_existing_ones(
    db: asyncpg.Pool,
) -> None:
    """Another instance has just moved the bank's cash balance and not committed yet. A batch of this one opens
    its accounts (the bank's, which exists, and a new order's) at once; it waits only at its own postings."""
    async with db.acquire() as conn:  # the bank's account exists, committed, as on any running ledger
        await conn.execute(
            "INSERT INTO escrow_settlement.accounts (kind, owner) VALUES ('bank_cash', 'escrow-bank')"
            " ON CONFLICT DO NOTHING"
        )
    order = OrderRef("X", uuid.uuid4().hex)
    async with db.acquire() as other, rolled_back_on(other):
        await entry_with(other, f"X/{uuid.uuid4().hex}", ("bank", 100), ("escrow", -100))  # open, uncommitted
        async with rolled_back(db) as conn:
            await conn.execute("SET LOCAL search_path TO escrow_settlement; SET LOCAL lock_timeout = '2s'")
            await journal.open_accounts(conn, [BANK_CASH, escrow_held(order)])  # waited 2 s and failed before
            opened = await conn.fetchval("SELECT count(*) FROM accounts WHERE owner = $1", order.key)
    assert opened == 1


async def test_writers_reconciling_the_same_items_in_any_order_queue_behind_each_other_and_never_deadlock(
    infra: Settings,
) -> None:
    """One instance writes the bank's side of a day's lines while another writes the ledger's side of the same
    payments, each batch in its own order: every upsert takes the items' rows in key order."""

    async def reconcile(conn: asyncpg.Connection, chosen: list[str], writer: int, batch: int) -> None:
        side = Side(100, TODAY, f"writer-{writer}/batch-{batch}")
        items = [Item(k, Direction.CREDIT, "X", ledger=side, bank=side) for k in chosen]
        # Half the writers are the ledger's side, half the bank's.
        await reconciliation.add_sides(conn, items, ledger=writer % 2 == 0, now=datetime.now(UTC))

    keys = [f"credit/{uuid.uuid4().hex}" for _ in range(24)]
    deadlocks = await deadlocks_among_writers(infra, keys, reconcile, "SET search_path = escrow_settlement")
    assert deadlocks == 0  # upserted in the sample's order, 124 and 133 of the 240 deadlocked


async def deadlocks_among_writers(
    infra: Settings,
    names: list[str],
    write: Callable[[asyncpg.Connection, list[str], int, int], Awaitable[None]],
    sql: str,
) -> int:
    """Four writers (`sql` run on each connection first), 60 batches each: a random sample of `names`, in a random
    order, written by `write(conn, sample, writer, batch)` in a transaction that keeps its rows locked a while and
    then rolls back. How many batches the server broke as deadlocked (it looks after 50 ms, not its usual 1 s)."""
    deadlocks = 0

    async def writer(seed: int) -> None:
        nonlocal deadlocks
        conn = await asyncpg.connect(infra.database_url)
        try:
            await conn.execute(f"{sql}; SET deadlock_timeout = '50ms'")
            for batch in range(60):
                pick = random.Random(seed * 1000 + batch)
                chosen = pick.sample(names, pick.randint(4, len(names)))
                try:
                    async with rolled_back_on(conn):
                        await write(conn, chosen, seed, batch)
                        await asyncio.sleep(0.01)  # the rest of the batch's transaction, its rows still locked
                except asyncpg.DeadlockDetectedError:
                    deadlocks += 1
        finally:
            await conn.close()

    await asyncio.gather(*(writer(seed) for seed in range(4)))
    return deadlocks


async def test_the_journal_is_append_only_and_escrow_never_goes_negative(db: asyncpg.Pool) -> None:
    async with rolled_back(db) as conn:
        entry_id = await entry_with(conn, f"X/{uuid.uuid4().hex}", ("bank", 100), ("escrow", -100))
        for sql in ("UPDATE escrow_settlement.postings SET amount = amount * 2 WHERE entry_id = $1",
                    "DELETE FROM escrow_settlement.journal_entries WHERE entry_id = $1"):  # fmt: skip
            with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
                async with conn.transaction():
                    await conn.execute(sql, entry_id)
        with pytest.raises(asyncpg.CheckViolationError, match="escrow_held_never_negative"):
            async with conn.transaction():  # a release from the escrow of an order that holds nothing
                await entry_with(conn, f"X/{uuid.uuid4().hex}", ("escrow", 50), ("bank", -50))


async def cli(*args: str) -> tuple[int, str]:
    return await run_module("services.escrow_settlement.cli", *args)


async def test_a_balance_changed_behind_the_journal_quarantines_its_order_until_released(
    merchant: MerchantClient, db: asyncpg.Pool, tap: Tap
) -> None:
    h = History(synthetic_merchant(), datetime.now(UTC))
    [ticket] = h.paid_order(500)
    await publish(merchant.producer, h.events)
    await settled(db, [h.merchant_id], core_ledger(h.events)[0])
    key = f"{h.merchant_id}/{h.orders[ticket]}"
    # The issuance posts no entry, so the payment's entry alone does not say it was applied: wait for the order to be
    # ready, or the tampering below would quarantine the order in front of its own issuance.
    await ready(db, key)
    tamper = "UPDATE escrow_settlement.accounts SET balance = balance + $2 WHERE kind = 'escrow_held' AND owner = $1"
    await db.execute(tamper, key, -100)  # escrow now shows NT$600 for an order that paid 500
    write_off = h.written_off(ticket)
    await publish(merchant.producer, [write_off])
    [violated] = await tap.wait_for(lambda s: s.type == "InvariantViolated" and s.payload["quarantined"] == key)
    assert violated.payload["rule"] == "escrow_matches_vouchers"
    assert await db.fetchval("SELECT count(*) FROM escrow_settlement.quarantined_facts WHERE subject = $1", key) == 1
    entries, _ = await stored_ledger_kinds(db, h.merchant_id)
    assert "write_off" not in entries  # nothing of the quarantined order reached the journal

    status, output = await cli("check")
    assert status == 1 and f"balances_match_journal escrow_held:{key}" in output
    await db.execute(tamper, key, 100)  # operations repair the balance...
    status, output = await cli("release", "--subject", key)
    assert (status, output.strip()) == (0, f"{key}: 1 fact(s) posted")
    await cli("release", "--subject", "ledger")  # ...and lift the ledger-wide stop the full check put in place
    entries, balances = await stored_ledger_kinds(db, h.merchant_id)
    assert "write_off" in entries and balances[f"merchant_payable:{h.merchant_id}"] == 500
    assert await cli("check") == (0, "0 violation(s)\n")


async def test_a_ledger_guard_changed_by_hand_stops_payouts_until_it_is_restored(db: asyncpg.Pool) -> None:
    """The ledger's triggers are part of its rules: one disabled, or a function replaced outside the migrations,
    is a ledger-wide violation of the full check, which withholds every payout until operations restore it."""
    kept = "SELECT pg_get_functiondef('escrow_settlement.accounts_are_kept'::regproc)"
    definition = await db.fetchval(kept)  # the whole CREATE OR REPLACE statement, to put it back afterwards
    try:
        await db.execute("ALTER TABLE escrow_settlement.postings DISABLE TRIGGER postings_append_only")
        await db.execute(
            "CREATE OR REPLACE FUNCTION escrow_settlement.accounts_are_kept() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN OLD; END $$"  # lets an account be deleted or renamed
        )
        status, output = await cli("check")
        assert status == 1
        assert "VIOLATION database_guard ledger: trigger postings_append_only on postings: disabled" in output
        assert (
            "VIOLATION database_guard ledger: function accounts_are_kept: its body is not the one the migrations"
            " define" in output
        )
        assert await db.fetchval("SELECT count(*) FROM escrow_settlement.quarantine WHERE subject = 'ledger'") == 1
    finally:
        await db.execute("ALTER TABLE escrow_settlement.postings ENABLE TRIGGER postings_append_only")
        await db.execute(definition)
    assert await cli("release", "--subject", "ledger") == (0, "ledger: 0 fact(s) posted\n")
    status, output = await cli("check")
    assert output.endswith(" violation(s)\n") and "database_guard" not in output


async def ready(db: asyncpg.Pool, order_key: str, seconds: float = 30) -> None:
    status = "SELECT status FROM escrow_settlement.order_books WHERE order_key = $1"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while await db.fetchval(status, order_key) != "ready":
        assert loop.time() < deadline, f"{order_key} not ready after {seconds}s"
        await asyncio.sleep(0.1)


async def stored_ledger_kinds(db: asyncpg.Pool, merchant_id: str) -> tuple[set[str], dict[str, int]]:
    entries, balances = await stored_ledger(db, [merchant_id])
    return {kind for kind, _, _, _ in entries.values()}, balances
