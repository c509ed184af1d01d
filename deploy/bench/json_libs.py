"""The JSON the services parse and write outside pydantic, with the standard library and with orjson and msgspec
(issue 17: "faster JSON (orjson or msgspec) where pydantic is not needed on the hot path").

Outside pydantic (which parses and writes every event, in Rust), a request costs the platform two JSON steps: the
merchant's decrypted Data read by `bounded_json.loads` (the standard parser plus the limits a hostile message needs)
and the reply's Data written by `serialize_data` (the exact string that is encrypted and checksummed). This times
each on a WriteOff's Data and a QueryOrderInfo reply's Data of 20 tickets, against orjson's and msgspec's plain
parse and write (which have no such limits: the checks would remain). Microseconds per call, the best of five
rounds. orjson and msgspec are not dependencies; they are measured where they import:

    pip install --target /tmp/json-libs orjson msgspec
    PYTHONPATH=/tmp/json-libs python -m deploy.bench.json_libs
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from deploy.bench.common import microseconds
from shared import bounded_json
from shared.ecticket.envelope import serialize_data

WRITE_OFF = {"MerchantID": "3085676", "TicketNo": "T2026120100000123", "WriteOffNo": "8dGk2p9QzX4mWb7R",
             "StoreID": "STORE-0042", "Timestamp": 1764547200}  # fmt: skip
REPLY = {
    "RtnCode": 1,
    "RtnMsg": "成功",
    "MerchantID": "3085676",
    "MerchantTradeNo": "A202612010001",
    "TicketInfo": [
        {"TicketNo": f"T20261201{n:08d}", "UseStatus": 1, "TicketAmount": 350, "ProductName": "兌換券 大杯拿鐵",
         "IssueDate": "2026/12/01 10:00:00", "ExpireDate": "2027/12/01 23:59:59"}
        for n in range(20)
    ],
}  # fmt: skip


def best(step: Callable[[], object], times: int = 20_000) -> float:
    return min(microseconds(step, times) for _ in range(5))


def main() -> None:
    texts = {"WriteOff Data": serialize_data(WRITE_OFF), "reply Data, 20 tickets": serialize_data(REPLY)}
    values: dict[str, dict[str, Any]] = {"WriteOff Data": WRITE_OFF, "reply Data, 20 tickets": REPLY}
    rows = []
    for name, text in texts.items():
        value = values[name]
        row = {
            "read: bounded_json.loads (kept)": best(partial(bounded_json.loads, text)),
            "read: json.loads": best(partial(json.loads, text)),
            "write: serialize_data (kept)": best(partial(serialize_data, value)),
        }
        for module, read, write in (("orjson", "loads", "dumps"), ("msgspec.json", "decode", "encode")):
            library = _optional(module)
            if library is not None:
                row[f"read: {module}.{read}"] = best(partial(getattr(library, read), text))
                row[f"write: {module}.{write}"] = best(partial(getattr(library, write), value))
        rows.append((f"{name} ({len(text.encode()):,} bytes)", row))
    for name, row in rows:
        print(name)
        for step, us in row.items():
            print(f"  {step:<34} {us:6.2f} µs")


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


if __name__ == "__main__":
    main()
