import asyncio

import uvloop

from services.gateway.app import SPEC
from shared.infra.service import main

# libuv's event loop (C) instead of asyncio's pure-Python one: the gateway is mostly loop work (an HTTP request, a
# produce, a reply read and a lookup each wake it several times); about 10% less CPU per request (docs/benchmarks.md).
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

main(SPEC)
