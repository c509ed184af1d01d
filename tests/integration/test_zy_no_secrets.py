"""After the suite has run the platform through everything (named to run near the end), no secret appears where it
must not: not in any service's log, not in any event the tap saw, not in any dead letter. The secrets are every
test merchant's HashKey and HashIV, the AIO payment keys, the config key, the audit signing key, the write-off
code key and the platform event keys (the records' seal); and no write-off code (a bearer code: whoever has it
redeems the voucher) appears there either, nor in the databases of the services that look codes up
(docs/security.md "Bearer codes")."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import asyncpg

from shared.ecticket.write_off_codes import UnreadableCode
from shared.infra.seal import parse_keys
from shared.sandbox.aio import AIO_IV, AIO_KEY
from shared.sandbox.merchant import KEYS
from shared.sandbox.tap import Tap
from shared.settings import DEV_CODE_KEY, DEV_CONFIG_KEY, DEV_EVENT_KEY_HEX, Settings
from tests.support.codes import code_key
from tests.support.processes import Platform

CODE_LENGTH = 18  # issuance's WriteOffNo (services/issuance/domain/codes.py), as the tests' own tickets too
# Where a code could be stored: the services that hold or look up codes (every table of their schemas).
CODE_HOLDERS = ("issuance", "redemption", "query", "notification")


def secrets() -> set[str]:
    found = {value for pair in KEYS.values() for value in pair} | {AIO_KEY, AIO_IV, DEV_CONFIG_KEY, DEV_CODE_KEY}
    configured = (os.environ.get(name) for name in ("ECTICKET_AUDIT_SIGNING_KEY", "ECTICKET_CODE_KEY"))
    event_keys = {k.secret.hex() for k in parse_keys(Settings.from_env().event_keys)} | {DEV_EVENT_KEY_HEX}
    return found | {key for key in configured if key} | event_keys


def write_off_codes(tap: Tap) -> set[str]:
    """Every WriteOffNo issued during the suite, opened from the TicketsIssued the tap saw (as the merchant's reply
    gives it). Events a test made with a placeholder for the sealed code are skipped."""
    key, codes = code_key(), set[str]()
    for seen in tap.seen:
        if seen.type == "TicketsIssued":
            for ticket in seen.payload["tickets"]:
                try:
                    codes.add(key.open(ticket["ticket_no"], ticket["write_off_sealed"]))
                except UnreadableCode:
                    continue
    return codes


_CODE_RUN = re.compile(rf"[A-Za-z0-9]{{{CODE_LENGTH},}}")


def codes_in(text: str, codes: set[str]) -> set[str]:
    """The codes that appear in `text`, in one pass: every window of a long enough run of letters and digits."""
    found: set[str] = set()
    for run in _CODE_RUN.finditer(text):
        word = run.group()
        found.update(w for i in range(len(word) - CODE_LENGTH + 1) if (w := word[i : i + CODE_LENGTH]) in codes)
    return found


def leaks(text: str, where: str, codes: Iterable[str] = ()) -> list[str]:
    found = [f"{where}: {secret[:4]}…" for secret in secrets() if secret in text]
    return found + [f"{where}: write-off code {code[:3]}…" for code in codes_in(text, set(codes))]


async def test_no_secret_appears_in_logs_events_or_dead_letters(
    platform: Platform, tap: Tap, db: asyncpg.Pool, topics: Settings
) -> None:
    assert len(KEYS) > 4  # the seeded merchants and every test's fresh ones: the suite has run
    codes = write_off_codes(tap)
    assert codes, "the suite issued tickets"
    found: list[str] = []
    logs = {service.log_file for service in platform.services.values()}
    for log in logs:
        found += leaks(log.read_text(errors="replace"), log.name, codes)
    assert tap.seen, "the tap saw the suite's events"
    for seen in tap.seen:
        found += leaks(seen.envelope.to_bytes().decode(errors="replace"), f"{seen.topic} {seen.type}", codes)
    schemas = await db.fetch("SELECT table_schema FROM information_schema.tables WHERE table_name = 'dead_letters'")
    for schema in (r["table_schema"] for r in schemas):
        rows = await db.fetch(f"SELECT value, error FROM {schema}.dead_letters")
        for row in rows:
            text = bytes(row["value"]).decode(errors="replace") + row["error"]
            found += leaks(text, f"{schema}.dead_letters", codes)
    assert not found, found


async def test_no_write_off_code_is_stored_in_the_clear(tap: Tap, db: asyncpg.Pool, platform_began: int) -> None:
    codes = write_off_codes(tap)
    assert codes, "the suite issued tickets"
    tables = await db.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema = ANY($1::text[]) AND table_type = 'BASE TABLE'",
        list(CODE_HOLDERS),
    )
    assert {r["table_schema"] for r in tables} >= {"issuance", "redemption", "query"}
    # Only the rows this session wrote or changed (their xmin is past the platform's start): the codes are this
    # session's, and the database keeps every earlier run's rows (infra.sh keeps its data), which made the scan
    # grow with each run (12 s on a new database, 40 s after two runs).
    found: list[str] = []
    scanned = 0
    for schema, table in ((r["table_schema"], r["table_name"]) for r in tables):
        rows = await db.fetch(
            f'SELECT t::text AS row FROM "{schema}"."{table}" t WHERE t.xmin::text::bigint > $1', platform_began
        )
        scanned += len(rows)
        found += leaks("\n".join(r["row"] for r in rows), f"{schema}.{table}", codes)
    assert scanned >= len(codes), "every code issued this session has at least its ticket's row"
    assert not found, found
