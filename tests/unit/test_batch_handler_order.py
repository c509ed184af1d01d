"""A consumer batch's handlers run in the order the service declared its routes, whatever order the topics arrived
in: every transaction of a service takes its locks in one order (shared/infra/consumer.py, `apply_items`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

import asyncpg

from shared.contracts.events import Outgoing
from shared.infra.consumer import apply_items
from shared.infra.messages import BatchHandler, Inbound, Parsed, Route

# Routes without an inbox: `apply_items` then reads no table, and these tests need no database.
NO_DATABASE = cast(asyncpg.Connection, None)


def record(topic: str, offset: int) -> tuple[Inbound, Parsed[str]]:
    return Inbound(topic, 0, offset, None, b"", 0), Parsed(uuid.uuid4(), f"{topic}@{offset}")


def routes_calling(calls: list[tuple[str, list[str]]], *names: str) -> dict[str, Route[Any]]:
    def handler(name: str) -> BatchHandler[str]:
        async def handle(_conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[str]]]) -> list[Outgoing]:
            calls.append((name, [parsed.body for _, parsed in items]))
            return []

        return handle

    ledger, statements = handler("ledger"), handler("statements")
    by_name = {"payments": ledger, "tickets": ledger, "statements": statements}
    return {topic: Route(parse=lambda _r: Parsed(uuid.uuid4(), ""), handle=by_name[topic], inbox=False)
            for topic in names}  # fmt: skip


async def test_a_batch_whose_statement_arrived_first_is_still_handled_ledger_first() -> None:
    calls: list[tuple[str, list[str]]] = []
    routes = routes_calling(calls, "payments", "tickets", "statements")
    batch = [record("statements", 7), record("payments", 1), record("tickets", 3), record("payments", 2)]
    await apply_items(NO_DATABASE, routes, batch)
    assert calls == [
        ("ledger", ["payments@1", "tickets@3", "payments@2"]),  # one call, in arrival order within it
        ("statements", ["statements@7"]),
    ]


async def test_a_handler_with_nothing_in_the_batch_is_not_called() -> None:
    calls: list[tuple[str, list[str]]] = []
    routes = routes_calling(calls, "payments", "statements")
    await apply_items(NO_DATABASE, routes, [record("statements", 1)])
    assert calls == [("statements", ["statements@1"])]


async def test_the_declared_order_decides_not_the_handlers_names() -> None:
    calls: list[tuple[str, list[str]]] = []
    routes = routes_calling(calls, "statements", "payments")
    await apply_items(NO_DATABASE, routes, [record("payments", 1), record("statements", 2)])
    assert [name for name, _ in calls] == ["statements", "ledger"]
