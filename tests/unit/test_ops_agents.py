"""The ops agents through faust's test context, with in-memory tables: they fold what they receive, and an agent
that fails to apply a batch acknowledges none of it (faust-streaming acks exceptions unless told otherwise)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import faust
import pytest

from services.ops import handlers
from services.ops.app import build
from services.ops.config import OpsConfig
from services.ops.domain.fold import ORDERS_KEPT
from shared.settings import Settings
from tests.unit.test_ops_events import EXPECTED, scenario


class Changelog:
    """Records what the agents write to their tables' changelogs (the broker's part; `fail` makes every write fail)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None, int]] = []
        self.fail = False

    async def send(self, topic: str, key: bytes, value: bytes | None, partition: int) -> asyncio.Future[None]:
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            acked.set_exception(RuntimeError("the broker refused the changelog record"))
        else:
            self.records.append((topic, key, value, partition))
            acked.set_result(None)
        return acked


@pytest.fixture
def changelog() -> Changelog:
    return Changelog()


@pytest.fixture
async def ops(changelog: Changelog) -> AsyncIterator[tuple[faust.App, Any]]:
    yield _app(changelog)


def _app(changelog: Changelog, orders_kept: int = ORDERS_KEPT) -> tuple[faust.App, Any]:
    config = OpsConfig(Settings("127.0.0.1:1", "postgresql://nowhere/none", "00" * 32), "ops-unit", "127.0.0.1", 6066,
                       "/tmp/ops-unit", groups=(), schemas=(), orders_kept=orders_kept)  # fmt: skip
    app, runtime = build(config, changelog.send)
    app.finalize()
    app.conf.store = "memory://"  # type: ignore[assignment]  # faust parses the URL
    app.flow_control.resume()
    return app, runtime


async def _until(condition: Any, seconds: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_the_events_agent_folds_a_known_history_into_its_tables_and_their_changelogs(
    ops: tuple[faust.App, Any], changelog: Changelog
) -> None:
    app, runtime = ops
    history = [e for e in scenario("M1") if e.topic != "ecticket.platform.rejections.v1" and "Instructed" not in e.event_type
               and "Transfer" not in e.event_type]  # fmt: skip
    async with app.agents["ops-events"].test_context() as agent:
        sent = [await agent.put(e.value, key=e.key.encode(), partition=0, wait=False) for e in history]
        await _until(lambda: all(event.message.acked for event in sent))
    figures = runtime.summary()["headline"]
    assert figures["orders_issued"] == EXPECTED["orders_issued"]
    assert figures["tickets_written_off_amount"] == EXPECTED["tickets_written_off_amount"]
    assert figures["escrow_received"] == EXPECTED["escrow_received"]
    assert figures["issue_waiting"] == 1
    assert [e["type"] for e in runtime.orders("A1", "M1")[0]["events"]][:3] == [
        "PaymentConfirmed",
        "IssueAccepted",
        "TicketsIssued",
    ]
    # What a restart reads back: the last changelog record of each key is the table's value, on the source partition.
    last = {(t, json.loads(k)): (v and json.loads(v), partition) for t, k, v, partition in changelog.records}
    tables: Any = app.tables
    assert last[("ops-unit-ops-partitions-changelog", "p0")] == (tables["ops-partitions"].data["p0"], 0)
    assert last[("ops-unit-ops-orders-changelog", "M1/A1")] == (tables["ops-orders"].data["M1/A1"], 0)


async def test_an_agent_that_raises_acknowledges_nothing_and_changes_no_table(
    ops: tuple[faust.App, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, runtime = ops

    def broken_fold(*_: Any) -> Any:
        raise RuntimeError("the fold failed")

    monkeypatch.setattr(handlers, "fold", broken_fold)
    issued = next(e for e in scenario("M1") if e.event_type == "TicketsIssued")
    async with app.agents["ops-events"].test_context() as agent:
        event = await agent.put(issued.value, key=issued.key.encode(), partition=0, wait=False)
        await _until(lambda: agent._crash_reason is not None)
        await asyncio.sleep(0.1)
        assert isinstance(agent._crash_reason, RuntimeError)
        assert not event.message.acked
    assert runtime.summary()["headline"]["orders_issued"] == 0


async def test_a_batch_whose_changelog_write_fails_is_not_acknowledged(
    ops: tuple[faust.App, Any], changelog: Changelog
) -> None:
    app, _ = ops
    changelog.fail = True
    issued = next(e for e in scenario("M1") if e.event_type == "TicketsIssued")
    async with app.agents["ops-events"].test_context() as agent:
        event = await agent.put(issued.value, key=issued.key.encode(), partition=0, wait=False)
        await _until(lambda: agent._crash_reason is not None)
        await asyncio.sleep(0.1)
        assert isinstance(agent._crash_reason, RuntimeError)
        assert not event.message.acked


async def test_orders_beyond_the_newest_kept_leave_the_table_and_their_changelog_gets_a_tombstone(
    changelog: Changelog,
) -> None:
    """Kept 2 of the three orders M1's history touches (A1, then B1, then X): A1, the oldest, is deleted, and a
    restart, which replays the changelog, deletes it too (a record without a value)."""
    app, runtime = _app(changelog, orders_kept=2)
    history = [e for e in scenario("M1") if e.topic != "ecticket.platform.rejections.v1" and "Instructed" not in e.event_type
               and "Transfer" not in e.event_type]  # fmt: skip
    async with app.agents["ops-events"].test_context() as agent:
        sent = [await agent.put(e.value, key=e.key.encode(), partition=0, wait=False) for e in history]
        await _until(lambda: all(event.message.acked for event in sent))
    tables: Any = app.tables
    assert sorted(tables["ops-orders"].data) == ["M1/B1", "M1/X"]
    assert runtime.orders("A1", "M1") == []
    last = {json.loads(k): v for t, k, v, _ in changelog.records if t == "ops-unit-ops-orders-changelog"}
    assert last["M1/A1"] is None
    assert last["M1/B1"] is not None and last["M1/X"] is not None
    assert runtime.summary()["headline"]["orders_issued"] == EXPECTED["orders_issued"]  # the counters stay whole
