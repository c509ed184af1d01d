"""After the suite has run the platform through everything (named to run near the end), no secret appears where it
must not: not in any service's log, not in any event the tap saw, not in any dead letter. The secrets are every
test merchant's HashKey and HashIV, the AIO payment keys, the config key and the audit signing key."""

from __future__ import annotations

import os

import asyncpg

from shared.sandbox.aio import AIO_IV, AIO_KEY
from shared.sandbox.merchant import KEYS
from shared.sandbox.tap import Tap
from shared.settings import DEV_CONFIG_KEY, Settings
from tests.support.processes import Platform


def secrets() -> set[str]:
    found = {value for pair in KEYS.values() for value in pair} | {AIO_KEY, AIO_IV, DEV_CONFIG_KEY}
    signing = os.environ.get("ECTICKET_AUDIT_SIGNING_KEY")
    return found | ({signing} if signing else set())


def leaks(text: str, where: str) -> list[str]:
    return [f"{where}: {secret[:4]}…" for secret in secrets() if secret in text]


async def test_no_secret_appears_in_logs_events_or_dead_letters(
    platform: Platform, tap: Tap, db: asyncpg.Pool, topics: Settings
) -> None:
    assert len(KEYS) > 4  # the seeded merchants and every test's fresh ones: the suite has run
    found: list[str] = []
    logs = {service.log_file for service in platform.services.values()}
    for log in logs:
        found += leaks(log.read_text(errors="replace"), log.name)
    assert tap.seen, "the tap saw the suite's events"
    for seen in tap.seen:
        found += leaks(seen.envelope.to_bytes().decode(errors="replace"), f"{seen.topic} {seen.type}")
    schemas = await db.fetch("SELECT table_schema FROM information_schema.tables WHERE table_name = 'dead_letters'")
    for schema in (r["table_schema"] for r in schemas):
        rows = await db.fetch(f"SELECT value, error FROM {schema}.dead_letters")
        for row in rows:
            found += leaks(bytes(row["value"]).decode(errors="replace") + row["error"], f"{schema}.dead_letters")
    assert not found, found
