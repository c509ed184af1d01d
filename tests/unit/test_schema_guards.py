"""The guards a schema's migrations leave behind (shared/infra/schema_guards.py): read from the SQL in the order it is
applied, so a later definition replaces an earlier one and a drop removes it."""

from __future__ import annotations

from pathlib import Path

from shared.infra.database import migration_files
from shared.infra.schema_guards import expected

SETTLEMENT = Path(__file__).resolve().parents[2] / "services" / "escrow_settlement" / "migrations"


def test_the_settlement_ledger_keeps_the_guards_its_last_migrations_define() -> None:
    guards = expected(migration_files(SETTLEMENT))
    assert sorted(guards.functions) == [
        "accounts_are_kept", "journal_is_append_only", "outbox_backlog", "outbox_id_before_seq",
        "postings_move_balances",
    ]  # fmt: skip
    assert "PERFORM FROM accounts a" in guards.functions["postings_move_balances"]  # 007's sorted lock, not 001's
    assert ("postings", "postings_append_only") in guards.triggers
    assert ("postings", "postings_must_balance") not in guards.triggers  # dropped by 006
    assert ("outbox", "outbox_id_before_seq") in guards.triggers  # the messaging tables' own, in every schema


def test_a_later_definition_replaces_an_earlier_one_and_a_drop_removes_it() -> None:
    first = """
        CREATE FUNCTION kept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
        CREATE FUNCTION gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
        CREATE TRIGGER kept_t BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION kept();
        CREATE CONSTRAINT TRIGGER gone_t AFTER INSERT ON t DEFERRABLE FOR EACH ROW EXECUTE FUNCTION gone();
    """
    second = """
        -- The trigger below replaces gone_t; CREATE TRIGGER ghost ON t is only a comment.
        DROP TRIGGER gone_t ON t;
        DROP FUNCTION gone();
        CREATE OR REPLACE FUNCTION kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'kept'; -- CREATE TRIGGER inside_a_body ON t is not a statement either
        END $$;
    """
    guards = expected([("001_a.sql", first), ("002_b.sql", second)])
    assert list(guards.functions) == ["kept"]
    assert "RAISE EXCEPTION 'kept'" in guards.functions["kept"]
    assert guards.triggers == {("t", "kept_t")}
