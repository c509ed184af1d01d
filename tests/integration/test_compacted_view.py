"""The in-memory view of a compacted topic answers misses from memory, yet finds what was published before."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaProducer

from shared.infra.compacted import FRESH_FOR_SECONDS, CompactedView
from shared.infra.kafka_auth import kafka_security
from shared.infra.seal import EventKey, Keyring, platform_keyring, sealed_headers
from shared.infra.topics_admin import ensure_topics
from shared.settings import Settings
from shared.topics import Topic
from tests.support.leaks import unclosed


@dataclass
class Compacted:
    """A fresh compacted topic of this test alone, and a producer for it."""

    bootstrap: str
    name: str
    producer: AIOKafkaProducer

    async def publish(self, key: str, value: bytes | None) -> None:
        """Sealed as the admin CLI seals a configuration record (`None`: a tombstone)."""
        headers = sealed_headers(self.name, key.encode(), value or b"")
        await self.producer.send_and_wait(self.name, value, key=key.encode(), headers=headers)

    async def view(self, fresh_for: float = FRESH_FOR_SECONDS) -> CompactedView[bytes]:
        started = CompactedView(self.bootstrap, self.name, bytes, fresh_for=fresh_for)
        await started.start()
        return started

    async def json_view(self) -> CompactedView[str]:
        """A view whose parser reads field "v" of a JSON object (a KeyError, not a ValueError, when it is absent)."""
        started = CompactedView(self.bootstrap, self.name, lambda raw: str(json.loads(raw)["v"]), fresh_for=0.0)
        await started.start()
        return started


@pytest.fixture
async def topic(infra: Settings) -> AsyncIterator[Compacted]:
    name = f"test.compacted-view.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, (Topic(name, 2, -1, True, "name", "a view test's own topic"),))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", **kafka_security())
    await producer.start()
    yield Compacted(infra.kafka_bootstrap, name, producer)
    await producer.stop()


async def test_a_thousand_misses_in_a_row_are_answered_within_a_second(topic: Compacted) -> None:
    await topic.publish("known", b"1")
    view = await topic.view()
    try:
        async with asyncio.timeout(1.0):  # each miss used to wait 0.5 s for the topic's end offsets
            for i in range(1000):
                assert await view.lookup(f"unknown-{i}") is None
        assert await view.lookup("known") == b"1"
    finally:
        await view.stop()


async def test_a_record_published_before_a_miss_is_found_when_every_miss_reads_the_end_offsets(
    topic: Compacted,
) -> None:
    view = await topic.view(fresh_for=0.0)
    try:
        for i in range(50):
            await topic.publish(f"new-{i}", b"x")
            assert await view.lookup(f"new-{i}") == b"x"
    finally:
        await view.stop()


async def test_a_record_published_longer_ago_than_the_staleness_bound_is_found_while_misses_come_from_memory(
    topic: Compacted,
) -> None:
    view = await topic.view()
    try:
        for i in range(5):
            await topic.publish(f"new-{i}", b"x")
            await asyncio.sleep(FRESH_FOR_SECONDS)
            assert await view.lookup(f"unknown-{i}") is None
            assert await view.lookup(f"new-{i}") == b"x"
    finally:
        await view.stop()


async def test_a_tombstone_makes_a_name_unknown_again(topic: Compacted) -> None:
    view = await topic.view(fresh_for=0.0)
    try:
        await topic.publish("leaving", b"x")
        assert await view.lookup("leaving") == b"x"
        await topic.publish("leaving", None)
        await view.catch_up()
        assert await view.lookup("leaving") is None
    finally:
        await view.stop()


async def test_records_the_view_cannot_read_are_skipped_and_it_keeps_following_the_topic(topic: Compacted) -> None:
    view = await topic.json_view()
    try:
        key = b"\xff not UTF-8"
        await topic.producer.send_and_wait(
            topic.name, b'{"v": "x"}', key=key, headers=sealed_headers(topic.name, key, b'{"v": "x"}')
        )
        await topic.publish("no-field", b"{}")
        await topic.publish("not-json", b"{")
        await topic.publish("after", b'{"v": "read"}')
        assert await view.lookup("after") == "read"
        assert (await view.lookup("no-field"), await view.lookup("not-json")) == (None, None)
    finally:
        await view.stop()


async def test_a_record_or_tombstone_without_the_platform_seal_changes_nothing_in_the_view(topic: Compacted) -> None:
    """Only the admin CLI writes the configuration topics, and it seals every record: whoever else can write the
    topic can neither change a record, add one, nor delete one with a tombstone."""
    view = await topic.view(fresh_for=0.0)
    stranger = Keyring((EventKey(platform_keyring().keys[0].key_id, b"\x01" * 32),))  # the real key id, another key
    try:
        await topic.publish("merchant", b"genuine")
        await topic.producer.send_and_wait(topic.name, b"forged", key=b"merchant")  # no seal
        forged = stranger.headers(topic.name, b"merchant", b"")
        await topic.producer.send_and_wait(topic.name, None, key=b"merchant", headers=forged)  # a forged tombstone
        await topic.producer.send_and_wait(
            topic.name, b"new", key=b"newcomer", headers=stranger.headers(topic.name, b"newcomer", b"new")
        )
        await topic.producer.send_and_wait(  # a genuine seal, copied onto another record
            topic.name, b"copied", key=b"merchant", headers=sealed_headers(topic.name, b"merchant", b"genuine")
        )
        await topic.publish("after", b"read")
        assert await view.lookup("after") == b"read"
        assert (await view.lookup("merchant"), await view.lookup("newcomer")) == (b"genuine", None)
    finally:
        await view.stop()


async def test_the_unchecked_view_reads_records_from_before_the_seal(topic: Compacted) -> None:
    await topic.producer.send_and_wait(topic.name, b"old", key=b"merchant")
    view = CompactedView(topic.bootstrap, topic.name, bytes, check_seals=False)
    await view.start()
    try:
        assert await view.lookup("merchant") == b"old"
    finally:
        await view.stop()


async def test_a_view_of_one_key_reads_only_its_records_and_still_refuses_an_unsealed_one(topic: Compacted) -> None:
    """What a command about one merchant uses: the others are passed over, their values never parsed."""
    parsed: list[bytes] = []

    def parse(raw: bytes) -> bytes:
        parsed.append(raw)
        return raw

    for i in range(20):
        await topic.publish(f"other-{i}", b"other")
    await topic.publish("wanted", b"genuine")
    await topic.producer.send_and_wait(topic.name, b"forged", key=b"wanted")  # no seal
    view = CompactedView(topic.bootstrap, topic.name, parse, only=frozenset({"wanted"}))
    await view.start()
    try:
        assert view.items() == {"wanted": b"genuine"}
        assert parsed == [b"genuine"]
    finally:
        await view.stop()


async def test_a_start_cancelled_while_catching_up_leaves_no_client_open_and_nothing_following_the_topic(
    topic: Compacted,
) -> None:
    """The chaos run's clock admin cuts a view's start short when the broker restarts under it. The cut here lands
    after both Kafka clients have started, while the view reads up to the topic's end: the view itself, not its
    caller, must close them (no `stop()` is called below)."""
    reading = asyncio.Event()

    def parse(raw: bytes) -> bytes:
        reading.set()  # the tail is reading, so both clients are started and the start is catching up
        return raw

    await topic.publish("merchant", b"config")
    view = CompactedView(topic.bootstrap, topic.name, parse)
    starting = asyncio.create_task(view.start())
    await reading.wait()
    # The tail sets the catch-up's event after this one, in the same step, so this cancel lands before the start ends.
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting

    followers = [task for task in asyncio.all_tasks() if task.get_name() == f"view:{topic.name}" and not task.done()]
    assert followers == []
    with unclosed() as leaks:
        del view, starting
    assert leaks == []
