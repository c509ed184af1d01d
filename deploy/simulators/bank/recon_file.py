"""The processor's reconciliation file as the bank reads it (pure): CSV rows of captured trades
(docs/money-trust.md, `GET /recon/{date}?after=SEQ`), each checked, never guessed at."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from shared.clock import TAIPEI

HEADER = ("Seq", "MerchantID", "MerchantTradeNo", "TradeNo", "TradeAmt", "PaymentType", "PaymentDate", "CaptureDate")


class BadReconFile(ValueError):
    """The file is not what the contract says: the bank books nothing of it (and reads it again next time)."""


@dataclass(frozen=True)
class CapturedTrade:
    seq: int
    merchant_id: str
    merchant_trade_no: str
    trade_no: str
    amount: int
    captured_at: datetime


def parse(text: str) -> list[CapturedTrade]:
    """Every row of the file, in its order; BadReconFile if any row (or the header) is malformed."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != HEADER:
        raise BadReconFile(f"unexpected header {rows[0] if rows else None!r}")
    return [_trade(n, row) for n, row in enumerate(rows[1:], start=2) if row]


def _trade(line: int, row: list[str]) -> CapturedTrade:
    if len(row) != len(HEADER):
        raise BadReconFile(f"line {line}: {len(row)} fields, expected {len(HEADER)}")
    fields = dict(zip(HEADER, row, strict=True))
    try:
        seq, amount = int(fields["Seq"]), int(fields["TradeAmt"])
        captured = datetime.strptime(fields["CaptureDate"], "%Y/%m/%d %H:%M:%S").replace(tzinfo=TAIPEI)
    except ValueError as exc:
        raise BadReconFile(f"line {line}: {exc}") from None
    if amount <= 0 or not all(fields[f] for f in ("MerchantID", "MerchantTradeNo", "TradeNo")):
        raise BadReconFile(f"line {line}: a captured trade needs a positive amount and its three ids")
    return CapturedTrade(seq, fields["MerchantID"], fields["MerchantTradeNo"], fields["TradeNo"], amount, captured)
