"""Is a failure the world's fault (retry it, for as long as it takes) or possibly the message's (confirm, then
dead-letter)? Classified by cause: the SQLSTATE class, the kind of client error, anywhere in the exception chain.

Transient means nothing about the input: the connection dropped, the server is shutting down, restarting or out
of connections, the pool is closing, a serialization failure or deadlock asked us to try again. Everything else
is only *suspected* to be the message's fault: the consumer retries it on a healthy connection, and only the same
failure again is poison (`consumer.py`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

# SQLSTATE classes and codes that describe the server or the session, never the statement's data.
TRANSIENT_SQLSTATE_CLASSES = (
    "08",  # connection exception
    "53",  # insufficient resources: too many connections, out of memory, disk full
    "58",  # system error: I/O error outside Postgres
)
TRANSIENT_SQLSTATES = frozenset(
    {
        "25006",  # read_only_sql_transaction: a standby or a demoted primary answered during a failover
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "40003",  # statement_completion_unknown
        "55P03",  # lock_not_available
        "57014",  # query_canceled (statement timeout, pg_cancel_backend)
        "57P01",  # admin_shutdown (pg_ctl stop/restart, pg_terminate_backend)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, in recovery)
        "57P05",  # idle_session_timeout
        "25P03",  # idle_in_transaction_session_timeout
    }
)


@dataclass
class Backoff:
    """Waits that double from `first` up to `most` while a fault lasts: the one backoff of every retry loop."""

    first: float = 0.1
    most: float = 5.0
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def next(self) -> float:
        delay = self._next
        self._next = min(delay * 2, self.most)
        return delay

    def reset(self) -> None:
        self._next = self.first


def is_transient(exc: BaseException) -> bool:
    """True when `exc`, or anything in its cause/context chain, is a fault of the infrastructure."""
    if isinstance(exc, BaseExceptionGroup):  # concurrent workers (a TaskGroup): transient if all of them are
        return all(is_transient(e) for e in exc.exceptions)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_itself(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient_itself(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.PostgresError):
        # Includes asyncpg's own DataError for a query argument it cannot encode (an int32 overflow): 22000.
        state = str(getattr(exc, "sqlstate", "") or "")
        return state in TRANSIENT_SQLSTATES or state.startswith(TRANSIENT_SQLSTATE_CLASSES)
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError):
        # Client-side connection state: "connection is closed", "pool is closing", "cannot switch to state".
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable) or isinstance(exc, KafkaConnectionError | KafkaTimeoutError)
    return isinstance(exc, ConnectionError | OSError | TimeoutError | asyncio.TimeoutError)
