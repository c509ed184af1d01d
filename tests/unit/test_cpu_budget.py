"""The CPU budget's sorting of py-spy samples into kinds of work (deploy/bench/cpu_budget.py)."""

from __future__ import annotations

from pathlib import Path

from deploy.bench.cpu_budget import REST, kind_of, shares

HANDLER = "on_requests (services/redemption/handlers.py:60)"


def test_a_sample_is_put_in_the_kind_of_its_innermost_frame_that_names_one() -> None:
    sealed = [HANDLER, "reply (shared/ecticket/replies.py:99)", "seal_data (shared/ecticket/crypto.py:88)"]
    assert (kind_of(sealed) or "").startswith("crypto")
    saved = [HANDLER, "save (services/redemption/store/tickets.py:40)", "Connection.execute (asyncpg/connection.py:1)"]
    assert kind_of(saved) == "SQL (asyncpg)"
    decided = [HANDLER, "decide (services/redemption/domain/decide.py:20)", "__init__ (<string>:3)"]
    assert kind_of(decided) == "decisions (pure domain core)"


def test_a_sample_of_the_handlers_own_code_is_the_rest_and_a_waiting_thread_is_left_out() -> None:
    assert kind_of([HANDLER]) == REST
    assert kind_of(["run (threading.py:1)", "_worker (concurrent/futures/thread.py:81)"]) is None
    assert kind_of(["run_forever (asyncio/base_events.py:1)", "EpollSelector.select (selectors.py:468)"]) is None


def test_shares_count_the_service_process_only_its_relay_is_measured_apart(tmp_path: Path) -> None:
    raw = tmp_path / "redemption.raw.txt"
    main = 'process 1:"python -m services.redemption"'
    relay = 'process 2:"python -m shared.infra.relay_process redemption"'
    raw.write_text(
        f"{main};{HANDLER};Connection.execute (asyncpg/connection.py:1) 3\n"
        f"{main};{HANDLER} 1\n"
        f"{main};{relay};publish (shared/infra/relay.py:10) 50\n"
    )
    assert shares(raw) == {"SQL (asyncpg)": 0.75, REST: 0.25}
