"""The paid-order stream: each order paid at the processor simulator, issued once the payment is confirmed, then
its ticket's story told request by request (each sent once the previous one is answered); expiry merchants' clocks
moved past escrow once their orders are issued. Batches of orders run side by side, so faults meet every step."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from deploy.chaos.observer import Observer
from deploy.chaos.plans import EXPIRY_WAVES, STEPS, TICKET_NOT_FOUND, Order
from shared.admin.clocks import advance_clock
from shared.ecticket.processor_query import processor_url
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.kafka_auth import kafka_security
from shared.sandbox.checkout import Checkout, ProcessorError, checkout_many
from shared.sandbox.merchant import MerchantClient, open_reply
from shared.settings import Settings

CODE_KEY = CodeKey.from_hex(Settings.from_env().code_key_hex)  # TicketsIssued carries the WriteOffNo sealed
BATCH = 50
IN_FLIGHT = 4  # batches at a time
WAIT_SECONDS = 180.0
RETRIES = 3
RETRY_AFTER_SECONDS = 3.0  # for one step of a batch; longer means lost (reported), never waited forever


@dataclass
class Sent:
    request_id: str
    trade_no: str
    operation: str  # Issue, WriteOff/1, Refund/2...
    sent_at: float  # time.monotonic()


@dataclass
class Stream:
    settings: Settings
    observer: Observer
    orders: list[Order]
    expiry_merchants: list[str]
    sent: list[Sent] = field(default_factory=list)
    resends: int = 0  # requests sent again after the broker refused them (the same request id)
    checkout_failures: list[str] = field(default_factory=list)
    clocks_moved: list[str] = field(default_factory=list)
    started: int = 0  # orders whose payment has been started

    def progress(self) -> float:
        return self.started / len(self.orders)

    async def run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all",
                                    enable_idempotence=True, request_timeout_ms=120_000, linger_ms=5, **kafka_security())  # fmt: skip
        await producer.start()
        client = MerchantClient(producer)
        slots = asyncio.Semaphore(IN_FLIGHT)
        try:
            batches = [self.orders[i : i + BATCH] for i in range(0, len(self.orders), BATCH)]
            clocks = asyncio.create_task(self._move_clocks())
            await asyncio.gather(*(self._batch(client, batch, slots) for batch in batches))
            await clocks
        finally:
            await producer.stop()

    async def _batch(self, client: MerchantClient, batch: list[Order], slots: asyncio.Semaphore) -> None:
        async with slots:
            self.started += len(batch)
            seen = self.observer.seen
            try:
                await checkout_many(processor_url(), [Checkout(o.merchant_id, o.trade_no, 500) for o in batch])
            except ProcessorError as exc:
                self.checkout_failures += [f"{o.trade_no}: {exc}" for o in batch]
                for order in batch:
                    order.stuck = "checkout"
                return
            live = await self._until(batch, "payment", lambda o: bool(seen.payments.get(o.trade_no)))
            await asyncio.gather(*(self._send(client, o, "Issue", _issue(o)) for o in live))
            live = await self._until(live, "issue", lambda o: bool(seen.issued.get(o.trade_no)))
            for order in live:
                [ticket] = next(iter(seen.issued[order.trade_no].values()))["tickets"]
                order.ticket_no = ticket["ticket_no"]
                order.write_off_no = CODE_KEY.open(ticket["ticket_no"], ticket["write_off_sealed"])
            for step in range(2):
                await self._tell(client, [o for o in live if len(STEPS[o.story]) > step], step)

    async def _tell(self, client: MerchantClient, orders: list[Order], step: int) -> None:
        """One step of each order's story; a request refused because redemption had not yet learned the ticket
        (its bounded wait ran out during a fault) is sent again, as a merchant's terminal would."""
        seen = self.observer.seen
        for attempt in range(RETRIES + 1):
            ids = await asyncio.gather(*(self._step(client, o, step) for o in orders))
            asked = dict(zip(ids, orders, strict=True))
            await self._until(list(asked), f"reply {step + 1}", lambda r: bool(seen.replies.get(r)), asked)
            again = []
            for request_id, order in asked.items():
                if not (replies := seen.replies.get(request_id)):
                    continue
                code = str(open_reply(next(iter(replies.values())).response, order.merchant_id).get("RtnCode"))
                if code == TICKET_NOT_FOUND and attempt < RETRIES:
                    order.refused += 1
                    again.append(order)
                else:
                    order.answers.append(code)
            if not again:
                return
            orders = again
            await asyncio.sleep(RETRY_AFTER_SECONDS)

    async def _until(self, items: list[object] | list[Order] | list[str], step: str, done: Callable[..., bool],
                     owners: dict[str, Order] | None = None) -> list[Order]:  # fmt: skip
        """Wait for `done` of every item; the orders whose wait ran out are marked stuck and dropped."""
        await self.observer.until(lambda: all(done(i) for i in items), WAIT_SECONDS)
        kept = []
        for item in items:
            order = owners[item] if owners is not None and isinstance(item, str) else item
            assert isinstance(order, Order)
            if done(item):
                kept.append(order)
            elif not order.stuck:
                order.stuck = step
        return kept

    async def _step(self, client: MerchantClient, order: Order, step: int) -> str:
        operation, action = STEPS[order.story][step]
        data: dict[str, object] = {"MerchantID": order.merchant_id, "Action": action}
        if operation == "WriteOff":
            data |= {"WriteOffNo": order.write_off_no, "Operator": "pos", "StoreID": "S001"}
            data |= {"CancelReason": "chaos"} if action == "2" else {}
        else:
            data |= {"TicketNo": order.ticket_no, "WriteOffNo": "", "Operator": "desk"}
        return await self._send(client, order, f"{operation}/{action}", data)

    async def _send(self, client: MerchantClient, order: Order, operation: str, data: dict[str, object]) -> str:
        message = client.request(operation.split("/")[0], data, merchant_id=order.merchant_id)
        request_id = str(message["request_id"])
        self.observer.requests.add(request_id)
        self.sent.append(Sent(request_id, order.trade_no, operation, time.monotonic()))
        for attempt in range(5):
            try:
                await client.send_request(message)
                break
            except KafkaError:
                if attempt == 4:
                    raise
                self.resends += 1
                await asyncio.sleep(2)
        return request_id

    async def _move_clocks(self) -> None:
        """Each expiry merchant's clock moves 91 days ahead once the stream is past its wave (plus a margin) and
        its orders are issued: their unused tickets' escrow then expires under the faults still to come."""
        seen = self.observer.seen
        for merchant_id, end in zip(self.expiry_merchants, EXPIRY_WAVES, strict=False):
            while self.progress() < min(1.0, end + 0.1):  # noqa: ASYNC110 (the stream's counter: polled)
                await asyncio.sleep(0.5)
            mine = [o for o in self.orders if o.merchant_id == merchant_id]

            def issued(orders: list[Order] = mine) -> bool:
                return all(o.stuck or o.trade_no in seen.issued for o in orders)

            await self.observer.until(issued, WAIT_SECONDS)
            await _patiently(functools.partial(advance_clock, self.settings, merchant_id, timedelta(days=91)))
            self.clocks_moved.append(merchant_id)


def _issue(order: Order) -> dict[str, object]:
    return {"MerchantID": order.merchant_id, "MerchantTradeNo": order.trade_no, "IssueType": "3",
            "Operator": "chaos", "TicketInfo": [{"ItemNo": "PU000500", "TicketAmount": 1}]}  # fmt: skip


async def _patiently(call: Callable[[], Awaitable[object]]) -> None:
    """An admin call during a broker outage: tried again until the broker is back. TimeoutError too: the call first
    reads the merchants' compacted topic to its end, and that read gives up after 10 s (shared/infra/compacted.py)
    when the broker goes down under it (a CI chaos run failed so)."""
    for attempt in range(30):
        try:
            await call()
            return
        except (KafkaError, TimeoutError):
            if attempt == 29:
                raise
            await asyncio.sleep(2)
