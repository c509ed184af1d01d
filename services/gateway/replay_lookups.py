"""The replay check of concurrent requests, made in one query.

Every request is first looked up among the recorded replies (an identical request sent again gets its original
outcome). One query per request was a fifth of the gateway's busy time at 500 requests/s (docs/benchmarks.md,
"HTTP gateway", 18:18 UTC): instead, the lookups that arrive while one query is in flight wait for it to return and
then go together in the next, so under load each query answers many requests, and alone a request waits for
nobody.
"""

from __future__ import annotations

import asyncio

import asyncpg

from services.gateway import store


class ReplayLookups:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._waiting: dict[str, list[asyncio.Future[str | None]]] = {}
        self._querying = False

    async def reply_of(self, request_id: str) -> str | None:
        """The recorded reply to `request_id`, or None; raises what the query raised (a transient fault: 503)."""
        found: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(request_id, []).append(found)
        if not self._querying:
            self._querying = True
            asyncio.get_running_loop().create_task(self._query_while_waiting())
        return await found

    async def _query_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, {}
                try:
                    replies = await store.replies_of(self._pool, list(batch))
                except Exception as exc:  # each request answers for itself (503 when transient)
                    _settle(batch, exc)
                else:
                    _settle(batch, replies)
        finally:
            self._querying = False


def _settle(batch: dict[str, list[asyncio.Future[str | None]]], outcome: dict[str, str] | Exception) -> None:
    for request_id, futures in batch.items():
        for future in futures:
            if future.done():  # its request gave up (cancelled) meanwhile
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome.get(request_id))
