"""Where a reply addressed to a sender's own door can go: its own reply topic while that exists, else the shared one.

A reply through a door goes to `ecticket.ingest.replies.v1.<id>` (shared/topics.py). The broker creates no topics,
so once an operator deleted that topic by hand (`kafka-topics --delete`), a producer sending there waits for
the topic's metadata for its request timeout (40 s), fails, and its sender tries again, forever: the outbox relay
(which publishes in order, so every later event of the service waits too) and the query consumer (which retries
the batch). Here, before a send, a sender's topic that the broker says does not exist is replaced by the catalog
topic it is a door to, `ecticket.ingest.replies.v1`: the platform's gateway reads it and the reply stays in its log,
encrypted with the merchant's keys as every reply is. The operator sees a WARNING naming the topic (never a key or
a payload) and, where the process serves metrics (the query service), the counter `ecticket_replies_rerouted`.
`merchant-connect` makes the topic again; replies go back there within MISSING_SECONDS.

Asked cheaply: one small Metadata request for just the doors in question (not the producer's own metadata
refresh, which covers every topic the producer ever sent to, thousands of doors on a busy relay), bounded by
LOOKUP_SECONDS, over the producer's own connections and principal, with `allow_auto_topic_creation` off so the
question never makes the topic. Nothing learnt from the producer's cached metadata: a producer keeps a topic it
saw at start-up or sent to for minutes after it was deleted (`metadata_max_age_ms`), and trusting that is exactly
the hazard. The answer is believed for a while: "exists" for EXISTS_SECONDS (at most one question per door and
producer that often while its replies flow), "missing" for MISSING_SECONDS (a flood of replies to a gone topic
costs one question, not one each). Only "unknown topic" reroutes: a topic this principal may not describe, one
whose leader is being elected, or no answer within the bound keeps the door, a different failure than this one.

What it does not cover: a reply sent to a door in the EXISTS_SECONDS before its deletion is noticed is held up once,
until the producer gives up on it (its request timeout); the relay's next term (or the query consumer's retry of
the batch) then asks again and sends it to the shared topic.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError
from aiokafka.protocol.metadata import MetadataRequest

from shared.topics import base_of, sender_of

log = logging.getLogger(__name__)

EXISTS_SECONDS = 5.0  # a door the broker showed is believed to exist this long
MISSING_SECONDS = 30.0  # a door the broker did not know: its replies go to the shared topic this long, then ask again
LOOKUP_SECONDS = 2.0  # the bound on one question; past it the door is kept (as it would be without this guard)


class Verdict(enum.Enum):
    EXISTS = "exists"
    MISSING = "missing"
    UNKNOWN = "unknown"  # not this guard's failure: unauthorized, no leader yet, an error; the topic is kept


def verdict(error_code: int) -> Verdict:
    """What a Metadata response's error code for one topic says about it."""
    if error_code == 0:
        return Verdict.EXISTS
    if error_code == UnknownTopicOrPartitionError.errno:
        return Verdict.MISSING
    return Verdict.UNKNOWN


@dataclass
class Beliefs:
    """What the broker last said of each door, and until when that is believed (`now`: a monotonic clock)."""

    exists_for: float = EXISTS_SECONDS
    missing_for: float = MISSING_SECONDS
    _until: dict[str, tuple[Verdict, float]] = field(default_factory=dict)

    def known(self, topic: str, now: float) -> Verdict | None:
        """The believed verdict, None when the broker must be asked (never asked, or believed long enough)."""
        held = self._until.get(topic)
        if held is None or held[1] <= now:
            return None
        return held[0]

    def learn(self, topic: str, said: Verdict, now: float) -> None:
        if said is Verdict.UNKNOWN:
            self._until.pop(topic, None)  # ask again next time
            return
        self._until[topic] = (said, now + (self.exists_for if said is Verdict.EXISTS else self.missing_for))


def destination(topic: str, believed: Verdict | None) -> str:
    """Where a record for `topic` goes: the catalog topic for a sender's topic believed missing, else `topic`."""
    if believed is Verdict.MISSING and sender_of(topic) is not None:
        return base_of(topic)
    return topic


Rerouted = Callable[[str, int], None]  # a door's topic, how many records were sent elsewhere instead


def uncounted(topic: str, records: int) -> None:
    """A relay child serves no metrics and logs each reroute: counting there would only load prometheus_client,
    about 3.5 MB of each relay's memory (issue 17's 150 MB per service, its relay included)."""


class DoorFallback:
    """One per sender (a relay, across its terms; the query service's producer): its beliefs are about what that
    sender's principal sees."""

    def __init__(self, service: str, *, rerouted: Rerouted = uncounted, lookup_seconds: float = LOOKUP_SECONDS) -> None:
        self.service = service
        self.rerouted = rerouted
        self.lookup_seconds = lookup_seconds
        self.beliefs = Beliefs()

    async def moved(self, client: Any, topics: Collection[str]) -> Mapping[str, str]:
        """For the topics of records about to be sent through `client` (an AIOKafkaClient: `producer.client`), those
        to send elsewhere and where; empty when none (always, for records on catalog topics only). Counts the
        records moved: `topics` has one entry per record."""
        doors = {t for t in set(topics) if sender_of(t) is not None}
        if not doors:
            return {}
        now = time.monotonic()
        unsure = sorted(t for t in doors if self.beliefs.known(t, now) is None)
        if unsure:
            answers = await self._ask(client, unsure)
            now = time.monotonic()
            for topic in unsure:
                said = answers.get(topic, Verdict.UNKNOWN)
                self.beliefs.learn(topic, said, now)
                if said is Verdict.MISSING:
                    log.warning(
                        "%s: reply topic %s does not exist; its replies go to %s for the next %.0f s"
                        " (`python -m shared.admin merchant-connect` makes it again)",
                        self.service,
                        topic,
                        base_of(topic),
                        self.beliefs.missing_for,
                    )
        moved = {t: d for t in doors if (d := destination(t, self.beliefs.known(t, now))) != t}
        if moved:
            for topic, count in collections.Counter(t for t in topics if t in moved).items():
                self.rerouted(topic, count)
        return moved

    async def _ask(self, client: Any, topics: list[str]) -> dict[str, Verdict]:
        """The broker's word on each of `topics`; {} when it could not be had in time (every door then kept)."""
        node = client.get_random_node()
        if node is None:
            return {}
        request = MetadataRequest(topics, allow_auto_topic_creation=False)
        try:
            response = await asyncio.wait_for(client.send(node, request), self.lookup_seconds)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.info("%s: could not tell whether %s exist (%r); sending there", self.service, ", ".join(topics), exc)
            return {}
        # Every version of the response starts a topic's entry with its error code and its name.
        return {entry[1]: verdict(entry[0]) for entry in response.topics if entry[1] in topics}
