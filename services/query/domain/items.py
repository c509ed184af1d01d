"""QueryItemInfo and BatchQueryItemInfo (§3.5, §3.6): a merchant's products from the catalogue (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.query.domain.queries import ItemPageQuery
from shared.contracts.catalog import Product


def item_fields(product: Product) -> dict[str, Any]:
    return {
        "ItemNo": product.item_no,
        "ItemName": product.name,
        "TicketType": int(product.ticket_type),
        "TicketPrice": product.face_value,
        "ItemStatus": "1" if product.listed else "0",
        "StartAfterDays": product.usage.start_after_days,
        "ValidDays": product.usage.valid_days or 0,
    }


def item_page(merchant_id: str, products: Iterable[Product], query: ItemPageQuery) -> dict[str, Any]:
    """The merchant's products that match, by ItemNo, 20 a page; TotalCount counts every match."""
    wanted = set(query.item_nos)
    matching = sorted(
        (
            p
            for p in products
            if p.merchant_id == merchant_id
            and (query.listed is None or p.listed == query.listed)
            and (not wanted or p.item_no in wanted)
        ),
        key=lambda p: p.item_no,
    )
    page = query.page
    return {
        "PageNum": page.number,
        "TotalCount": len(matching),
        "TotalPage": page.total_pages(len(matching)),
        "ItemList": [item_fields(p) for p in matching[page.offset : page.offset + page.size]],
    }
