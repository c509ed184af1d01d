import asyncio

import uvloop

from services.issuance.app import SPEC
from shared.infra.service import main

# libuv's event loop (C) instead of asyncio's pure-Python one, as redemption, query and the gateway: issuance reads
# every request on the shared ingestion topic, and at 500 queries/s asyncio's socket writes were a sixth of its
# time (py-spy, docs/benchmarks.md).
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

main(SPEC)
