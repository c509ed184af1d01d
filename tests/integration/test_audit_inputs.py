"""The archive of signed inputs, audited on the real broker: histories published through the real outbox relays
onto a test's own copies of the topics, verified by `python -m services.audit verify --merchant-keys` as an auditor
runs it. Clean orders stay clean; a forged request or payment result in the archive (valid JSON, wrong signature),
a decision without its archived input and a decision that contradicts its signed input are each reported where
they are. Then the running services themselves archive what they decide on."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.bench.audit import publish
from deploy.bench.audit_history import History
from services.escrow_settlement.inbound import fact_from
from services.payment_confirmation import outbound as payments_out
from services.payment_confirmation.domain.assessment import assess
from services.payment_confirmation.inbound import parse_payment_result
from shared import chain
from shared.contracts.archive import PAYMENT_RESULT, REQUEST, ArchiveKey, archived
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.contracts.events import Producer
from shared.contracts.issuance import IssuedTicket, PaymentRef, TicketsIssued
from shared.contracts.payments import PaymentConfirmed
from shared.ecticket.envelope import seal_request
from shared.infra.chain import Checkpointer
from shared.infra.intake import parse_ingest_request
from shared.infra.kafka_auth import kafka_security
from shared.infra.messages import Inbound
from shared.merchants.model import Merchant, MerchantRecord, Mode
from shared.merchants.sealing import MerchantSecrets, SealedSecrets
from shared.sandbox.aio import as_json, payment_result
from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Tap
from shared.settings import Settings, business_day_cutoff
from shared.topics import AUDIT_INPUTS, INGEST_PAYMENTS, INGEST_REQUESTS
from tests.support.codes import with_codes
from tests.support.kafka_principals import as_admin
from tests.support.merchants import PICKUP, fresh_merchant
from tests.support.orders import pay
from tests.support.processes import ROOT

SIGNING = Ed25519PrivateKey.generate()
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
ISSUANCE = Producer("issuance")
PRICE = 500


def keys_of(merchant_id: str) -> Merchant:
    """A merchant's four keys, fresh for the test (16 characters each, as ECPay issues them)."""
    made = MerchantSecrets(**{name: secrets.token_hex(8) for name in
                              ("ticket_hash_key", "ticket_hash_iv", "payment_hash_key", "payment_hash_iv")})  # fmt: skip
    record = MerchantRecord(merchant_id=merchant_id, name=merchant_id, mode=Mode.PRODUCTION,
                            secrets=SealedSecrets(nonce="", ciphertext=""), updated_at=START)  # fmt: skip
    return Merchant(record, made)


def signed_request(m: Merchant, trade_no: str, request_id: str, at: datetime) -> bytes:
    data = {"MerchantID": m.merchant_id, "MerchantTradeNo": trade_no, "IssueType": "3",
            "TicketInfo": [{"ItemNo": "P1", "TicketAmount": 1}]}  # fmt: skip
    s = m.secrets
    envelope = seal_request(data, m.merchant_id, None, s.ticket_hash_key.get_secret_value(),
                            s.ticket_hash_iv.get_secret_value(), int(at.timestamp()))  # fmt: skip
    return json.dumps({"request_id": request_id, "operation": "Issue", "envelope": envelope.to_wire()}).encode()


def signed_payment(m: Merchant, trade_no: str, at: datetime) -> dict[str, str]:
    s = m.secrets
    return payment_result(m.merchant_id, trade_no, PRICE, paid_at=at, key=s.payment_hash_key.get_secret_value(),
                          iv=s.payment_hash_iv.get_secret_value())  # fmt: skip


def message_id(topic: str, raw: bytes) -> uuid.UUID:
    """The id the deciding service gives the message: its own parser's."""
    record = Inbound(topic, 0, 0, None, raw, 0)
    parse = parse_ingest_request if topic == INGEST_REQUESTS else parse_payment_result
    return parse(record).message_id


def order(h: History, m: Merchant, n: int, *, request: bytes | None = None, payment: bytes | None = None,
          archive_request: bool = True, recorded_request_id: str | None = None) -> None:  # fmt: skip
    """One paid order as payment confirmation and issuance decide it: each input archived (unless told not to)
    before the decision that names it; settlement's ledger entries derived by its own core."""
    trade, at = f"A{n:07d}", START + timedelta(minutes=n)
    fields = signed_payment(m, trade, at)
    raw_payment = payment if payment is not None else as_json(fields)
    pay_id = message_id(INGEST_PAYMENTS, raw_payment)
    claim = assess(fields, m, at)
    assert isinstance(claim, PaymentConfirmed)
    confirmed = payments_out.confirmed(claim.model_copy(update={"escrow_days": 7}), pay_id, at)
    h.events["payment_confirmation"] += [
        archived(PAYMENT_RESULT, INGEST_PAYMENTS, raw_payment, pay_id, m.merchant_id),
        confirmed,
    ]
    request_id = f"r{n}"
    raw_request = request if request is not None else signed_request(m, trade, request_id, at)
    req_id = message_id(INGEST_REQUESTS, raw_request)
    issued = ISSUANCE.event(tickets_issued(m.merchant_id, trade, recorded_request_id or request_id, claim, at),
                            uuid.uuid5(req_id, "issued"), at, correlation_id=request_id, causation_id=str(req_id))  # fmt: skip
    if archive_request:
        h.events["issuance"].append(archived(REQUEST, INGEST_REQUESTS, raw_request, req_id, m.merchant_id))
    h.events["issuance"].append(issued)
    h.post([f for e in (confirmed, issued) if (f := fact_from(e.envelope, business_day_cutoff())) is not None], at)


def tickets_issued(merchant_id: str, trade: str, request_id: str, payment: PaymentConfirmed,
                   at: datetime) -> TicketsIssued:  # fmt: skip
    # Its write-off code as this version of the contract carries it (the code, or its keyed hash and sealed form):
    # none of it is about inputs.
    codes = {name: f"W{trade}" for name in IssuedTicket.model_fields if name.startswith("write_off")}
    ticket = IssuedTicket.model_validate({"ticket_no": f"K{trade}", **codes, "ticket_type": TicketType.PICKUP,
                                          "item_no": "P1", "item_name": "pickup", "face_value": PRICE,
                                          "start_date": None, "expire_date": None,
                                          "refund_fee_rule": RefundFeeRule(kind=FeeKind.NONE)})  # fmt: skip
    return TicketsIssued(merchant_id=merchant_id, platform_id=None, ticket_trade_no=trade, merchant_trade_no=trade,
                         free_trade_no=None, request_id=request_id, issue_type="3", issued_at=at,
                         payment=PaymentRef(trade_no=payment.trade_no, amount=PRICE, payment_date=payment.payment_date),
                         escrow_days=7, escrow_expiry_date=(at + timedelta(days=8)).date(), total_face_value=PRICE,
                         tickets=(ticket,))  # fmt: skip


def keys_file(path: Path, *merchants: Merchant) -> Path:
    fields = ("ticket_hash_key", "ticket_hash_iv", "payment_hash_key", "payment_hash_iv")
    document = {m.merchant_id: [{f: getattr(m.secrets, f).get_secret_value() for f in fields}] for m in merchants}
    path.write_text(json.dumps(document))
    return path


async def audited(h: History, infra: Settings, tmp: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """Publish `h` through the real relays onto the test's own topics; the auditor's verify and its JSON report."""
    suffix = "." + h.prefix.rstrip("_")
    await publish(h, infra, suffix, Checkpointer(SIGNING, "test-key", every_events=1000, every_seconds=60))
    return verify(h, suffix, tmp, *extra)


def verify(h: History, suffix: str, tmp: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    (tmp / "keys.json").write_text(json.dumps({"test-key": chain.public_hex(SIGNING)}))
    chains = [a for s in ("payment_confirmation", "issuance", "escrow_settlement") for a in ("--chain", h.prefix + s)]
    return cli("--keys", str(tmp / "keys.json"), "--topic-suffix", suffix, *chains, *extra, tmp=tmp)


def cli(*args: str, tmp: Path) -> tuple[int, dict[str, Any]]:
    """`python -m services.audit verify` as an auditor runs it: its exit code and JSON report."""
    report = tmp / f"report-{uuid.uuid4().hex[:6]}.json"
    done = subprocess.run([sys.executable, "-m", "services.audit", "verify", "--quiet", "--json", str(report), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, env=as_admin())  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(report.read_text())


def findings(report: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((f"{f['check']}.{f['kind']}", f["where"]) for f in report["findings"])


def where_of(report: dict[str, Any], kind: str) -> list[str]:
    return [f["where"] for f in report["findings"] if f"{f['check']}.{f['kind']}" == kind]


async def test_orders_whose_decisions_trace_to_their_signed_inputs_verify_clean(
    infra: Settings, tmp_path: Path
) -> None:
    m = keys_of("3900001")
    h = History(f"inputs_{uuid.uuid4().hex[:8]}_")
    for n in range(5):
        order(h, m, n)
    code, report = await audited(h, infra, tmp_path, "--merchant-keys", str(keys_file(tmp_path / "mk.json", m)))
    assert (code, report["finding_counts"]) == (0, {})
    assert report["inputs"] == {"archived": 10, "verified": 10, "decisions_traced": 10}

    # Without the merchants' keys the archive is only chained: the report says its inputs were not re-verified.
    code, report = verify(h, "." + h.prefix.rstrip("_"), tmp_path)
    assert code == 0 and report["inputs"] is None


async def test_forged_inputs_and_decisions_without_or_against_their_input_are_each_reported_where_they_are(
    infra: Settings, tmp_path: Path
) -> None:
    m = keys_of("3900002")
    h = History(f"inputs_{uuid.uuid4().hex[:8]}_")
    order(h, m, 0)
    # A request whose JSON is well formed and whose Data decrypts, but whose CheckMacValue is not the merchant's.
    genuine = json.loads(signed_request(m, "A0000001", "r1", START))
    genuine["envelope"]["CheckMacValue"] = "F" * 64
    order(h, m, 1, request=json.dumps(genuine).encode())
    # A payment result whose amount was raised after it was signed.
    altered = signed_payment(m, "A0000002", START + timedelta(minutes=2)) | {"TradeAmt": "5000"}
    order(h, m, 2, payment=as_json(altered))
    order(h, m, 3, archive_request=False)  # issued on a request nobody kept
    order(h, m, 4, recorded_request_id="r-someone-else")  # the decision names another request than the signed one
    code, report = await audited(h, infra, tmp_path, "--merchant-keys", str(keys_file(tmp_path / "mk.json", m)))

    assert code == 1
    assert report["finding_counts"] == {"inputs.bad_signature": 2, "inputs.unverified_decision": 2,
                                        "inputs.missing": 1, "inputs.differs": 1}  # fmt: skip
    by_kind: dict[str, list[dict[str, Any]]] = {f["kind"]: [] for f in report["findings"]}
    for f in report["findings"]:
        by_kind[f["kind"]].append(f)
    request_forged, payment_forged = sorted(by_kind["bad_signature"], key=lambda f: "payment" in f["detail"])
    assert request_forged["where"].startswith(AUDIT_INPUTS) and "'r1'" in request_forged["detail"]
    assert "CheckMacValue" in request_forged["detail"] and request_forged["merchant_id"] == m.merchant_id
    assert "A0000002" in payment_forged["detail"] and payment_forged["where"].startswith(AUDIT_INPUTS)
    # The decisions taken on them name where their forged input is.
    assert sorted(f["detail"].split(" at ")[1].split(",")[0] for f in by_kind["unverified_decision"]) == sorted(
        f["where"] for f in by_kind["bad_signature"]
    )
    [missing] = by_kind["missing"]
    assert "TicketsIssued of 3900002/A0000003" in missing["detail"] and "not in the archive" in missing["detail"]
    [differs] = by_kind["differs"]
    assert "request_id 'r-someone-else'" in differs["detail"] and "says otherwise" in differs["detail"]


@pytest.mark.usefixtures("platform")
async def test_the_running_services_archive_each_signed_input_before_the_decision_that_names_it(
    topics: Settings, merchant: MerchantClient, tap: Tap, tmp_path: Path
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    m, trade_no = await fresh_merchant(topics), "AR0001"
    await pay(m, trade_no, PRICE)
    # Paid first (a request that came first would wait only the session's short payment wait for it).
    [paid] = await tap.wait_for(lambda s: s.type == "PaymentConfirmed" and s.payload["merchant_id"] == m)
    data = {"MerchantID": m, "MerchantTradeNo": trade_no, "IssueType": "3",
            "TicketInfo": [{"ItemNo": PICKUP, "TicketAmount": 1}]}  # fmt: skip
    await merchant.send_request(merchant.request("Issue", data, merchant_id=m))
    [issued] = await tap.wait_for(lambda s: s.type == "TicketsIssued" and s.payload["merchant_id"] == m)
    # The voucher written off: redemption keeps its WriteOff request as issuance keeps the Issue.
    [ticket] = with_codes(issued.payload["tickets"])
    write_off = {"MerchantID": m, "WriteOffNo": ticket["write_off_no"], "Action": "1", "Operator": "pos1"}
    await merchant.send_request(merchant.request("WriteOff", write_off, merchant_id=m))
    [written] = await tap.wait_for(lambda s: s.type == "TicketWrittenOff" and s.payload["merchant_id"] == m)

    archive = {str(k.message_id): (k, v) for k, v in await archived_since(topics, started) if k.merchant_id == m}
    request_key, request_bytes = archive[str(issued.envelope.causation_id)]
    payment_key, payment_bytes = archive[str(paid.envelope.causation_id)]
    write_off_key, write_off_bytes = archive[str(written.envelope.causation_id)]
    assert request_key.source == INGEST_REQUESTS and json.loads(request_bytes)["request_id"] == issued.payload[
        "request_id"]  # fmt: skip
    assert payment_key.source == INGEST_PAYMENTS and b"CheckMacValue" in payment_bytes
    assert write_off_key.source == INGEST_REQUESTS and json.loads(write_off_bytes)["operation"] == "WriteOff"
    assert len(archive) == 3  # nothing else of this merchant: two requests, one payment result

    # The auditor, with this environment's merchant directory, traces every decision to its verified input.
    _, report = cli("--trust-local-key", "--trust-local-merchants", "--merchant", m, "--since", started.isoformat(),
                    "--inputs-since", started.isoformat(),
                    tmp=tmp_path)  # fmt: skip
    assert [f for f in report["findings"] if f["check"] == "inputs"] == []
    # Traced: the payment, IssueAccepted and TicketsIssued, and the write-off.
    assert report["inputs"]["verified"] == 3 and report["inputs"]["decisions_traced"] >= 4


async def archived_since(infra: Settings, since: datetime) -> list[tuple[ArchiveKey, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False, **kafka_security())
    await consumer.start()
    try:
        parts = [TopicPartition(AUDIT_INPUTS, p) for p in consumer.partitions_for_topic(AUDIT_INPUTS) or range(6)]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        at = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in parts})
        for tp in parts:
            consumer.seek(tp, ends[tp] if at[tp] is None else at[tp].offset)
        found: list[tuple[ArchiveKey, bytes]] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [(ArchiveKey.parse(r.key), r.value or b"") for r in records]
        return found
    finally:
        await consumer.stop()
