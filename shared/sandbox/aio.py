"""Building AIO payment results the way ECPay sends them (for the sandbox: demo, benchmark, tests)."""

from __future__ import annotations

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
    ecpay_trade_no: str | None = None,
    payment_type: str = "Credit_CreditCard",
    rtn_code: str = "1",
    simulate: bool = False,
    extra: dict[str, str] | None = None,
    key: str = AIO_KEY,
    iv: str = AIO_IV,
) -> dict[str, str]:
    local = paid_at.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")
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
        "TradeDate": local,
        "SimulatePaid": "1" if simulate else "0",
        "CustomField1": "",
        **(extra or {}),
    }
    fields["CheckMacValue"] = aio_check_mac_value(fields, key, iv)
    return fields


def as_form(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()
