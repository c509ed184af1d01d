"""The HTTP client that calls merchants, against a real local server: bounded in time and size, no redirects, and
production merchants' host names checked on the addresses they resolve to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from services.notification.domain.acks import MAX_ACK_BYTES
from services.notification.endpoints import Answered, HttpEndpoints, Unreachable


async def chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    for part in (b'{"RtnCode"', b":1}"):  # an answer arriving in two pieces
        await response.write(part)
        await asyncio.sleep(0.05)
    await response.write_eof()
    return response


async def silent(_request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def redirect(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("http://169.254.169.254/latest/meta-data")


async def huge(_request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"x" * (MAX_ACK_BYTES * 4))


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    for path, handler in {"/chunked": chunked, "/silent": silent, "/redirect": redirect, "/huge": huge}.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def endpoints() -> AsyncIterator[HttpEndpoints]:
    client = HttpEndpoints(timeout_seconds=0.5, max_connections=10)
    yield client
    await client.close()


async def test_an_answer_in_pieces_is_read_whole(server: str, endpoints: HttpEndpoints) -> None:
    answer = await endpoints.post(f"{server}/chunked", b"{}", {}, sandbox=True)
    assert isinstance(answer, Answered) and (answer.status, answer.body) == (200, b'{"RtnCode":1}')


async def test_an_endpoint_that_never_answers_is_cut_at_the_timeout(server: str, endpoints: HttpEndpoints) -> None:
    answer = await endpoints.post(f"{server}/silent", b"{}", {}, sandbox=True)
    assert isinstance(answer, Unreachable) and not answer.refused
    assert answer.detail == "no answer within 0.5 s" and answer.seconds < 1.5


async def test_a_redirect_is_not_followed(server: str, endpoints: HttpEndpoints) -> None:
    answer = await endpoints.post(f"{server}/redirect", b"{}", {}, sandbox=True)
    assert isinstance(answer, Answered) and answer.status == 302


async def test_no_more_than_the_limit_is_read(server: str, endpoints: HttpEndpoints) -> None:
    answer = await endpoints.post(f"{server}/huge", b"{}", {}, sandbox=True)
    assert isinstance(answer, Answered) and len(answer.body) == MAX_ACK_BYTES + 1


async def test_a_production_host_name_resolving_to_loopback_is_refused_before_connecting(
    server: str, endpoints: HttpEndpoints
) -> None:
    named = server.replace("127.0.0.1", "localhost") + "/chunked"
    answer = await endpoints.post(named, b"{}", {}, sandbox=False)
    assert isinstance(answer, Unreachable) and answer.refused
    assert "localhost resolves to" in answer.detail and "not a public address" in answer.detail
    assert isinstance(await endpoints.post(named, b"{}", {}, sandbox=True), Answered)  # the sandbox may
