"""The gateway wired: a Kafka producer (requests and payment results in), the reply tail, the HTTP server.

The HTTP server and the reply tail run as one of the runtime's loops, not as a consumer route: on SIGTERM the
server first stops accepting, then the requests in flight get up to GATEWAY_DRAIN_SECONDS for their replies (the
tail keeps reading meanwhile), and only then does the tail stop. A consumer route would stop with the runtime's
consumer, before the replies of the requests in flight arrived."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from aiokafka import AIOKafkaProducer

from services.gateway import store
from services.gateway.api import GatewayApi
from services.gateway.config import GatewayConfig
from services.gateway.relay import Relay
from services.gateway.replies import ReplyTail
from shared.infra import retention
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import GATEWAY_CLIENT
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every

log = logging.getLogger(__name__)

NAME = "gateway"


class _Server(uvicorn.Server):
    """The runtime owns SIGTERM/SIGINT (it sets `stopping`); uvicorn must not take them over."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def wire(runtime: Runtime) -> Wiring:
    config = GatewayConfig.from_env(runtime.settings.config_key_hex)
    producer = AIOKafkaProducer(
        bootstrap_servers=runtime.settings.kafka_bootstrap,
        client_id=GATEWAY_CLIENT,  # exempt from the produce quotas: it enforces per-merchant rate limits itself
        acks="all",
        enable_idempotence=True,
        linger_ms=1,
        max_request_size=1024 * 1024,
        **kafka_security(),
    )
    await producer.start()
    tail = ReplyTail(runtime.settings.kafka_bootstrap, runtime.pool)
    await tail.start()
    relay = Relay(producer, tail, runtime.pool, config.reply_seconds)
    api = GatewayApi(config, relay, runtime.merchants.view)
    server = _Server(
        uvicorn.Config(
            api.application(),
            host=config.host,
            port=config.port,
            log_config=None,  # the runtime's logging; no access log (a benchmark would write a line a request)
            access_log=False,
            http="httptools",
            lifespan="off",
            timeout_graceful_shutdown=int(config.drain_seconds) + 2,
            # POS terminals and platforms keep their connections: closing an idle one after uvicorn's 5 s races a
            # client that is just sending on it (seen in the benchmark as a reset write).
            timeout_keep_alive=30,
        )
    )
    tail_stop = asyncio.Event()
    tail_task = asyncio.create_task(tail.run(tail_stop))
    server_task = asyncio.create_task(server.serve())
    while not server.started:
        if server_task.done():
            tail_stop.set()
            await tail_task
            raise RuntimeError(f"{NAME}: the HTTP server did not start on {config.host}:{config.port}")
        await asyncio.sleep(0.02)
    log.info("%s: listening on http://%s:%d", NAME, config.host, config.port)

    async def serve_until_stopped() -> None:
        stopped = asyncio.create_task(runtime.stopping.wait())
        await asyncio.wait([stopped, server_task, tail_task], return_when=asyncio.FIRST_COMPLETED)
        if not runtime.stopping.is_set():  # the server or the tail ended on its own: a failure
            stopped.cancel()
            for task in (server_task, tail_task):
                if task.done() and task.exception() is not None:
                    raise RuntimeError(f"{NAME}: a loop crashed") from task.exception()
            raise RuntimeError(f"{NAME}: the HTTP server or the reply tail stopped")
        await drain(api, server, server_task, tail, config.drain_seconds)
        tail_stop.set()
        await tail_task

    async def close() -> None:
        await tail.stop()
        await producer.stop()

    keep = retention.retention()

    async def prune_replies() -> bool:
        return await store.prune(runtime.pool, runtime.clock.now() - keep, retention.PRUNE_BATCH)

    pruning = every(retention.PRUNE_EVERY_SECONDS, prune_replies, runtime.stopping, "replies pruning")
    return Wiring(routes={}, timers=[serve_until_stopped(), pruning], closers=[close])


async def drain(
    api: GatewayApi, server: uvicorn.Server, serving: asyncio.Task[None], tail: ReplyTail, seconds: float
) -> None:
    """Stop accepting, let the requests in flight have their replies for up to `seconds`, then answer the rest
    503 (the identical request sent again gets its outcome) and let the server finish."""
    api.accepting = False
    server.should_exit = True
    give_up = asyncio.get_running_loop().call_later(seconds, tail.give_up_all)
    try:
        await serving
    finally:
        give_up.cancel()
    log.info("%s: requests in flight finished", NAME)


SPEC = ServiceSpec(name=NAME, schema=NAME, migrations=Path(__file__).parent / "migrations", wire=wire)
