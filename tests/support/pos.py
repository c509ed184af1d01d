"""A point-of-sale terminal in a test: sends WriteOff and Refund requests and reads their replies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Seen, Tap
from shared.topics import INGEST_REQUESTS, REDEMPTION_EVENTS
from tests.support import tap as session_tap
from tests.support.orders import reply_data


@dataclass
class Pos:
    client: MerchantClient
    tap: Tap
    merchant_id: str
    platform_id: str | None = None  # a platform sealing requests for its sub-merchant

    def write_off_message(self, write_off_no: str, action: str = "1", **fields: Any) -> dict[str, Any]:
        data = {"MerchantID": self.merchant_id, "WriteOffNo": write_off_no, "Action": action, "Operator": "pos1"}
        data |= {"StoreID": "S001", **({"CancelReason": "mistake"} if action == "2" else {}), **fields}
        return self.client.request("WriteOff", data, merchant_id=self.merchant_id, platform_id=self.platform_id)

    def refund_message(
        self, *, ticket_no: str = "", write_off_no: str = "", action: str = "1", **fields: Any
    ) -> dict[str, Any]:
        data = {"MerchantID": self.merchant_id, "TicketNo": ticket_no, "WriteOffNo": write_off_no, "Action": action}
        data |= {"Operator": "desk1", **fields}
        return self.client.request("Refund", data, merchant_id=self.merchant_id, platform_id=self.platform_id)

    async def send(self, message: dict[str, Any], partition: int | None = None) -> str:
        return await self.client.send_request(message, partition)

    async def answer(self, message: dict[str, Any], seconds: float = 30) -> dict[str, Any]:
        """Send the request and return its decrypted reply Data."""
        request_id = await self.send(message)
        return await self.reply(request_id, seconds)

    async def reply(self, request_id: str, seconds: float = 30) -> dict[str, Any]:
        return await reply_data(self.tap, request_id, self.platform_id or self.merchant_id, seconds)

    async def write_off(self, write_off_no: str, action: str = "1") -> dict[str, Any]:
        return await self.answer(self.write_off_message(write_off_no, action))

    async def refund(self, *, ticket_no: str = "", write_off_no: str = "", action: str = "1") -> dict[str, Any]:
        return await self.answer(self.refund_message(ticket_no=ticket_no, write_off_no=write_off_no, action=action))

    async def send_at_once(self, messages: list[dict[str, Any]], partitions: int = 6) -> list[str]:
        """Queue every request before waiting for any, spread round-robin over explicit partitions, so they
        reach the consumers (and their database transactions) at the same time."""
        producer = self.client.producer
        key = self.merchant_id.encode()
        deliveries = [
            await producer.send(INGEST_REQUESTS, json.dumps(m).encode(), key=key, partition=i % partitions)
            for i, m in enumerate(messages)
        ]
        await asyncio.gather(*deliveries)
        return [str(m["request_id"]) for m in messages]


async def redemption_events(tap: session_tap.Tap, request_ids: Iterable[str], seconds: float = 60) -> list[Seen]:
    """Every redemption event of these requests, once each has one (its change, or RedemptionRejected). A reply and
    its event leave in one relay batch but on two topics, which the tap reads independently: waiting for the replies
    does not mean their events were read."""
    wanted = set(request_ids)
    ours = lambda s: s.topic.startswith(REDEMPTION_EVENTS) and s.payload.get("request_id") in wanted  # noqa: E731
    await tap.wait_for_each(ours, lambda s: s.payload["request_id"], set(wanted), seconds)
    return tap.matching(ours)
