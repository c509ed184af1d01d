"""What the audit keeps of an archived input: enough to tell whether a decision agrees with it, fact by fact."""

from __future__ import annotations

import pickle
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.audit.kept_inputs import PAYMENT, PAYMENT_FACTS, REQUEST, REQUEST_FACTS, KeptInputs, Signed

pytestmark = pytest.mark.unit

PAID_AT = datetime(2026, 11, 28, 18, 0, tzinfo=ZoneInfo("Asia/Taipei"))


def payment_facts(**changed: object) -> tuple[object, ...]:
    facts: dict[str, object] = {name: None for name in PAYMENT_FACTS}
    facts |= {"merchant_id": "3002607", "merchant_trade_no": "A1", "trade_no": "T1", "amount": 500,
              "payment_type": "Credit_CreditCard", "payment_date": PAID_AT, "simulated": False} | changed  # fmt: skip
    return tuple(facts[name] for name in PAYMENT_FACTS)


def test_a_decision_agrees_with_its_signed_input_fact_by_fact_whatever_the_time_zone_of_an_instant() -> None:
    kept, message = KeptInputs(), uuid.uuid4()
    kept.add(message, "ecticket.audit.inputs.v1", 3, 17, Signed(PAYMENT, True, payment_facts()))
    found = kept.get(message)
    assert found is not None and (found.where, found.verified, found.refused) == (
        "ecticket.audit.inputs.v1[3]@17", True, None)  # fmt: skip
    assert found.agrees("payment_date", PAID_AT.astimezone(UTC))  # the event's UTC, the result's Taipei time
    assert found.agrees("amount", 500) and not found.agrees("amount", 5000)
    assert not found.agrees("trade_no", "T2") and kept.get(uuid.uuid4()) is None


def test_a_request_that_did_not_verify_is_kept_as_such_and_a_resumed_audit_compares_the_same() -> None:
    kept, good, forged = KeptInputs(), uuid.uuid4(), uuid.uuid4()
    kept.add(good, "t", 0, 1, Signed(REQUEST, True, ("3002607", "r1", "3", "A1", 2)))
    kept.add(forged, "t", 0, 2, Signed(REQUEST, False))
    resumed: KeptInputs = pickle.loads(pickle.dumps(kept))  # a resumable run's saved state, in another process
    refused, request = resumed.get(forged), resumed.get(good)
    assert refused is not None and not refused.verified
    assert request is not None and request.kind == REQUEST and len(REQUEST_FACTS) == 5
    assert request.agrees("tickets", 2) and request.agrees("request_id", "r1") and not request.agrees("tickets", 3)
