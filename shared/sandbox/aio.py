"""Building AIO payment results the way ECPay sends them: the sandbox payment processor signs the results it
delivers with this, and tests use it to forge or alter one (a genuine payment is made through the processor:
`shared.sandbox.checkout`)."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlencode

from shared.clock import TAIPEI
from shared.ecticket.aio import aio_check_mac_value

AIO_KEY, AIO_IV = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"


def payment_result(
    merchant_id: str,
    trade_no: str,
    amount: int,
    *,
    paid_at: datetime,
    traded_at: datetime | None = None,
    ecpay_trade_no: str | None = None,
    payment_type: str = "Credit_CreditCard",
    rtn_code: str = "1",
    simulate: bool = False,
    extra: dict[str, str] | None = None,
    key: str = AIO_KEY,
    iv: str = AIO_IV,
) -> dict[str, str]:
    """The fields of one AIO result, CheckMacValue last. `traded_at` (TradeDate, when the order was created at the
    processor) defaults to `paid_at`."""
    local = aio_time(paid_at)
    fields = {
        "MerchantID": merchant_id,
        "MerchantTradeNo": trade_no,
        "StoreID": "",
        "RtnCode": rtn_code,
        "RtnMsg": "交易成功" if rtn_code == "1" else "failed",
        "TradeNo": ecpay_trade_no or ("E" + trade_no)[:20],
        "TradeAmt": str(amount),
        "PaymentDate": local,
        "PaymentType": payment_type,
        "PaymentTypeChargeFee": "0",
        "TradeDate": aio_time(traded_at or paid_at),
        "SimulatePaid": "1" if simulate else "0",
        "CustomField1": "",
        **(extra or {}),
    }
    fields["CheckMacValue"] = aio_check_mac_value(fields, key, iv)
    return fields


def aio_time(moment: datetime) -> str:
    """An instant as AIO writes it: `yyyy/MM/dd HH:mm:ss` in Asia/Taipei."""
    return moment.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")


def as_form(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def as_json(fields: dict[str, str]) -> bytes:
    """The body of a result posted as JSON (what the processor publishes and `MerchantClient.send_payment` sends)."""
    return json.dumps(fields).encode()


def signed(fields: dict[str, str], *, key: str = AIO_KEY, iv: str = AIO_IV) -> dict[str, str]:
    """`fields` with their CheckMacValue made again: a result altered (amount, date, ...) and signed with the
    merchant's payment keys, as a merchant forging one could."""
    rest = {name: value for name, value in fields.items() if name != "CheckMacValue"}
    return {**rest, "CheckMacValue": aio_check_mac_value(rest, key, iv)}
