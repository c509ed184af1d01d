import asyncio
import gc

import uvloop

from services.redemption.app import SPEC
from shared.infra.service import main

# An expiry sweep allocates millions of short-lived, acyclic objects (tickets, events, rows, futures), which
# reference counting frees. At the default threshold (700) the cyclic collector ran thousands of times per
# 100,000 expiries, and its full collections walked the whole heap: about an eighth of the CPU of a sweep.
gc.set_threshold(10_000, 10, 10)
# libuv's event loop (C) instead of asyncio's pure-Python one: about 7% less CPU per write-off (docs/benchmarks.md).
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

main(SPEC)
