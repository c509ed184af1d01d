"""`python -m services.audit verify | export | public-key` (docs/audit.md has copy-paste examples).

verify: replays the log (Kafka, from the beginning or a time, or an export), prints a report, writes the JSON report
if asked, and exits 0 only when everything checks out (1: findings, 2: it could not run, 3: stopped at a checkpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit import export, report
from services.audit.domain.records import Finding, Record
from services.audit.domain.shard import Shard
from services.audit.domain.verify import TOPIC_ORDER, Options, Verifier
from services.audit.reader import KafkaLog, TopicUnreadable
from shared import chain
from shared.settings import Settings, business_day_cutoff

if TYPE_CHECKING:
    from services.audit.inputs import InputCheck
    from shared.merchants.model import Merchant

# With --since: how long after it a decision may still come from an input older than the read (below, _inputs).
INPUTS_GRACE = timedelta(hours=1)
# The replay makes a few dozen short-lived objects per record, freed by their reference counts, while it keeps
# millions alive (its maps, hot values): at Python's default 700 allocations a young-generation collection ran every
# few records, and the older generations, which walk the kept objects, often. With these, some 12 % more records per
# CPU-second (deploy/bench/audit_cpu.py, 2,000 orders); cyclic garbage waits a little longer, a few MB at most.
COLLECTOR_THRESHOLDS = (50_000, 50, 1000)


def main(argv: list[str] | None = None) -> None:
    try:
        _run(argv)
    except TopicUnreadable as exc:  # never a clean report of a log it could not read
        print(f"audit: cannot verify: {exc}", file=sys.stderr)
        sys.exit(2)


def _run(argv: list[str] | None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "public-key":
        settings = Settings.from_env()
        key = chain.private_key_from_hex(settings.audit_signing_key_hex)
        print(json.dumps({settings.audit_key_id: chain.public_hex(key)}))
        return
    if args.command == "export":
        sys.exit(asyncio.run(_export(args)))
    if args.command == "merchant-keys":
        from services.audit import merchant_keys

        found = asyncio.run(merchant_keys.from_directory(Settings.from_env()))
        merchant_keys.write(found, args.out)
        print(f"{sum(len(s) for s in found.values())} key sets of {len(found)} merchants written to {args.out}")
        return
    if args.workers > 1:
        sys.exit(_verify_in_workers(args))
    sys.exit(asyncio.run(_verify(args)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.audit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="replay and verify the log; exit 0 only when clean")
    v.add_argument("--export", type=Path, help="verify this export directory instead of Kafka")
    v.add_argument("--since", type=datetime.fromisoformat, help="read Kafka from this time (ISO, with offset)")
    v.add_argument("--merchant", help="the domain checks and findings of this merchant only")
    v.add_argument("--from", dest="period_from", type=datetime.fromisoformat, help="findings about records from")
    v.add_argument("--to", dest="period_to", type=datetime.fromisoformat, help="... until (exclusive)")
    v.add_argument("--keys", type=Path, help='published public keys: JSON {"key id": "hex", ...}')
    v.add_argument("--trust-local-key", action="store_true", help="the key of this environment's settings (dev)")
    v.add_argument("--merchant-keys", type=Path, help="the merchants' keys: re-verify the archived signed inputs")
    v.add_argument("--trust-local-merchants", action="store_true", help="... with this environment's merchants")
    v.add_argument("--inputs-since", type=datetime.fromisoformat, help="decisions before this need no archived input")
    v.add_argument("--json", type=Path, help="write the JSON report here")
    v.add_argument("--allow-unchained", action="store_true", help="accept records without a link (older history)")
    v.add_argument("--reconcile", action="store_true", help="also compare with the services' databases")
    v.add_argument("--chain-only", action="store_true", help="check the hash chains and checkpoints only")
    v.add_argument("--chain", action="append", help="audit only this producer's chain (repeatable); skip the rest")
    v.add_argument("--topic-suffix", default="", help="read <topic><suffix> (a rehearsal's own copies of the topics)")
    v.add_argument("--quiet", action="store_true", help="no progress line")
    v.add_argument("--workers", type=_positive, default=1,
                   help="processes, each re-deriving the decisions of a share of the merchants (default 1)")  # fmt: skip
    v.add_argument("--checkpoint", type=Path, help="save progress here; run again with it to go on (Kafka only)")
    v.add_argument("--checkpoint-every", type=float, default=60.0, help="seconds between saves (default 60)")
    v.add_argument("--stop-after", type=int, help="with --checkpoint: save and stop (exit 3) after this many records")
    e = sub.add_parser("export", help="export the log: records.jsonl, events.csv, manifest.json")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--since", type=datetime.fromisoformat)
    e.add_argument("--topic-suffix", default="")
    sub.add_parser("public-key", help="print this environment's checkpoint public key, to publish for auditors")
    k = sub.add_parser("merchant-keys", help="write this environment's merchants' keys for an auditor (a secret)")
    k.add_argument("--out", type=Path, required=True)
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (1 or more)")
    return int(text)


def keys_of(args: argparse.Namespace) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    if args.keys is not None:
        keys |= {kid: chain.public_key_from_hex(h) for kid, h in json.loads(args.keys.read_text()).items()}
    if args.trust_local_key:
        settings = Settings.from_env()
        keys[settings.audit_key_id] = chain.private_key_from_hex(settings.audit_signing_key_hex).public_key()
    return keys


def collect_less() -> None:
    """The collector's thresholds for a long replay (`COLLECTOR_THRESHOLDS`); what was loaded so far is never freed,
    so it is left out of every collection (`gc.freeze`)."""
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


async def _verify(args: argparse.Namespace) -> int:
    collect_less()
    options = options_of(args)
    verifier = Verifier(options)
    try:
        keys = keys_of(args)
        verifier.inputs = await inputs_check(args, verifier)
        if args.checkpoint is not None and args.export is None:
            verifier, done = await _resume(verifier, args)
            if not done:
                return 3
        else:
            await read_into(verifier, args, quiet=args.quiet)
    except (OSError, ValueError, export.ExportMismatch) as exc:
        print(f"audit: cannot verify: {exc}", file=sys.stderr)
        return 2
    signed = verifier.finish(keys, from_start=args.since is None)
    reconciled = await _reconcile(verifier, options) if args.reconcile else None
    return _reported(report.as_json(verifier, signed, reconciled), args)


def _verify_in_workers(args: argparse.Namespace) -> int:
    """Before any event loop: the workers are forked (workers.py), which is only safe from a process without one."""
    from services.audit import workers

    if args.checkpoint is not None and args.export is None:
        print("audit: cannot verify: --checkpoint works with one worker (--workers 1)", file=sys.stderr)
        return 2
    try:
        parts, platform = workers.run(args)
    except workers.WorkerFailed as exc:
        print(f"audit: cannot verify: {exc}", file=sys.stderr)
        return 2
    reconciled = None
    if args.reconcile and args.merchant is None:  # one merchant's audit leaves the platform's accounts out
        from services.audit import reconcile

        dsn = Settings.from_env().database_url
        reconciled = asyncio.run(reconcile.platform_accounts(dsn, platform))
    return _reported(report.merge(parts, reconciled), args)


def _reported(result: dict[str, Any], args: argparse.Namespace) -> int:
    report.human(result, sys.stdout)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0 if result["clean"] else 1


def options_of(args: argparse.Namespace, shard: Shard | None = None) -> Options:
    millis = [None if t is None else int(t.timestamp() * 1000) for t in (args.period_from, args.period_to)]
    return Options(cutoff=business_day_cutoff(), allow_unchained=args.allow_unchained,
                   merchant_id=args.merchant, period_ms=(millis[0], millis[1]),
                   chains=None if args.chain is None else frozenset(args.chain),
                   rederive=not args.chain_only, shard=shard)  # fmt: skip


async def read_into(verifier: Verifier, args: argparse.Namespace, quiet: bool) -> None:
    """Feed the verifier the whole source: the export, or the Kafka topics (from `--since`)."""
    if args.export is not None:
        manifest, records = export.read(args.export)
        progress = report.Progress(int(str(manifest["records"])), enabled=not quiet)
        _feed_all(verifier, records, progress)
    else:
        await _feed_kafka(verifier, [t + args.topic_suffix for t in TOPIC_ORDER], args.since, quiet)


async def _resume(verifier: Verifier, args: argparse.Namespace) -> tuple[Verifier, bool]:
    """--checkpoint: go on from the saved state, if any; False when it stopped early (saved: run again)."""
    from services.audit import resumable

    topics = [t + args.topic_suffix for t in TOPIC_ORDER]
    source = {"topics": topics, "since": None if args.since is None else args.since.isoformat()}
    saving = resumable.Resumable(args.checkpoint, source, args.checkpoint_every, args.stop_after)
    verifier, done = await resumable.verify_kafka(verifier, topics, args.since, args.quiet, saving)
    if not done:
        print(f"audit: stopped after {verifier.records:,} records, saved in {args.checkpoint}: run it again to go on",
              file=sys.stderr)  # fmt: skip
    return verifier, done


async def inputs_check(args: argparse.Namespace, verifier: Verifier) -> InputCheck | None:
    """The archived inputs' check, when the auditor has the merchants' keys (otherwise they are only chained)."""
    if args.merchant_keys is None and not args.trust_local_merchants:
        return None
    # Imported only when asked for: the check loads the request and payment parsers, some 70 ms of a run's start,
    # which every `verify --workers` run waits for before its workers start.
    from services.audit import merchant_keys
    from services.audit.inputs import InputCheck

    found: dict[str, list[Merchant]] = {}
    if args.merchant_keys is not None:
        found |= merchant_keys.from_file(args.merchant_keys)
    if args.trust_local_merchants:
        for merchant_id, sets in (await merchant_keys.from_directory(Settings.from_env())).items():
            found[merchant_id] = [*found.get(merchant_id, []), *sets]
    since = args.inputs_since
    if since is None and args.since is not None:
        # Read from a time, a decision's input may be older than the read: a payment is confirmed up to the
        # verification give-up (15 min) after its result came, an order issued up to the payment wait after its
        # request. Decisions in the first hour are not required to find theirs.
        since = args.since + INPUTS_GRACE
    return InputCheck(verifier.findings, found, args.merchant, None if since is None else int(since.timestamp() * 1000))


def _feed_all(verifier: Verifier, records: Iterable[Record], progress: report.Progress) -> None:
    for record in records:
        verifier.feed(record)
        progress.advance(record.topic)
    progress.close()


async def _feed_kafka(verifier: Verifier, topics: list[str], since: datetime | None, quiet: bool) -> None:
    log = KafkaLog(Settings.from_env().kafka_bootstrap)
    await log.start()
    try:
        spans = await log.spans(topics, since)
        progress = report.Progress(sum(s.size for s in spans), enabled=not quiet)
        for span in spans:
            async for record in log.records(span):
                verifier.feed(record)
                progress.advance(span.topic)
        progress.close()
    finally:
        await log.stop()


async def _reconcile(verifier: Verifier, options: Options) -> list[Finding]:
    from services.audit import reconcile  # asyncpg only when asked

    return await reconcile.run(Settings.from_env().database_url, verifier, options.merchant_id)


async def _export(args: argparse.Namespace) -> int:
    log = KafkaLog(Settings.from_env().kafka_bootstrap)
    await log.start()
    try:
        spans = await log.spans([t + args.topic_suffix for t in TOPIC_ORDER], args.since)

        async def records() -> AsyncIterator[Record]:
            for span in spans:
                async for record in log.records(span):
                    yield record

        manifest: dict[str, Any] = await export.write(records(), args.out)
    finally:
        await log.stop()
    print(f"exported {manifest['records']:,} records to {args.out}")
    return 0
