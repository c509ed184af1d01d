"""Forged domain events that reach a topic (the broker's ACLs off: the default here) change nothing: every consumer
checks the platform's seal before reading a record, and keeps what fails as a dead letter with its reason."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from shared.clock import FixedClock
from shared.contracts.catalog import Product, UsagePeriodRule
from shared.contracts.common import TicketType
from shared.contracts.events import Outgoing
from shared.infra.compacted import CompactedView
from shared.infra.consumer import ConsumerRunner
from shared.infra.database import create_pool, migrate
from shared.infra.messages import Inbound, Parsed, Route, one_by_one
from shared.infra.redrive import dismiss
from shared.infra.seal import HEADER, NO_SEAL, EventKey, Keyring, platform_keyring
from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings
from shared.topics import ISSUANCE_EVENTS, PAYMENT_EVENTS, PRODUCT_CATALOG
from tests.support.postgres import drop_schema
from tests.support.processes import Platform, run_module
from tests.support.settlement import History, synthetic_merchant

CONSUMED_BY = {PAYMENT_EVENTS: ("issuance", "escrow_settlement"),
               ISSUANCE_EVENTS: ("redemption", "escrow_settlement", "query", "notification")}  # fmt: skip
SCHEMAS = ("payment_confirmation", "issuance", "redemption", "escrow_settlement", "query", "notification")
ROGUE = EventKey("rogue", bytes.fromhex("66" * 32))  # a key no service holds


def forged_headers(how: str, topic: str, key: bytes, value: bytes) -> list[tuple[str, bytes]]:
    """The three ways a forger without the platform key can try: no seal, a made-up seal under the real key id,
    a seal under a key of its own."""
    if how == "no seal":
        return [("event_type", b"TicketsIssued")]
    if how == "bad seal":
        real_id = platform_keyring().keys[0].key_id
        return [(HEADER, Keyring((EventKey(real_id, bytes.fromhex("77" * 32)),)).seal(topic, key, value))]
    return Keyring((ROGUE,)).headers(topic, key, value)


REASONS = {"no seal": NO_SEAL, "bad seal": "provenance: bad seal", "unknown key": "provenance: unknown key id 'rogue'"}


async def produce(merchant: MerchantClient, events: Sequence[Outgoing], how: str | None) -> list[tuple[str, bytes]]:
    """Each event straight to its topic, sealed properly (`how` None) or forged; (topic, value) of each."""
    sent = []
    for e in events:
        value, key = e.envelope.to_bytes(), e.key.encode()
        headers = (
            platform_keyring().headers(e.topic, key, value) if how is None else forged_headers(how, e.topic, key, value)
        )
        await merchant.producer.send_and_wait(e.topic, value, key=key, headers=headers)
        sent.append((e.topic, value))
    return sent


async def rows_of(db: asyncpg.Pool, merchant_ids: Sequence[str]) -> dict[str, int]:
    """Rows about these merchants in every table of every service that has a merchant_id column."""
    tables = await db.fetch(
        "SELECT table_schema, table_name FROM information_schema.columns WHERE column_name = 'merchant_id'"
        " AND table_schema = ANY($1::text[])",
        list(SCHEMAS),
    )
    counts = {}
    for t in tables:
        where = f'"{t["table_schema"]}"."{t["table_name"]}"'
        counts[where] = await db.fetchval(
            f"SELECT count(*) FROM {where} WHERE merchant_id = ANY($1::text[])", merchant_ids
        )
    return {table: n for table, n in counts.items() if n}


async def letters_eventually(db: asyncpg.Pool, schema: str, value: bytes, seconds: float = 30) -> list[asyncpg.Record]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (rows := await db.fetch(f"SELECT * FROM {schema}.dead_letters WHERE value = $1", value)):
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.1)
    return list(rows)


async def test_forged_payment_and_issuance_events_change_no_service_and_each_consumer_keeps_them_with_the_reason(
    merchant: MerchantClient, db: asyncpg.Pool, platform: Platform
) -> None:
    now = datetime.now(UTC)
    forgeries: dict[str, History] = {}
    for how in REASONS:
        forgeries[how] = History(synthetic_merchant(), now)
        forgeries[how].paid_order(
            1200, 800, credited=False
        )  # a PaymentConfirmed and the TicketsIssued of two paid vouchers
    genuine = History(synthetic_merchant(), now)
    genuine.paid_order(1200, 800, credited=False)

    sent = {how: await produce(merchant, h.events, how) for how, h in forgeries.items()}
    await produce(merchant, genuine.events, None)  # after the forgeries, so once it is applied they were read

    # The genuine order reaches every service that keeps orders or tickets: what the forged ones would have done.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while {"escrow_settlement", "redemption", "query"} - {
        t.split(".")[0].strip('"') for t in await rows_of(db, [genuine.merchant_id])
    }:
        assert loop.time() < deadline, await rows_of(db, [genuine.merchant_id])
        await asyncio.sleep(0.2)

    for how, records in sent.items():
        for topic, value in records:
            for schema in CONSUMED_BY[topic]:
                [letter] = await letters_eventually(db, schema, value)
                assert (letter["topic"], letter["error"], letter["stage"]) == (topic, REASONS[how], "parse"), schema
                assert letter["touches_money"] and letter["resolved_at"] is None
    assert await rows_of(db, [h.merchant_id for h in forgeries.values()]) == {}

    # A provenance letter is never re-driven (its seal cannot be checked again from storage): the operator dismisses it.
    topic, value = sent["no seal"][0]
    [letter] = await letters_eventually(db, "issuance", value)
    status, said = await run_module(
        "shared.admin", "dead-letters", "redrive", "--service", "issuance", "--id", str(letter["id"]), "--wait", "2"
    )
    assert status == 1 and "refused for provenance not re-driven" in said, said
    assert (
        await db.fetchval("SELECT redrive_requested_at FROM issuance.dead_letters WHERE id = $1", letter["id"]) is None
    )
    assert await rows_of(db, [h.merchant_id for h in forgeries.values()]) == {}
    await dismiss_all(db, [v for records in sent.values() for _, v in records])
    assert platform.services  # the session's platform ran throughout


async def dismiss_all(db: asyncpg.Pool, values: list[bytes], schemas: Sequence[str] = SCHEMAS) -> None:
    """Close the test's forged letters, so the platform's money check is left as the test found it (in the schemas
    of the services that run here: `make test-ops` runs the ops app alone)."""
    async with db.acquire() as conn:
        for schema in schemas:
            if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.dead_letters") is None:
                continue
            ids = await conn.fetch(f"SELECT id FROM {schema}.dead_letters WHERE value = ANY($1::bytea[])", values)
            if ids:
                await conn.execute(f'SET search_path TO "{schema}"')
                for row in ids:
                    await dismiss(conn, schema, row["id"], "test: a forged event", datetime.now(UTC))
        await conn.execute("RESET search_path")


# --- The consumer's check alone, on a real PostgreSQL: every reason, and a key rotation ---------------------------

TOPIC = "provenance.test"
OLD, NEW = EventKey("k1", bytes.fromhex("11" * 32)), EventKey("k2", bytes.fromhex("22" * 32))


def parse(record: Inbound) -> Parsed[str]:
    return Parsed(uuid.uuid5(uuid.NAMESPACE_URL, record.value.decode()), record.value.decode())


async def handle(conn: asyncpg.Connection, parsed: Parsed[str], record: Inbound) -> Sequence[Outgoing]:
    await conn.execute("INSERT INTO handled (body) VALUES ($1)", parsed.body)
    return []


@contextlib.asynccontextmanager
async def runner_holding(infra: Settings, keyring: Keyring) -> AsyncIterator[ConsumerRunner]:
    schema = "provenance_" + uuid.uuid4().hex[:8]
    empty = Path(tempfile.mkdtemp())
    (empty / "001_handled.sql").write_text("CREATE TABLE handled (body text NOT NULL);")
    await migrate(infra.database_url, schema, empty)
    pool = await create_pool(infra.database_url, schema, min_size=1, max_size=2)
    try:
        route = Route(parse=parse, handle=one_by_one(handle))
        yield ConsumerRunner(
            "t", schema, pool, "unused", {TOPIC: route}, FixedClock(datetime.now(UTC)), keyring=keyring
        )
    finally:
        await pool.close()
        await drop_schema(infra.database_url, schema)


def record(offset: int, body: bytes, headers: list[tuple[str, bytes]]) -> Inbound:
    return Inbound(TOPIC, 0, offset, None, body, 0, tuple(headers))


async def test_during_a_key_rotation_records_sealed_under_either_key_are_applied_and_no_other(infra: Settings) -> None:
    async with runner_holding(infra, Keyring((NEW, OLD))) as runner:
        await runner.process([
            record(0, b"old", Keyring((OLD,)).headers(TOPIC, None, b"old")),
            record(1, b"new", Keyring((NEW,)).headers(TOPIC, None, b"new")),
            record(2, b"rogue", Keyring((ROGUE,)).headers(TOPIC, None, b"rogue")),
            record(3, b"bare", []),
            record(4, b"moved", Keyring((NEW,)).headers("another.topic", None, b"moved")),
            record(5, b"after", Keyring((NEW,)).headers(TOPIC, None, b"after")),
        ])  # fmt: skip
        async with runner.pool.acquire() as conn:
            handled = sorted(r["body"] for r in await conn.fetch("SELECT body FROM handled"))
            letters = {bytes(r["value"]): r["error"] for r in await conn.fetch("SELECT value, error FROM dead_letters")}
            announced = await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'MessageRejected'")
    assert handled == ["after", "new", "old"]
    assert letters == {
        b"rogue": "provenance: unknown key id 'rogue'",
        b"bare": NO_SEAL,
        b"moved": "provenance: bad seal",
    }
    assert announced == 3


async def test_after_the_old_key_is_withdrawn_what_it_sealed_is_refused(infra: Settings) -> None:
    async with runner_holding(infra, Keyring((NEW,))) as runner:
        await runner.process([record(0, b"old", Keyring((OLD,)).headers(TOPIC, None, b"old"))])
        async with runner.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM handled") == 0
            assert await conn.fetchval("SELECT error FROM dead_letters") == "provenance: unknown key id 'k1'"


async def test_a_product_published_before_the_seal_is_unknown_until_the_operator_reseals_the_configuration(
    infra: Settings, merchant: MerchantClient
) -> None:
    """The compacted views skip an unsealed configuration record (a forged price would otherwise be charged);
    `shared.admin seal-configuration` is the cut-over for records published before the seal, republishing them sealed."""
    product = Product(
        merchant_id="3085676", item_no=f"RS{uuid.uuid4().hex[:6].upper()}", name="from before the seal",
        ticket_type=TicketType.GIFT, face_value=0, usage=UsagePeriodRule(start_after_days=0, valid_days=30),
        updated_at=datetime.now(UTC),
    )  # fmt: skip
    await merchant.producer.send_and_wait(
        PRODUCT_CATALOG, product.model_dump_json().encode(), key=product.key().encode()
    )

    async def listed() -> Product | None:
        view = CompactedView(infra.kafka_bootstrap, PRODUCT_CATALOG, Product.model_validate_json)
        await view.start()
        try:
            return view.get(product.key())
        finally:
            await view.stop()

    assert await listed() is None
    status, output = await run_module("shared.admin", "seal-configuration")
    assert status == 0, output
    assert f"{PRODUCT_CATALOG}: " in output
    assert await listed() == product
