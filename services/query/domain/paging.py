"""Fixed-size pages as ECTicket numbers them: page 1 is the first; a page past the end is empty (pure)."""

from __future__ import annotations

from dataclasses import dataclass

TICKETS_PER_PAGE = 200  # QueryOrderInfo / QueryTicketStatus by order (§3.11)
ITEMS_PER_PAGE = 20  # BatchQueryItemInfo (§3.6)


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def total_pages(self, total: int) -> int:
        return max(1, -(-total // self.size))
