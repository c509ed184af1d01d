"""The few answers the gateway gives itself (pure): to a body no service could answer, and the webhook's text."""

from __future__ import annotations

from typing import Any

from shared.contracts.rtncodes import RtnCode

PAYMENT_ACCEPTED = "1|OK"  # what ECPay expects from a ReturnURL that has the result (Appendix A)


def malformed(reason: str, merchant_id: str, now_unix: int) -> dict[str, Any]:
    """The §2.3 response envelope of a request that is not one (TransCode 9001). Data is empty: the gateway holds
    no caller keys and authenticates nobody, exactly as a service answers a caller it cannot authenticate."""
    return {
        "MerchantID": merchant_id,
        "RpHeader": {"Timestamp": now_unix},
        "TransCode": int(RtnCode.ENVELOPE_MALFORMED),
        "TransMsg": reason[:200],
        "Data": "",
        "CheckMacValue": "",
    }


def payment_refused(reason: str) -> str:
    """`0|reason` on one line: ECPay shows it in its back office and sends the result again later."""
    return "0|" + " ".join(reason.split())[:200]
