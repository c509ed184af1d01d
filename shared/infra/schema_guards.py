"""The database's own guards as the migrations define them: every function's body and every trigger, compared with
what the schema holds now.

The ledger's invariants live partly in its triggers (append-only journal, balances moved by the postings, accounts
kept). A `CREATE OR REPLACE FUNCTION`, a `DROP TRIGGER` or an `ALTER TABLE ... DISABLE TRIGGER` issued by hand takes
one away without a migration, and nothing else would notice: a benchmark instance ran a superseded balance trigger
for hours before a deadlock gave it away (docs/benchmarks.md, 2026-12-01). `drift` lists every such difference, so
a full check can report it.

The expected guards are read from the migration files in the order they are applied (`database.migration_files`):
the last `CREATE [OR REPLACE] FUNCTION` of a name stands, a `DROP FUNCTION` removes it; `CREATE [CONSTRAINT]
TRIGGER ... ON <table>` adds a trigger and `DROP TRIGGER ... ON <table>` removes it. Only `$$`-quoted bodies, as
every migration here writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from shared.infra.database import migration_files

_FUNCTION = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:\w+\.)?(\w+)\s*\(.*?\bAS\s+\$\$(.*?)\$\$", re.IGNORECASE | re.DOTALL
)
_DROP_FUNCTION = re.compile(r"DROP\s+FUNCTION\s+(?:IF\s+EXISTS\s+)?(?:\w+\.)?(\w+)", re.IGNORECASE)
_TRIGGER = re.compile(
    r"CREATE\s+(?:CONSTRAINT\s+)?TRIGGER\s+(\w+)\s.*?\bON\s+(?:\w+\.)?(\w+)", re.IGNORECASE | re.DOTALL
)
_DROP_TRIGGER = re.compile(r"DROP\s+TRIGGER\s+(?:IF\s+EXISTS\s+)?(\w+)\s+ON\s+(?:\w+\.)?(\w+)", re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*")


@dataclass
class Guards:
    functions: dict[str, str] = field(default_factory=dict)  # name -> body (what pg_proc.prosrc holds)
    triggers: set[tuple[str, str]] = field(default_factory=set)  # (table, trigger)


def expected(migrations: list[tuple[str, str]]) -> Guards:
    """The functions and triggers the migrations (name, SQL), applied in order, leave behind."""
    guards = Guards()
    for _, sql in migrations:
        # Comments name functions and triggers too ("the trigger below"): only statements count, so comments are
        # blanked outside the bodies, and the bodies too where a statement is looked for outside them.
        code = _blanked(sql, bodies=False)
        plain = _blanked(sql, bodies=True)
        statements = [(m.start(), "function", m) for m in _FUNCTION.finditer(code)]
        statements += [(m.start(), "drop function", m) for m in _DROP_FUNCTION.finditer(plain)]
        statements += [(m.start(), "trigger", m) for m in _TRIGGER.finditer(plain)]
        statements += [(m.start(), "drop trigger", m) for m in _DROP_TRIGGER.finditer(plain)]
        for _, kind, m in sorted(statements, key=lambda s: s[0]):
            if kind == "function":
                guards.functions[m[1]] = m[2]
            elif kind == "drop function":
                guards.functions.pop(m[1], None)
            elif kind == "trigger":
                guards.triggers.add((m[2], m[1]))
            else:
                guards.triggers.discard((m[2], m[1]))
    return guards


def _blanked(sql: str, *, bodies: bool) -> str:
    """The SQL with its comments outside `$$` bodies blanked (and the bodies too, with `bodies`), each character
    replaced by a space so that positions, and so the statements' order, stay as written."""
    parts = sql.split("$$")
    for n, part in enumerate(parts):
        if n % 2 == 0:
            parts[n] = _COMMENT.sub(lambda c: " " * len(c[0]), part)
        elif bodies:
            parts[n] = " " * len(part)
    return "$$".join(parts)


async def drift(conn: asyncpg.Connection, schema: str, migrations_dir: Path) -> list[str]:
    """Every way the schema's functions and triggers differ from what its migrations define, one line each."""
    want = expected(migration_files(migrations_dir))
    functions = {
        r["proname"]: r["prosrc"]
        for r in await conn.fetch(
            "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = $1",
            schema,
        )
    }
    triggers = {
        (r["tbl"], r["tgname"]): r["tgenabled"]
        for r in await conn.fetch(
            "SELECT c.relname AS tbl, t.tgname, t.tgenabled::text AS tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND NOT t.tgisinternal",
            schema,
        )
    }
    found = []
    for name, body in sorted(want.functions.items()):
        if name not in functions:
            found.append(f"function {name}: missing")
        elif functions[name] != body:
            found.append(f"function {name}: its body is not the one the migrations define")
    found += [f"function {name}: not defined by any migration" for name in sorted(functions.keys() - want.functions)]
    for table, name in sorted(want.triggers):
        if (table, name) not in triggers:
            found.append(f"trigger {name} on {table}: missing")
        elif triggers[(table, name)] == "D":
            found.append(f"trigger {name} on {table}: disabled")
    found += [
        f"trigger {name} on {table}: not defined by any migration"
        for table, name in sorted(triggers.keys() - want.triggers)
    ]
    return found
