"""Failures are classified by cause: the infrastructure's are retried for ever, anything else is only suspected."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaConnectionError, UnknownTopicOrPartitionError

from shared.infra.faults import Backoff, is_transient


def postgres_error(sqlstate: str) -> asyncpg.PostgresError:
    return asyncpg.PostgresError.new({"C": sqlstate, "M": "from the server"})


def test_the_server_going_away_or_asking_to_retry_is_transient() -> None:
    for sqlstate in ("08006", "57P01", "57P02", "57P03", "53300", "40001", "40P01", "25006", "58030"):
        assert is_transient(postgres_error(sqlstate)), sqlstate


def test_what_the_data_did_is_not_transient() -> None:
    for sqlstate in ("22021", "22003", "23505", "42P01", "XX000"):  # NUL byte, out of range, unique, no table
        assert not is_transient(postgres_error(sqlstate)), sqlstate


def test_client_side_connection_state_errors_are_transient() -> None:
    assert is_transient(asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"))
    assert is_transient(asyncpg.exceptions.InternalClientError("cannot switch to state 15"))
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())


def test_a_fault_wrapped_by_the_code_that_met_it_is_still_transient() -> None:
    try:
        try:
            raise asyncpg.InterfaceError("connection is closed")
        except asyncpg.InterfaceError as inner:
            raise RuntimeError("while loading tickets") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    assert not is_transient(RuntimeError("a bug"))


def test_kafka_errors_count_when_the_client_says_they_are_retriable() -> None:
    assert is_transient(KafkaConnectionError()) and is_transient(UnknownTopicOrPartitionError())


def test_a_group_of_concurrent_failures_is_transient_only_if_every_one_is() -> None:
    assert is_transient(ExceptionGroup("workers", [TimeoutError(), postgres_error("57P01")]))
    assert not is_transient(ExceptionGroup("workers", [TimeoutError(), ValueError("bad row")]))


def test_the_backoff_doubles_up_to_its_most_and_starts_over_when_reset() -> None:
    backoff = Backoff(0.1, 0.5)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next() == 0.1
