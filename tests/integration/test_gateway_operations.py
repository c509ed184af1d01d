"""Running the gateway: a second instance beside the platform's (strict rate limit), sharing the replies it
recorded, refusing a merchant that calls too fast with HTTP 403, and finishing its requests in flight on SIGTERM."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from shared.contracts.rtncodes import RtnCode
from shared.sandbox.merchant import KEYS, unique
from shared.settings import Settings
from tests.support.http_client import HttpMerchant
from tests.support.merchants import fresh_merchant
from tests.support.ports import free_port
from tests.support.processes import Platform, ServiceProcess


@pytest.fixture(scope="module")
async def second(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServiceProcess]:
    """Another gateway instance: two requests at once per merchant, then one every 10 s."""
    port = free_port()
    workdir = Path(tmp_path_factory.mktemp("second-gateway"))
    limits = {"GATEWAY_PORT": str(port), "GATEWAY_RATE_PER_SECOND": "0.1", "GATEWAY_RATE_BURST": "2"}
    service = ServiceProcess("gateway", workdir, {**platform["gateway"].env, **limits})
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def url_of(service: ServiceProcess) -> str:
    return f"http://127.0.0.1:{service.env['GATEWAY_PORT']}"


@pytest.fixture
async def merchant_id(topics: Settings) -> str:
    """A merchant of each test's own: the strict instance's buckets are per merchant."""
    return await fresh_merchant(topics)


async def test_a_merchant_calling_too_fast_gets_http_403_and_others_do_not(
    second: ServiceProcess, merchant_id: str, topics: Settings
) -> None:
    other = await fresh_merchant(topics)
    async with (
        HttpMerchant(merchant_id, *KEYS[merchant_id], base_url=url_of(second)) as fast,
        HttpMerchant(other, *KEYS[other], base_url=url_of(second)) as calm,
    ):
        now = int(time.time())
        answers = [await fast.call("EscrowDay", {"MerchantID": merchant_id}, timestamp=now - i) for i in range(3)]
        assert [a.status for a in answers] == [200, 200, 403]
        assert int(answers[2].headers["retry-after"]) >= 1 and "error" in answers[2].json
        assert (await calm.ok("EscrowDay", {}))["RtnCode"] == RtnCode.SUCCESS


async def test_a_reply_recorded_by_one_instance_answers_the_replay_at_another(
    second: ServiceProcess, merchant_id: str
) -> None:
    data = {"MerchantID": merchant_id, "MerchantTradeNo": unique("NO")}
    async with (
        HttpMerchant(merchant_id, *KEYS[merchant_id], base_url=url_of(second)) as there,
        HttpMerchant(merchant_id, *KEYS[merchant_id]) as here,
    ):
        envelope = there.envelope(data, timestamp=int(time.time()) - 60)
        first = await there.post_json("/api/Ticket/QueryIssueResult", envelope)
        await asyncio.sleep(0.5)  # the platform's gateway records it from the reply topic too
        replayed = await here.post_json("/api/Ticket/QueryIssueResult", envelope)
    assert first.reply is not None and first.reply.rtn_code == RtnCode.QUERY_NOT_FOUND
    assert (replayed.text, replayed.headers.get("x-replayed")) == (first.text, "true")


async def test_on_sigterm_a_request_in_flight_gets_its_reply_and_new_ones_are_refused(
    second: ServiceProcess, merchant_id: str
) -> None:
    async with HttpMerchant(merchant_id, *KEYS[merchant_id], base_url=url_of(second)) as client:
        # A query for an order nobody has waits for it (QUERY_WAIT_SECONDS, 2 s) before it is answered 4001.
        envelope = client.envelope({"MerchantID": merchant_id, "MerchantTradeNo": unique("NO")},
                                   timestamp=int(time.time()) - 120)  # fmt: skip
        in_flight = asyncio.create_task(client.post_json("/api/Ticket/QueryIssueResult", envelope))
        await asyncio.sleep(0.5)
        assert second.process is not None
        second.process.terminate()
        answer = await in_flight
        assert answer.status == 200 and answer.reply is not None, answer
        assert answer.reply.rtn_code == RtnCode.QUERY_NOT_FOUND
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.get("/health")
    await asyncio.get_running_loop().run_in_executor(None, second.process.wait, 15)
    assert second.process.returncode == 0
