"""The relay's cursor over the outbox (shared/infra/outbox_read.py): what a read passed over is read again until
it is found or the floor rises past it; nothing above the floor is ever dropped."""

from __future__ import annotations

from shared.infra.outbox_read import MAX_UNSEEN, Cursor


def test_seqs_a_read_passed_over_stay_unseen_until_a_later_read_returns_them() -> None:
    cursor = Cursor()
    cursor.rebase(5)
    cursor.after_read([5, 6, 9, 10], floor=5)  # 7 and 8 still being written (or rolled back)
    assert (cursor.next_seq, cursor.unseen) == (11, {7, 8})
    cursor.after_read([8, 11], floor=5)
    assert (cursor.next_seq, cursor.unseen) == (12, {7})
    cursor.after_read([], floor=5)
    assert (cursor.next_seq, cursor.unseen) == (12, {7})


def test_a_read_cut_short_by_its_limit_among_the_unseen_moves_the_cursor_no_further() -> None:
    cursor = Cursor(next_seq=100, unseen={3, 4, 5})
    cursor.after_read([3, 4], floor=3)  # the limit was 2: the new rows from 100 were not reached
    assert (cursor.next_seq, cursor.unseen) == (100, {5})


def test_the_floor_forgets_what_lies_below_it_and_a_floor_past_the_cursor_moves_it() -> None:
    cursor = Cursor(next_seq=50, unseen={10, 20, 30})
    cursor.rebase(25)
    assert (cursor.next_seq, cursor.unseen) == (50, {30})
    cursor.rebase(60)
    assert (cursor.next_seq, cursor.unseen) == (60, set())


def test_too_many_unseen_seqs_and_the_reads_walk_from_the_floor_again() -> None:
    cursor = Cursor(next_seq=1)
    cursor.after_read([1, MAX_UNSEEN + 5], floor=1)
    assert (cursor.next_seq, cursor.unseen) == (1, set())  # the next read is the floor's walk: nothing is skipped
