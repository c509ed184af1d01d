"""What reading and writing one order book costs escrow-settlement's process, by JSON library (docs/benchmarks.md,
"Order books written and read by pydantic's JSON").

Every ledger event loads its order's book from `order_books` and saves it back (services/escrow_settlement/store/
codec.py). The book here is the most common one: a pickup voucher paid, issued and written off, with the three facts
it has seen. Both ways in one process, alternating, so the machine's load falls on both alike: the json module (as
the codec was) and pydantic's JSON (Rust, as it is now), around the same conversion of the book to and from plain
data. No database, no broker:

    python -m deploy.bench.book_codec --rounds 5
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from pydantic_core import from_json, to_json

from deploy.bench.common import microseconds
from services.escrow_settlement.store.codec import order_book_data, order_book_from

BOOK = (
    '{"v": 2, "held": [], "seen": ["10197c2e-0fb1-42ae-aff2-c0c6bbb32525", "24a1b5cb-e783-42c2-8315-c55cd3ade215",'
    ' "e751ae46-75ee-4f4b-9b28-ecf4b285b953"], "order": ["7353479800", "BS84C700000000025339"], "failed": null,'
    ' "issued": {"on": "2026-11-30", "type": "OrderIssued", "order": {"merchant_id": "7353479800", "ticket_trade_no":'
    ' "BS84C700000000025339"}, "tickets": [{"ticket_no": "C700000000025339", "face_value": 500, "ticket_type": 1}],'
    ' "cause_id": "10197c2e-0fb1-42ae-aff2-c0c6bbb32525", "escrow_expiry_date": "2027-02-27"}, "parked": [],'
    ' "payment": {"on": "2026-11-30", "type": "PaymentReceived", "order": {"merchant_id": "7353479800",'
    ' "ticket_trade_no": "BS84C700000000025339"}, "amount": 500, "cause_id": "e751ae46-75ee-4f4b-9b28-ecf4b285b953",'
    ' "duplicate_of": null}, "tickets": {"C700000000025339": [500, "merchant_by_write_off", 0, 0]},'
    ' "extra_payments": []}'
)
WAYS: dict[str, tuple[Callable[[dict[str, Any]], str], Callable[[str], Any]]] = {
    "json module": (json.dumps, json.loads),
    "pydantic's JSON": (lambda data: to_json(data).decode(), from_json),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--times", type=int, default=20_000, help="reads and writes per way and round")
    args = parser.parse_args()
    book = order_book_from(json.loads(BOOK))
    for dumps, loads in WAYS.values():  # both ways give the same book back
        assert order_book_from(loads(dumps(order_book_data(book)))) == book
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in WAYS}
    for _ in range(args.rounds):
        for name, (dumps, loads) in WAYS.items():
            text = dumps(order_book_data(book))
            write = microseconds(lambda: dumps(order_book_data(book)), args.times)  # noqa: B023 (called here)
            read = microseconds(lambda: order_book_from(loads(text)), args.times)  # noqa: B023 (called here)
            results[name].append((write, read))
    for name, runs in results.items():
        writes = ", ".join(f"{w:.1f}" for w, _ in runs)
        reads = ", ".join(f"{r:.1f}" for _, r in runs)
        print(f"{name}: write {writes} µs; read {reads} µs")


if __name__ == "__main__":
    main()
