"""Where a reply to a door goes once the broker has been asked (shared/infra/door_fallback.py): the decision and how
long an answer is believed. The asking itself, against a real broker: tests/integration/test_deleted_door.py."""

from __future__ import annotations

import pytest
from aiokafka.errors import LeaderNotAvailableError, TopicAuthorizationFailedError, UnknownTopicOrPartitionError

from shared.infra import chain
from shared.infra.door_fallback import Beliefs, Verdict, destination, verdict
from shared.topics import CATALOG, INGEST_REPLIES, INGEST_REQUESTS, sender_topic

pytestmark = pytest.mark.unit

DOOR = sender_topic(INGEST_REPLIES, "2000132")


def test_only_an_unknown_topic_is_missing_an_unauthorized_or_leaderless_one_is_kept() -> None:
    assert verdict(0) is Verdict.EXISTS
    assert verdict(UnknownTopicOrPartitionError.errno) is Verdict.MISSING
    assert verdict(TopicAuthorizationFailedError.errno) is Verdict.UNKNOWN
    assert verdict(LeaderNotAvailableError.errno) is Verdict.UNKNOWN


def test_a_missing_door_falls_back_to_the_shared_topic_and_everything_else_goes_where_it_was_addressed() -> None:
    assert destination(DOOR, Verdict.MISSING) == INGEST_REPLIES
    assert destination(sender_topic(INGEST_REQUESTS, "2000132"), Verdict.MISSING) == INGEST_REQUESTS
    for believed in (Verdict.EXISTS, Verdict.UNKNOWN, None):
        assert destination(DOOR, believed) == DOOR
    for topic in CATALOG:  # a catalog topic is never moved, whatever was said of it
        assert destination(topic.name, Verdict.MISSING) == topic.name


def test_no_door_is_chained_so_moving_a_reply_changes_no_link() -> None:
    for base in (INGEST_REPLIES, INGEST_REQUESTS):
        assert not chain.is_chained(sender_topic(base, "2000132"))
        assert not chain.is_chained(base)


def test_a_missing_door_is_believed_longer_than_an_existing_one_and_an_unclear_answer_not_at_all() -> None:
    beliefs = Beliefs(exists_for=5.0, missing_for=30.0)
    assert beliefs.known(DOOR, now=100.0) is None  # never asked

    beliefs.learn(DOOR, Verdict.EXISTS, now=100.0)
    assert beliefs.known(DOOR, now=104.9) is Verdict.EXISTS
    assert beliefs.known(DOOR, now=105.0) is None  # ask again: it may have been deleted since

    beliefs.learn(DOOR, Verdict.MISSING, now=105.0)
    assert beliefs.known(DOOR, now=134.9) is Verdict.MISSING  # a flood of replies asks once
    assert beliefs.known(DOOR, now=135.0) is None  # ask again: merchant-connect may have made it anew

    beliefs.learn(DOOR, Verdict.MISSING, now=135.0)
    beliefs.learn(DOOR, Verdict.UNKNOWN, now=136.0)  # no answer in time: what was believed is forgotten
    assert beliefs.known(DOOR, now=136.0) is None
