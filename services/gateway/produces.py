"""Concurrent requests' produces, handed to the Kafka producer by one task.

A request's produce cannot join a batch that is on its way to the broker: aiokafka makes it wait for that batch to
be acknowledged (`wait_drain`, an `asyncio.wait` with its own timer), and with one merchant's requests all on one
partition nearly every request arriving meanwhile waited so, each on its own: a twelfth of the gateway's CPU at
500 requests/s (py-spy, docs/benchmarks.md, "HTTP gateway: CPU per request"). Here the requests queue, one task
hands them to the producer in arrival order (so at most it waits, once for all of them), and each request learns
its own outcome when the broker acknowledges it, as `send_and_wait` would tell it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

Queued = tuple[str, bytes, bytes, asyncio.Future[None]]  # topic, value, key, what its sender awaits


class Produces:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._queue: list[Queued] = []
        self._handing_over: asyncio.Task[None] | None = None  # referenced while it runs (asyncio keeps weak ones)

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        """Returns once every in-sync replica has the message; raises what the producer raised (KafkaError)."""
        loop = asyncio.get_running_loop()
        acknowledged: asyncio.Future[None] = loop.create_future()
        self._queue.append((topic, value, key, acknowledged))
        if self._handing_over is None:
            self._handing_over = loop.create_task(self._hand_over())
        await acknowledged

    async def _hand_over(self) -> None:
        try:
            while self._queue:
                queued, self._queue = self._queue, []
                for topic, value, key, acknowledged in queued:
                    try:
                        delivery = await self._producer.send(topic, value, key=key)
                    except Exception as exc:  # each request answers for itself (503 on a KafkaError)
                        _settle(acknowledged, exc)
                    else:
                        delivery.add_done_callback(lambda done, ack=acknowledged: _delivered(ack, done))
        finally:
            self._handing_over = None


def _delivered(acknowledged: asyncio.Future[None], delivery: asyncio.Future[Any]) -> None:
    if delivery.cancelled():
        _settle(acknowledged, KafkaError("the produce was cancelled"))
    else:
        _settle(acknowledged, delivery.exception())


def _settle(acknowledged: asyncio.Future[None], error: BaseException | None) -> None:
    if acknowledged.done():  # its request was cancelled meanwhile
        return
    if error is None:
        acknowledged.set_result(None)
    else:
        acknowledged.set_exception(error)
