"""Reading AIO's amounts and times: total functions of any text (None or ValueError, never another exception);
writing an instant as AIO does."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shared.clock import TAIPEI

# TradeAmt is whole NT$ in ASCII digits, nothing else ("+500", " 500", "5_00", "٥٠٠" and "５００" are all int() 500).
_AMOUNT = re.compile(r"[0-9]{1,10}")
_AIO_TIME = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


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


def aio_time(moment: datetime) -> str:
    """An instant as AIO writes it: Taipei wall clock, `yyyy/MM/dd HH:mm:ss`."""
    return moment.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")
