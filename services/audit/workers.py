"""`verify --workers N`: the replay in N processes, each re-deriving the decisions of its share of the merchants
(domain/shard.py), so a long log is verified on every core.

Every worker reads the whole source. The first also checks the hash chains and checkpoints of all of it; the others
feed the chain only their own records, to skip what it rejects as a whole run does. Two steps keep the report the
one a single process gives: when all have read, each is told the log's end (the newest record any of them replayed:
a paid order unresolved that long before it is a finding), then each finishes, reconciles its merchants' rows if
asked, and sends its report; the parent adds them up (report.merge) and reconciles the platform's own accounts,
whose balances are the sum of every worker's share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from services.audit import cli, report
from services.audit.domain.shard import Shard
from services.audit.domain.verify import Verifier
from shared.settings import Settings

Part = dict[str, Any]


class WorkerFailed(RuntimeError):
    """A worker could not verify (its reason), or ended without a word (killed)."""


def run(args: argparse.Namespace) -> tuple[list[Part], dict[str, int]]:
    """The workers' reports, the first worker's first, and the platform's own accounts' balances summed over them
    (`kind:owner` -> balance; only with --reconcile)."""
    # Forked, not spawned: a worker starts with the audit's modules already imported, instead of spending a third of
    # a second importing them again (deploy/bench/audit.py measures the whole command). The caller has no event loop
    # and no thread running yet (cli._verify_in_workers): a fork copies neither safely.
    fork = multiprocessing.get_context("fork")
    cli.collect_less()  # what is loaded now is frozen: a worker's collections never touch (and copy) its pages
    workers: list[tuple[BaseProcess, Connection]] = []
    for index in range(args.workers):
        ours, theirs = fork.Pipe()
        earlier = [pipe for _, pipe in workers]  # the child's copies are closed at once (see work)
        worker = fork.Process(target=work, args=(args, index, theirs, [ours, *earlier]), name=f"audit-worker-{index}",
                              daemon=True)  # fmt: skip
        worker.start()
        theirs.close()
        workers.append((worker, ours))
    try:
        ends = _answers(workers, "read")
        log_end = max((end for end in ends if end is not None), default=None)
        for _, pipe in workers:
            pipe.send(log_end)
        answers = _answers(workers, "report")
    finally:
        for process, pipe in workers:
            pipe.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    platform: Counter[str] = Counter()
    for _, balances in answers:
        platform.update(balances)
    return [part for part, _ in answers], dict(platform)


def _answers(workers: Sequence[tuple[BaseProcess, Connection]], expected: str) -> list[Any]:
    """Each worker's next answer, in the workers' order; the first failure, as soon as any worker fails."""
    answers: dict[int, Any] = {}
    waiting = {pipe: (n, process) for n, (process, pipe) in enumerate(workers)}
    while waiting:
        for ready in wait(list(waiting)):
            assert isinstance(ready, Connection)
            n, process = waiting.pop(ready)
            answers[n] = _answer(process, ready, expected)
    return [answers[n] for n in range(len(workers))]


def _answer(process: BaseProcess, pipe: Connection, expected: str) -> Any:
    try:
        kind, body = pipe.recv()
    except EOFError:
        process.join(timeout=5)
        raise WorkerFailed(f"{process.name} ended without a report (exit code {process.exitcode})") from None
    if kind == "error":
        raise WorkerFailed(body)
    assert kind == expected, f"{process.name} answered {kind!r}, expected {expected!r}"
    return body


def work(args: argparse.Namespace, index: int, pipe: Connection, parents: Sequence[Connection]) -> None:
    """One worker (a process of its own): its reason goes to the parent, never a traceback nobody reads.

    `parents`: the parent's ends of the pipes, of which a forked worker holds copies, its own pipe's among them. Closed
    at once: when the parent dies, a worker then finds its pipe closed and ends, instead of waiting forever on a pipe
    that its own copy keeps open."""
    for inherited in parents:
        inherited.close()
    try:
        asyncio.run(_work(args, Shard(index, args.workers), pipe))
    except Exception as exc:  # whatever stopped it: the parent prints it and the run exits 2
        with contextlib.suppress(OSError):  # the parent is gone already (another worker failed first)
            pipe.send(("error", f"worker {index}: {type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


async def _work(args: argparse.Namespace, shard: Shard, pipe: Connection) -> None:
    cli.collect_less()
    options = cli.options_of(args, shard)
    verifier = Verifier(options)
    keys = cli.keys_of(args)
    verifier.inputs = await cli.inputs_check(args, verifier)
    await cli.read_into(verifier, args, quiet=args.quiet or not shard.keeps_chain)
    pipe.send(("read", verifier.log_end))
    log_end: datetime | None = pipe.recv()
    verifier.log_end = log_end
    signed = verifier.finish(keys, from_start=args.since is None)
    reconciled, platform = None, {}
    if args.reconcile:
        from services.audit import reconcile

        dsn = Settings.from_env().database_url
        reconciled = await reconcile.run(dsn, verifier, options.merchant_id, shard=shard)
        platform = reconcile.platform_balances(verifier)
    part = report.as_json(verifier, signed, reconciled)
    part["workers"] = [{"worker": shard.index, "events_replayed": sum(verifier.events.values()), "peak_mb": _peak_mb()}]
    pipe.send(("report", (part, platform)))


def _peak_mb() -> float | None:
    """This process's own peak resident memory (Linux), for sizing a machine to the run."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kb is None else round(kb / 1024, 1)
