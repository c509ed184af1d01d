"""Judging one AIO payment result on its own: is it a signed, successful, one-time credit-card payment?

These are the local checks. A result that passes them is only a claim, signed by the merchant: it becomes a
PaymentConfirmed once the processor's own record matches it (`verification`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.payment_confirmation.domain.aio_fields import ascii_amount, parse_aio_time
from shared.contracts.payments import PaymentConfirmed, PaymentRejectReason
from shared.ecticket.aio import verify_aio_check_mac_value
from shared.merchants.model import Merchant

ONE_TIME_CARD = "Credit_CreditCard"
# Fields that only instalment or periodic (recurring) card payments carry with a meaningful value.
INSTALMENT_MARKERS = ("stage", "stast", "staed", "PeriodType", "Frequency", "ExecTimes", "PeriodAmount")
REQUIRED = ("MerchantID", "MerchantTradeNo", "RtnCode", "TradeNo", "TradeAmt", "PaymentDate", "PaymentType")
# TradeAmt is whole NT$ in ASCII digits (aio_fields.ascii_amount). The cap is the largest order issuance accepts
# (1,000 tickets of NT$1,000,000), well inside the int4 columns.
MAX_TRADE_AMT = 1_000_000_000
# AIO's TradeNo: String(20), letters and digits.
_TRADE_NO = re.compile(r"[A-Za-z0-9]{1,20}")
# A payment result reports a payment that just happened (ECPay retries a callback for a few days): a date in the
# future beyond clock skew, or older than a year, is not a real one, and far dates break the escrow arithmetic.
# The processor's record is what proves the date (verification.py); this window only refuses the absurd before
# anything is asked, and still lets a result re-driven from the dead letters weeks later be recognised.
PAYMENT_DATE_AHEAD = timedelta(days=1)
PAYMENT_DATE_BEHIND = timedelta(days=366)


@dataclass(frozen=True)
class Refused:
    reason: PaymentRejectReason
    message: str


def assess(fields: Mapping[str, str], merchant: Merchant | None, now: datetime) -> PaymentConfirmed | Refused:
    """The payment a signed, successful, one-time credit-card result claims (sandbox may be simulated), or why not.

    `now` is the merchant's time (a sandbox test clock may run ahead): PaymentDate and TradeDate must lie within
    [now - PAYMENT_DATE_BEHIND, now + PAYMENT_DATE_AHEAD]."""
    if merchant is None:
        return Refused(PaymentRejectReason.UNKNOWN_MERCHANT, f"MerchantID {fields['MerchantID']} is not registered")
    keys = merchant.secrets
    if "CheckMacValue" not in fields or not verify_aio_check_mac_value(
        fields, keys.payment_hash_key.get_secret_value(), keys.payment_hash_iv.get_secret_value()
    ):
        return Refused(PaymentRejectReason.BAD_CHECKSUM, "CheckMacValue does not match the merchant's payment keys")
    missing = [name for name in REQUIRED if not fields.get(name)]
    if missing:
        return Refused(PaymentRejectReason.INVALID_FIELDS, f"missing fields: {', '.join(missing)}")
    if fields["RtnCode"] != "1":
        return Refused(PaymentRejectReason.NOT_PAID, f"RtnCode {fields['RtnCode']}: {fields.get('RtnMsg', '')}")
    markers = [name for name in INSTALMENT_MARKERS if fields.get(name, "") not in ("", "0")]
    if fields["PaymentType"] != ONE_TIME_CARD or markers:
        detail = f"PaymentType {fields['PaymentType']}" + (f" with {', '.join(markers)}" if markers else "")
        return Refused(PaymentRejectReason.NOT_ONE_TIME_CREDIT_CARD, f"escrow accepts one-time card only: {detail}")
    simulated = fields.get("SimulatePaid", "0") == "1"
    if simulated and not merchant.sandbox:
        return Refused(PaymentRejectReason.SIMULATED_IN_PRODUCTION, "SimulatePaid=1 is accepted in sandbox only")
    amount = ascii_amount(fields["TradeAmt"])
    if amount is None or not 0 < amount <= MAX_TRADE_AMT:
        return Refused(PaymentRejectReason.INVALID_FIELDS, f"TradeAmt must be whole NT$ 1-{MAX_TRADE_AMT}")
    if not _TRADE_NO.fullmatch(fields["TradeNo"]):
        return Refused(PaymentRejectReason.INVALID_FIELDS, "TradeNo must be 1-20 letters or digits")
    try:
        paid_at = _recent(parse_aio_time(fields["PaymentDate"]), now, "PaymentDate")
        trade_date = _recent(parse_aio_time(fields["TradeDate"]), now, "TradeDate") if fields.get("TradeDate") else None
    except ValueError as exc:
        return Refused(PaymentRejectReason.INVALID_FIELDS, str(exc))
    return PaymentConfirmed(
        merchant_id=fields["MerchantID"],
        merchant_trade_no=fields["MerchantTradeNo"],
        trade_no=fields["TradeNo"],
        amount=amount,
        payment_type=fields["PaymentType"],
        payment_date=paid_at,
        trade_date=trade_date,
        simulated=simulated,
        store_id=fields.get("StoreID") or None,
        # Fixed now, at the payment: a configuration change while the processor is asked moves no escrow end.
        escrow_days=merchant.record.escrow_days,
    )


def _recent(moment: datetime, now: datetime, name: str) -> datetime:
    if not now - PAYMENT_DATE_BEHIND <= moment <= now + PAYMENT_DATE_AHEAD:
        raise ValueError(f"{name} {moment:%Y-%m-%d} UTC is not within a year before now or a day after it")
    return moment
