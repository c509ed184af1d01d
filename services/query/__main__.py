import asyncio

import uvloop

from services.query.app import SPEC
from shared.infra.service import main

# libuv's event loop (C) instead of asyncio's pure-Python one, as redemption and the gateway: at 500 queries/s the
# loop's socket writes and timers were a tenth of the service's time (py-spy, docs/benchmarks.md).
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

main(SPEC)
