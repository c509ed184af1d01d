"""A consumer's batch is applied in transactions of at most ConsumerRunner.max_batch_bytes of record values, in the
order fetched (shared/infra/consumer.py, `by_bytes`): a batch of large events no longer becomes one huge parse."""

from __future__ import annotations

from shared.infra.consumer import by_bytes
from shared.infra.messages import Inbound


def records(*sizes: int) -> list[Inbound]:
    return [Inbound("t", 0, offset, b"k", b"x" * size, 0) for offset, size in enumerate(sizes)]


def offsets(parts: list[list[Inbound]]) -> list[list[int]]:
    return [[r.offset for r in part] for part in parts]


def test_small_records_stay_in_one_transaction() -> None:
    assert offsets(by_bytes(records(100, 100, 100), 1000)) == [[0, 1, 2]]


def test_records_are_cut_where_the_next_would_pass_the_limit_and_keep_their_order() -> None:
    assert offsets(by_bytes(records(400, 400, 400, 100, 900), 1000)) == [[0, 1], [2, 3], [4]]


def test_a_record_larger_than_the_limit_is_a_transaction_of_its_own() -> None:
    assert offsets(by_bytes(records(10, 5000, 10), 1000)) == [[0], [1], [2]]


def test_no_records_make_no_transaction() -> None:
    assert by_bytes([], 1000) == []
