"""Pure decisions about an AIO payment result: is it a verified one-time card payment, and is it new?"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.clock import TAIPEI
from shared.contracts.payments import PaymentConfirmed, PaymentRejectReason
from shared.ecticket.aio import verify_aio_check_mac_value
from shared.merchants.model import Merchant

ONE_TIME_CARD = "Credit_CreditCard"
# Fields that only instalment or periodic (recurring) card payments carry with a meaningful value.
INSTALMENT_MARKERS = ("stage", "stast", "staed", "PeriodType", "Frequency", "ExecTimes", "PeriodAmount")
REQUIRED = ("MerchantID", "MerchantTradeNo", "RtnCode", "TradeNo", "TradeAmt", "PaymentDate", "PaymentType")
# TradeAmt is whole NT$ in ASCII digits, nothing else ("+500", " 500", "5_00", "٥٠٠" and "５００" are all int() 500).
# The cap is the largest order issuance accepts (1,000 tickets of NT$1,000,000), well inside the int4 columns.
MAX_TRADE_AMT = 1_000_000_000
_AMOUNT = re.compile(r"[0-9]{1,10}")
# AIO's TradeNo: String(20), letters and digits.
_TRADE_NO = re.compile(r"[A-Za-z0-9]{1,20}")
_AIO_TIME = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
# A payment result reports a payment that just happened (ECPay retries a callback for a few days): a date in the
# future beyond clock skew, or older than a year, is not a real one, and far dates break the escrow arithmetic.
PAYMENT_DATE_AHEAD = timedelta(days=1)
PAYMENT_DATE_BEHIND = timedelta(days=366)


@dataclass(frozen=True)
class Refused:
    reason: PaymentRejectReason
    message: str


def assess(fields: Mapping[str, str], merchant: Merchant | None, now: datetime) -> PaymentConfirmed | Refused:
    """Accept only a verified, successful, one-time credit-card payment (sandbox may be simulated).

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
    )


def ascii_amount(text: str) -> int | None:
    """A count or amount written in 1-10 ASCII digits, else None (never an exception, whatever the text)."""
    return int(text) if _AMOUNT.fullmatch(text) else None


def parse_aio_time(text: str) -> datetime:
    """AIO times are Taipei wall-clock `yyyy/MM/dd HH:mm:ss` (ASCII digits, zero-padded); returned as aware UTC.

    Raises ValueError (never OverflowError) for anything else, year 1 and 9999 included: their UTC conversion
    falls outside what a datetime can hold."""
    match = _AIO_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{text[:40]!r} is not an AIO time (yyyy/MM/dd HH:mm:ss)")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    if not 1 < year < 9999:
        raise ValueError(f"year {year} is out of range")
    local = datetime(year, month, day, hour, minute, second, tzinfo=TAIPEI)  # ValueError for a 31 February
    return local.astimezone(UTC)


def _recent(moment: datetime, now: datetime, name: str) -> datetime:
    if not now - PAYMENT_DATE_BEHIND <= moment <= now + PAYMENT_DATE_AHEAD:
        raise ValueError(f"{name} {moment:%Y-%m-%d} UTC is not within a year before now or a day after it")
    return moment


@dataclass(frozen=True)
class Known:
    trade_no: str
    amount: int


def is_same_payment(known: Known, new: PaymentConfirmed) -> bool:
    """A redelivery of the payment already recorded (changes nothing), as opposed to a conflicting second one."""
    return known.trade_no == new.trade_no and known.amount == new.amount
