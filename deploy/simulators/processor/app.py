"""The processor simulator as a process of its own, on the services' runtime (migrations, merchant directory and
test clocks, outbox relay child): it consumes nothing and serves HTTP. The server is listening before wire()
returns, so the process announces itself ready only once it can take a checkout."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from deploy.simulators.processor.api import ProcessorApi
from deploy.simulators.processor.config import ProcessorConfig
from deploy.simulators.processor.store import SCHEMA
from shared.infra.service import Runtime, ServiceSpec, Wiring

log = logging.getLogger(__name__)

NAME = SCHEMA


async def wire(runtime: Runtime) -> Wiring:
    config = ProcessorConfig.from_env()
    api = ProcessorApi(runtime.pool, runtime.clock, runtime.merchants.view, config.credentials)
    # No access log: a benchmark's checkouts would write a line each.
    runner = web.AppRunner(api.application(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.http_host, config.http_port).start()
    log.info("%s: listening on http://%s:%d", NAME, config.http_host, config.http_port)
    return Wiring(routes={}, closers=[runner.cleanup])


SPEC = ServiceSpec(name=NAME, schema=SCHEMA, migrations=Path(__file__).parent / "migrations", wire=wire)
