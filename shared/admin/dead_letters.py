"""`python -m shared.admin dead-letters list|redrive|dismiss`: what every service could not apply, and after a fix,
apply it again (the service does it, through its own consumer path) or close it with a reason.

Every service schema has a `dead_letters` table; the tool finds them in the catalog, so a new service needs no
registration here.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import asyncpg

from shared.infra.redrive import dismiss
from shared.infra.seal import PROVENANCE
from shared.settings import Settings

COLUMNS = 'id, consumer, stage, touches_money, topic, partition, "offset", octet_length(value) AS size, error,'
COLUMNS += " received_at, redrive_requested_at, redrives, resolved_at, resolution"


async def service_schemas(conn: asyncpg.Connection, wanted: str | None) -> list[str]:
    rows = await conn.fetch(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'dead_letters' ORDER BY 1"
    )
    found = [r["table_schema"] for r in rows]
    if wanted is not None:
        if wanted not in found:
            raise SystemExit(f"no service schema {wanted!r}; known: {', '.join(found)}")
        return [wanted]
    return found


def status(row: asyncpg.Record) -> str:
    if row["resolved_at"] is not None:
        return str(row["resolution"])
    return "redrive-requested" if row["redrive_requested_at"] is not None else "open"


def line(schema: str, row: asyncpg.Record) -> str:
    money = "money" if row["touches_money"] else "edge"
    where = f"{row['topic']}/{row['partition']}/{row['offset']}"
    error = row["error"].replace("\n", " ")[:120]
    return (
        f"{schema} #{row['id']} {status(row)} {row['stage']} {money} {where} {row['size']}B "
        f"{row['received_at']:%Y-%m-%dT%H:%M:%SZ} redrives={row['redrives']} {error}"
    )


async def list_letters(conn: asyncpg.Connection, schemas: list[str], everything: bool) -> int:
    """Print each letter (open ones only unless --all) and a count per service; the number still open."""
    still_open = 0
    for schema in schemas:
        where = "" if everything else "WHERE resolved_at IS NULL"
        rows = await conn.fetch(f'SELECT {COLUMNS} FROM "{schema}".dead_letters {where} ORDER BY id')
        for row in rows:
            print(line(schema, row))
        counts = await conn.fetchrow(
            f"""SELECT count(*) FILTER (WHERE resolved_at IS NULL) AS open,
                       count(*) FILTER (WHERE resolved_at IS NULL AND touches_money) AS money,
                       count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved
                FROM "{schema}".dead_letters"""
        )
        print(f"{schema}: {counts['open']} open ({counts['money']} touch money), {counts['resolved']} resolved")
        still_open += counts["open"]
    return still_open


async def redrive(conn: asyncpg.Connection, schema: str, ids: list[int] | None, wait_seconds: float) -> int:
    """Ask the service to apply the letters again and wait for each outcome; the number still failing.

    A letter refused for its provenance (no valid platform seal) is never re-driven: a dead letter keeps the
    record's bytes but not its headers, so the service could not check the seal again, and a forged event must be
    dismissed, not applied. It counts as still failing."""
    unsealed = await conn.fetchval(
        f"""SELECT count(*) FROM "{schema}".dead_letters WHERE resolved_at IS NULL AND error LIKE $2
            AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))""",
        ids,
        PROVENANCE + "%",
    )
    if unsealed:
        print(f"{schema}: {unsealed} letter(s) refused for provenance not re-driven (dismiss them with a reason)")
    chosen = await conn.fetch(
        f"""UPDATE "{schema}".dead_letters SET redrive_requested_at = now()
            WHERE resolved_at IS NULL AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[])) AND error NOT LIKE $2
            RETURNING id""",
        ids,
        PROVENANCE + "%",
    )
    pending = sorted(r["id"] for r in chosen)
    if not pending:
        print(f"{schema}: nothing open to re-drive")
        return int(unsealed)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    rows: list[asyncpg.Record] = []
    while loop.time() < deadline:
        rows = await conn.fetch(f'SELECT {COLUMNS} FROM "{schema}".dead_letters WHERE id = ANY($1)', pending)
        if all(r["redrive_requested_at"] is None or r["resolved_at"] is not None for r in rows):
            break
        await asyncio.sleep(0.2)
    for row in rows:
        print(line(schema, row))
    waiting = [r for r in rows if r["redrive_requested_at"] is not None and r["resolved_at"] is None]
    if waiting:
        print(f"{schema}: {len(waiting)} not picked up after {wait_seconds:.0f}s: is the service running?")
    return int(unsealed) + sum(r["resolved_at"] is None for r in rows)


async def run(settings: Settings, args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        schemas = await service_schemas(conn, args.service)
        if args.action == "list":
            still_open = await list_letters(conn, schemas, args.all)
            raise SystemExit(1 if still_open and args.fail_if_open else 0)
        if args.action == "redrive":
            ids = None if args.all else args.id
            if not ids and not args.all:
                raise SystemExit("name the letters: --id N (repeatable) or --all")
            failing = sum([await redrive(conn, schema, ids, args.wait) for schema in schemas])
            raise SystemExit(1 if failing else 0)
        if args.service is None or not args.id or not args.reason:
            raise SystemExit("dismiss needs --service, --id and --reason")
        await conn.execute(f'SET search_path TO "{args.service}"')  # its dead letters and its outbox
        for letter_id in args.id:
            closed = await dismiss(conn, args.service, letter_id, args.reason, datetime.now(UTC))
            print(f"{args.service} #{letter_id}: {'dismissed' if closed else 'not open'}")
    finally:
        await conn.close()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("dead-letters", help="list, re-drive or dismiss what the services could not apply")
    d.add_argument("action", choices=["list", "redrive", "dismiss"])
    d.add_argument("--service", help="a service schema, e.g. issuance (default: every service)")
    d.add_argument("--id", type=int, action="append", help="a letter id (repeatable)")
    d.add_argument("--all", action="store_true", help="list: include resolved letters; redrive: every open one")
    d.add_argument("--reason", help="dismiss: why this letter must not be applied")
    d.add_argument("--wait", type=float, default=30.0, help="redrive: seconds to wait for the outcome")
    d.add_argument("--fail-if-open", action="store_true", help="list: exit 1 while any letter is open")
    d.set_defaults(run=run)
