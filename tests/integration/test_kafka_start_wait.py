"""A service's start waits for a broker that does not answer yet, and gives up with the broker's refusal when it never
accepts the service (shared/infra/kafka_ready.py). The broker is the session's real one; "not answering yet" is a
port with no listener that starts forwarding to it a moment later."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from shared.infra.kafka_auth import auth_mode
from shared.infra.kafka_ready import KafkaNotReady, wait_for_kafka
from shared.settings import Settings
from tests.support.ports import free_port


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _forward_to(target: str, port: int, after: float) -> asyncio.Server:
    """A listener on `port`, opened `after` seconds from now, that relays each connection to the broker at `target`."""
    host, target_port = target.split(",")[0].rsplit(":", 1)

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(host, int(target_port))
        await asyncio.gather(_forward(client_reader, broker_writer), _forward(broker_reader, client_writer))

    await asyncio.sleep(after)
    return await asyncio.start_server(relay, "127.0.0.1", port)


async def test_a_start_waits_for_a_broker_that_answers_only_after_a_while(
    topics: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    opening = asyncio.create_task(_forward_to(topics.kafka_bootstrap, port, after=2.0))
    with caplog.at_level(logging.WARNING, logger="shared.infra.kafka_ready"):
        attempts = await wait_for_kafka(f"127.0.0.1:{port}", seconds=30)
    server = await opening
    server.close()
    assert attempts > 1
    waits = [r.getMessage() for r in caplog.records if r.name == "shared.infra.kafka_ready"]
    assert len(waits) == attempts - 1
    assert all("does not accept principal" in w and "trying again" in w for w in waits)


async def test_a_start_gives_up_on_a_broker_that_refuses_the_password_and_says_whom_it_refused(
    topics: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if auth_mode() != "scram":
        pytest.skip("the broker authenticates nobody (KAFKA_AUTH=none)")
    monkeypatch.setenv("KAFKA_PRINCIPAL", "gateway")
    monkeypatch.setenv("KAFKA_PASSWORD", "not-the-gateways-password")
    with pytest.raises(KafkaNotReady) as refused:
        await wait_for_kafka(topics.kafka_bootstrap, seconds=2)
    assert "'gateway'" in str(refused.value)
    assert "not-the-gateways-password" not in str(refused.value)


async def test_a_start_with_the_right_password_goes_on_at_once(topics: Settings) -> None:
    assert await wait_for_kafka(topics.kafka_bootstrap, seconds=5) == 1
