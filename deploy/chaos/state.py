"""The platform's state after the run, judged against the log and the pure cores: the log replayed with the audit
tool's verifier (redemption's state machine re-deciding every ticket event, settlement's core rebuilding the ledger
and its invariants, payments against orders) for the run's merchants, its rebuilt state compared row by row with the
databases, every ticket's status against its story, dead letters, and settlement's own invariant check."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

import asyncpg

from deploy.bench.common import ROOT
from deploy.chaos.checks import Check
from deploy.chaos.plans import Order
from services.audit import reconcile
from services.audit.domain.verify import TOPIC_ORDER, Options, Verifier
from services.audit.reader import KafkaLog
from shared.settings import Settings, business_day_cutoff

DEAD_LETTER_SCHEMAS = "SELECT table_schema FROM information_schema.tables WHERE table_name = 'dead_letters'"


class RunVerifier(Verifier):
    """The audit verifier with its domain checks narrowed to a set of merchants (it takes one): on an instance
    shared with other tests, their deliberately broken records are theirs to judge."""

    merchants: frozenset[str] = frozenset()

    def _wanted(self, key: str) -> bool:
        return key.split("/", 1)[0] in self.merchants


async def replay(settings: Settings, merchants: list[str], since: datetime | None) -> RunVerifier:
    verifier = RunVerifier(Options(cutoff=business_day_cutoff(), allow_unchained=since is not None))
    verifier.merchants = frozenset(merchants)
    log = KafkaLog(settings.kafka_bootstrap)
    await log.start()
    try:
        for span in await log.spans(TOPIC_ORDER, since):
            async for record in log.records(span):
                verifier.feed(record)
    finally:
        await log.stop()
    verifier.finish({}, from_start=since is None)
    return verifier


def audit_checks(verifier: RunVerifier, orders: list[Order], *, with_chain: bool) -> list[Check]:
    """The replay's findings (the chain's only on an instance of the run's own: checkpoints are not verified here,
    a missing key is not a finding of the run) and every ticket's re-decided state against its story."""
    domain, chain = Check("log replay: pure cores re-decide every event"), Check("log replay: hash chains")
    for finding in verifier.findings.items:
        if finding.check == "chain" and finding.kind != "bad_checkpoint":
            chain.note(f"{finding.kind} {finding.where}: {finding.detail}", wrong=True)
        elif finding.check != "chain":
            domain.note(f"{finding.check}.{finding.kind} {finding.where}: {finding.detail}", wrong=True)
    domain.checked = chain.checked = verifier.records
    decided = Check("tickets as the pure core decides them")
    for order in orders:
        if order.ticket_no:
            ticket = verifier.tickets.tickets.get(order.ticket_no)
            decided.checked += 1
            state = None if ticket is None else (ticket.status, ticket.escrow_released)
            if state != order.expected()[0]:
                decided.note(f"{order.ticket_no} ({order.story}): replayed {state}", wrong=True)
    return [domain, decided, *([chain] if with_chain else [])]


async def database_checks(settings: Settings, verifier: RunVerifier, orders: list[Order], merchants: list[str],
                          since: datetime) -> list[Check]:  # fmt: skip
    rebuilt = Check("databases equal the replayed log")
    for merchant_id in merchants:
        for finding in await reconcile.run(settings.database_url, verifier, merchant_id):
            rebuilt.note(f"{finding.kind} {finding.where}: {finding.detail}", wrong=True)
    rebuilt.checked = len(merchants)
    conn = await asyncpg.connect(settings.database_url)
    try:
        tickets = Check("ticket rows in the state of their story")
        rows = await conn.fetch("SELECT ticket_no, status, escrow_released FROM redemption.tickets"
                                " WHERE merchant_id = ANY($1::text[])", merchants)  # fmt: skip
        stored = {r["ticket_no"]: (r["status"], r["escrow_released"]) for r in rows}
        for order in orders:
            if order.ticket_no:
                tickets.count(order.ticket_no, int(order.ticket_no in stored))
                if order.ticket_no in stored and stored[order.ticket_no] != order.expected()[0]:
                    tickets.note(f"{order.ticket_no} ({order.story}): {stored[order.ticket_no]}", wrong=True)
        letters = Check("dead letters: none")
        for schema in [r[0] for r in await conn.fetch(DEAD_LETTER_SCHEMAS)]:
            letters.checked += 1
            for row in await conn.fetch(f'SELECT id, consumer, error FROM "{schema}".dead_letters'
                                        " WHERE received_at >= $1 ORDER BY id", since):  # fmt: skip
                letters.note(f"{schema} #{row['id']} {row['consumer']}: {row['error'][:160]}", wrong=True)
    finally:
        await conn.close()
    return [rebuilt, tickets, letters]


async def settlement_check() -> Check:
    """`python -m services.escrow_settlement.cli check`: the ledger's invariants over the whole database."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.escrow_settlement.cli", "check", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    check = Check("settlement check: ledger invariants", checked=1)
    for line in output.decode().splitlines():
        if line.startswith("VIOLATION"):
            check.note(line, wrong=True)
    if process.returncode != 0 and check.clean:
        check.note(output.decode()[-300:], wrong=True)
    return check
