"""Pure decisions about an AIO payment result: is it a verified one-time card payment, and is it new?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.clock import TAIPEI
from shared.contracts.payments import PaymentConfirmed, PaymentRejectReason
from shared.ecticket.aio import verify_aio_check_mac_value
from shared.merchants.model import Merchant

ONE_TIME_CARD = "Credit_CreditCard"
# Fields that only instalment or periodic (recurring) card payments carry with a meaningful value.
INSTALMENT_MARKERS = ("stage", "stast", "staed", "PeriodType", "Frequency", "ExecTimes", "PeriodAmount")
REQUIRED = ("MerchantID", "MerchantTradeNo", "RtnCode", "TradeNo", "TradeAmt", "PaymentDate", "PaymentType")


@dataclass(frozen=True)
class Refused:
    reason: PaymentRejectReason
    message: str


def assess(fields: Mapping[str, str], merchant: Merchant | None) -> PaymentConfirmed | Refused:
    """Accept only a verified, successful, one-time credit-card payment (sandbox may be simulated)."""
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
    try:
        amount = int(fields["TradeAmt"])
        paid_at = parse_aio_time(fields["PaymentDate"])
        trade_date = parse_aio_time(fields["TradeDate"]) if fields.get("TradeDate") else None
    except ValueError as exc:
        return Refused(PaymentRejectReason.INVALID_FIELDS, str(exc))
    if amount <= 0:
        return Refused(PaymentRejectReason.INVALID_FIELDS, f"TradeAmt {amount} is not positive")
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


def parse_aio_time(text: str) -> datetime:
    """AIO times are Taipei wall-clock `yyyy/MM/dd HH:mm:ss`; returned as aware UTC."""
    local = datetime.strptime(text, "%Y/%m/%d %H:%M:%S").replace(tzinfo=TAIPEI)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Known:
    trade_no: str
    amount: int


def is_same_payment(known: Known, new: PaymentConfirmed) -> bool:
    """A redelivery of the payment already recorded (changes nothing), as opposed to a conflicting second one."""
    return known.trade_no == new.trade_no and known.amount == new.amount
