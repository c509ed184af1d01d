"""The fuzz campaign (issue 16): mutated messages through both ingestion topics of a running platform, then an
account of what became of every one of them.

Each input is a valid message of a registered merchant (Issue, WriteOff, Refund, a query; an AIO payment result as
JSON and as a form) mutated once (deploy/fuzz/mutations.py): at the byte level, in its outer JSON, or, for requests
and payments, in the signed content re-sealed with the merchant's real keys so it reaches the validators. Every
input must end with a specific answer: a reply to its request (RtnCode and message), a payment decision, or a
rejection record naming its offset with the raw bytes kept. Afterwards: no service process died, every consumer
group caught up (no stall), and nothing changed state unless its answer said it was valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from deploy.fuzz import mutations
from shared.ecticket.envelope import seal_request
from shared.ids import content_id
from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import partitions_of
from shared.sandbox.aio import as_form, as_json, payment_result, signed
from shared.sandbox.merchant import KEYS
from shared.topics import (
    INGEST_PAYMENTS,
    INGEST_REPLIES,
    INGEST_REQUESTS,
    ISSUANCE_EVENTS,
    PAYMENT_EVENTS,
    REDEMPTION_EVENTS,
    REJECTIONS,
)

# The groups that consume the ingestion topics: each must catch up with everything sent.
GROUPS = ("payment_confirmation", "issuance", "redemption", "query")
OUTCOME_TOPICS = (INGEST_REPLIES, REJECTIONS, PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS)
STATE_CHANGES = ("TicketsIssued", "TicketWrittenOff", "TicketRefunded", "PaymentConfirmed")


@dataclass(frozen=True)
class Input:
    topic: str
    key: bytes
    value: bytes
    strategy: str


@dataclass
class Outcomes:
    by_cause: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)  # message id -> events
    rejected_at: set[tuple[str, int, int]] = field(default_factory=set)  # (topic, partition, offset)


def _request_data(kind: str, merchant_id: str, n: int) -> tuple[str, dict[str, Any]]:
    order = f"FZ{n:010d}"
    data: dict[str, Any] = {"MerchantID": merchant_id}
    if kind == "Issue":
        data |= {"FreeTradeNo": order, "IssueType": "3", "Operator": "fuzz",
                 "TicketInfo": [{"ItemNo": "GF000030", "TicketAmount": 1}]}  # fmt: skip
    elif kind == "WriteOff":
        data |= {"WriteOffNo": f"FZ{n:016d}", "Action": "1", "Operator": "fuzz"}
    elif kind == "Refund":
        data |= {"TicketNo": f"FZ{n:014d}", "Action": "1", "Operator": "fuzz"}
    else:
        data |= {"FreeTradeNo": order}
    return kind, data


def _request(merchant_id: str, operation: str, data: dict[str, Any], n: int) -> dict[str, Any]:
    key, iv = KEYS[merchant_id]
    envelope = seal_request(data, merchant_id, None, key, iv, int(time.time()))
    return {"request_id": f"FZ-{n}", "operation": operation, "envelope": envelope.to_wire()}


def make_input(merchant_id: str, n: int, rng: random.Random) -> Input:
    """The n-th input: a seed message, mutated once."""
    key = merchant_id.encode()
    if rng.random() < 0.65:
        operation, data = _request_data(rng.choice(("Issue", "WriteOff", "Refund", "QueryIssueResult")), merchant_id, n)
        layer = rng.choice(("bytes", "outer", "signed"))
        if layer == "signed":
            name, mutate = rng.choice(list(mutations.JSON_MUTATIONS.items()))
            mutated = mutate(copy.deepcopy(data), rng)
            try:
                message = _request(merchant_id, operation, mutated if isinstance(mutated, dict) else {"x": mutated}, n)
                return Input(INGEST_REQUESTS, key, mutations.dumps(message).encode(), f"request, signed Data: {name}")
            except UnicodeEncodeError:
                layer = "outer"  # a lone surrogate cannot be sealed (UTF-8), by a merchant either
        message = _request(merchant_id, operation, data, n)
        return _mutated(INGEST_REQUESTS, key, message, layer, "request", rng)
    fields = payment_result(merchant_id, f"FZ{n:010d}", 500, paid_at=datetime.now(UTC))
    if rng.random() < 0.3:
        name, mutate = rng.choice(list(mutations.JSON_MUTATIONS.items()))
        mutated = mutate(dict(fields), rng)
        if isinstance(mutated, dict) and all(isinstance(v, str) for v in mutated.values()):
            with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate cannot be signed: sent unsigned
                mutated = signed({k: v for k, v in mutated.items() if k != "CheckMacValue"})
        return Input(INGEST_PAYMENTS, key, mutations.dumps(mutated).encode(), f"payment, re-signed: {name}")
    raw = as_form(fields) if rng.random() < 0.5 else as_json(fields)
    name, mutate_bytes = rng.choice(list(mutations.BYTE_MUTATIONS.items()))
    return Input(INGEST_PAYMENTS, key, mutate_bytes(raw, rng), f"payment bytes: {name}")


def _mutated(topic: str, key: bytes, message: dict[str, Any], layer: str, what: str, rng: random.Random) -> Input:
    if layer == "outer":
        if rng.random() < 0.15:
            text = mutations.duplicate_key(mutations.dumps(message), rng)
            return Input(topic, key, text.encode(), f"{what} JSON: a duplicate key")
        name, mutate = rng.choice(list(mutations.JSON_MUTATIONS.items()))
        return Input(topic, key, mutations.dumps(mutate(message, rng)).encode(), f"{what} JSON: {name}")
    name, mutate_bytes = rng.choice(list(mutations.BYTE_MUTATIONS.items()))
    return Input(topic, key, mutate_bytes(json.dumps(message).encode(), rng), f"{what} bytes: {name}")


def inputs(merchant_id: str, count: int, seed: int) -> list[Input]:
    """`count` distinct inputs (the same bytes twice would be one message to the inboxes)."""
    rng = random.Random(seed)
    made: dict[tuple[str, bytes], Input] = {}
    n = 0
    while len(made) < count:
        item = make_input(merchant_id, n, rng)
        made.setdefault((item.topic, item.value), item)
        n += 1
    return list(made.values())


async def _ends(bootstrap: str, topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    parts = await partitions_of(bootstrap, list(topics))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_security())
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(t, p) for t, ps in parts.items() for p in ps])
        return {tp: int(o) for tp, o in ends.items()}
    finally:
        await consumer.stop()


async def send(bootstrap: str, batch: list[Input]) -> list[tuple[Input, int, int]]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4 * 1024 * 1024, **kafka_security()
    )
    await producer.start()
    try:
        futures = [await producer.send(i.topic, i.value, key=i.key) for i in batch]
        placed = await asyncio.gather(*futures)
        return [(i, meta.partition, meta.offset) for i, meta in zip(batch, placed, strict=True)]
    finally:
        await producer.stop()


async def caught_up(bootstrap: str, seconds: float) -> list[str]:
    """The groups still behind the ingestion topics' ends after `seconds` (empty: none stalled)."""
    ends = await _ends(bootstrap, (INGEST_REQUESTS, INGEST_PAYMENTS))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_security())
    await admin.start()
    try:
        deadline = time.monotonic() + seconds
        behind = list(GROUPS)
        while behind and time.monotonic() < deadline:
            still = []
            for group in behind:
                # A group has committed offsets for the ingestion topics it consumes (payment_confirmation reads
                # only payments, the others only requests): those must reach the ends.
                committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
                if any(0 <= meta.offset < ends[tp] for tp, meta in committed.items() if tp in ends):
                    still.append(group)
            behind = still
            if behind:
                await asyncio.sleep(0.5)
        return behind
    finally:
        await admin.close()


class OutcomeReader:
    """Reads the outcome topics from where they ended before the campaign, as far as they go each time it is asked."""

    def __init__(self, bootstrap: str, since: dict[TopicPartition, int]) -> None:
        self.bootstrap = bootstrap
        self.since = since
        self.outcomes = Outcomes()

    @classmethod
    async def from_the_ends(cls, bootstrap: str) -> OutcomeReader:
        """A reader of what comes after now: the campaign's outcomes, not those of earlier ones."""
        return cls(bootstrap, await _ends(bootstrap, OUTCOME_TOPICS))

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 << 20,
            **kafka_security(),
        )
        await self.consumer.start()
        self.consumer.assign(list(self.since))
        for tp, offset in self.since.items():
            self.consumer.seek(tp, offset)

    async def catch_up(self) -> Outcomes:
        ends = await _ends(self.bootstrap, OUTCOME_TOPICS)
        remaining = {tp for tp, end in ends.items() if (await self.consumer.position(tp)) < end}
        while remaining:
            for tp, records in (await self.consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    _note(self.outcomes, json.loads(record.value or b"{}"))
                if (await self.consumer.position(tp)) >= ends[tp]:
                    remaining.discard(tp)
        return self.outcomes

    async def stop(self) -> None:
        await self.consumer.stop()


def _note(outcomes: Outcomes, envelope: dict[str, Any]) -> None:
    payload = envelope.get("payload", {})
    if envelope.get("event_type") == "MessageRejected":
        where = (payload["source_topic"], payload["source_partition"], payload["source_offset"])
        outcomes.rejected_at.add(where)
    cause = envelope.get("causation_id")
    if cause:
        outcomes.by_cause.setdefault(cause, []).append((str(envelope.get("event_type")), payload))


@dataclass
class Report:
    inputs: int = 0
    by_strategy: Counter[str] = field(default_factory=Counter)
    unanswered: list[dict[str, Any]] = field(default_factory=list)
    valid: int = 0
    state_changed_while_refused: list[dict[str, Any]] = field(default_factory=list)
    stalled_groups: list[str] = field(default_factory=list)
    dead_processes: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        return not (self.unanswered or self.state_changed_while_refused or self.stalled_groups or self.dead_processes)


def account(sent: list[tuple[Input, int, int]], outcomes: Outcomes) -> Report:
    report = Report(inputs=len(sent))
    for item, partition, offset in sent:
        report.by_strategy[item.strategy] += 1
        events = outcomes.by_cause.get(str(content_id(item.topic, item.value)), [])
        rejected = (item.topic, partition, offset) in outcomes.rejected_at
        if not events and not rejected:
            report.unanswered.append({"strategy": item.strategy, "partition": partition, "offset": offset})
            continue
        accepted = any(t == "RequestReplied" and p.get("rtn_code") == 1 for t, p in events) or any(
            t == "PaymentConfirmed" for t, _ in events
        )
        report.valid += accepted
        changes = [t for t, _ in events if t in STATE_CHANGES]
        if changes and not accepted:
            report.state_changed_while_refused.append({"strategy": item.strategy, "events": changes})
    return report


async def run(
    bootstrap: str, merchant_id: str, count: int, seed: int, settle_seconds: float = 120, answer_seconds: float = 60
) -> Report:
    """Send `count` inputs, wait for the consumers to catch up, and account for every input. Some answers come
    late by design: a WriteOff of a ticket not seen yet waits for it (REDEMPTION_TICKET_WAIT_SECONDS), a payment the
    processor does not know is rejected when verification gives up: so answers are awaited up to `answer_seconds`."""
    reader = await OutcomeReader.from_the_ends(bootstrap)
    await reader.start()
    try:
        sent: list[tuple[Input, int, int]] = []
        made = inputs(merchant_id, count, seed)
        for start in range(0, len(made), 5000):
            sent += await send(bootstrap, made[start : start + 5000])
        stalled = await caught_up(bootstrap, settle_seconds)
        deadline = time.monotonic() + answer_seconds
        report = account(sent, await reader.catch_up())
        while report.unanswered and time.monotonic() < deadline:
            await asyncio.sleep(1)
            report = account(sent, await reader.catch_up())
        report.stalled_groups = stalled
        return report
    finally:
        await reader.stop()


def summary(report: Report) -> str:
    lines = [
        f"inputs tried: {report.inputs:,} (valid after mutation: {report.valid:,})",
        f"consumer groups stalled: {len(report.stalled_groups)} {report.stalled_groups or ''}",
        f"processes dead: {len(report.dead_processes)} {report.dead_processes or ''}",
        f"inputs without a specific answer: {len(report.unanswered):,}",
        f"inputs refused that changed state anyway: {len(report.state_changed_while_refused):,}",
        "by strategy:",
        *(f"  {n:>7,}  {s}" for s, n in report.by_strategy.most_common()),
    ]
    return "\n".join(lines)


def as_json_report(report: Report) -> str:
    return json.dumps(
        {
            "inputs": report.inputs,
            "valid": report.valid,
            "by_strategy": dict(report.by_strategy),
            "unanswered": report.unanswered[:100],
            "unanswered_count": len(report.unanswered),
            "state_changed_while_refused": report.state_changed_while_refused[:100],
            "stalled_groups": report.stalled_groups,
            "dead_processes": report.dead_processes,
            "ok": report.ok(),
            "id": str(uuid.uuid4()),
        },
        indent=2,
    )
