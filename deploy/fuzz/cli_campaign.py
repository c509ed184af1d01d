"""The fuzz campaign of the admin CLI's inputs (issue 16): `python -m shared.admin` run in-process with mutated
arguments and key variables, and an account of every outcome.

Each input is a valid command line of an operator (merchant-put, product-put, clock-advance, clock-reset,
rotate-keys, dead-letters) mutated once: an argument's value replaced by an edge value (wrong types, huge and
negative numbers, unicode edge cases, injection strings), an argument dropped, repeated, or unknown, or a key
variable (ECTICKET_TICKET_HASH_KEY ...) replaced. Every input must end with a specific outcome: exit 0 with its
one-line confirmation, or a non-zero exit with a message on stderr (argparse's `error:`, `invalid: ...`,
`refused: ...`, a missing variable named). Never an uncaught exception (a traceback). Afterwards, nothing refused
published a merchant: the merchants on the topic of the campaign's ids are exactly those a merchant-put or
rotate-keys exited 0 for.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import multiprocessing
import os
import random
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from deploy.fuzz.mutations import EDGE_VALUES
from shared.admin import __main__ as admin
from shared.admin.keys import SECRET_VARS
from shared.admin.seed import TEST_MERCHANT
from shared.infra.compacted import CompactedView
from shared.sandbox.aio import AIO_IV, AIO_KEY
from shared.sandbox.merchant import KEYS
from shared.topics import MERCHANT_CONFIG

UNKNOWN_FLAGS = ("--merchant", "--MERCHANT-ID", "--escrow_days", "-x", "--", "--name=")


@dataclass(frozen=True)
class CliInput:
    argv: list[str]
    env: dict[str, str]
    strategy: str
    merchant_id: str  # the merchant a merchant-put or rotate-keys would publish


@dataclass
class CliReport:
    inputs: int = 0
    by_strategy: Counter[str] = field(default_factory=Counter)
    by_exit: Counter[str] = field(default_factory=Counter)
    on_topic: set[str] = field(default_factory=set)  # the campaign's merchants found on the topic afterwards
    crashes: list[dict[str, Any]] = field(default_factory=list)  # uncaught exceptions, with their traceback's tail
    silent: list[dict[str, Any]] = field(default_factory=list)  # a non-zero exit without a message
    published: set[str] = field(default_factory=set)  # merchant ids a merchant-put / rotate-keys exited 0 for

    def refused_but_published(self) -> set[str]:
        return self.on_topic - self.published

    def ok(self) -> bool:
        return not (self.crashes or self.silent or self.refused_but_published())


def _seeds(merchant_id: str, previous: str) -> list[tuple[str, list[str]]]:
    """Valid command lines; rotate-keys names the merchant the input before may have registered."""
    return [
        ("merchant-put", ["merchant-put", "--merchant-id", merchant_id, "--name", "Fuzz shop", "--escrow-days", "30",
                          "--refund-fee", "fixed:20", "--refund-notify-url", "https://shop.example/notify",
                          "--produce-bytes-per-second", "1048576"]),
        ("product-put", ["product-put", "--merchant-id", merchant_id, "--item-no", "FZ000001", "--name", "Tea",
                         "--type", "pickup", "--face-value", "120", "--valid-days", "30", "--refund-fee",
                         "percent:500"]),
        ("clock-advance", ["clock-advance", "--merchant-id", merchant_id, "--days", "1", "--hours", "2"]),
        ("clock-reset", ["clock-reset", "--merchant-id", merchant_id]),
        ("rotate-keys", ["rotate-keys", "--merchant-id", previous, "--overlap-hours", "1"]),
        ("dead-letters", ["dead-letters", "list", "--service", "issuance", "--id", "1"]),
    ]  # fmt: skip


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def make_input(prefix: str, n: int, rng: random.Random, env: dict[str, str]) -> CliInput:
    merchant_id = f"{prefix}{n:05d}"  # a MerchantID has at most 10 characters: a prefix of at most 4
    command, argv = rng.choice(_seeds(merchant_id, f"{prefix}{max(n - 1, 0):05d}"))
    argv = list(argv)
    env = dict(env)
    kind = rng.choice(("value", "value", "value", "drop", "repeat", "unknown", "env"))
    options = [i for i, a in enumerate(argv) if a.startswith("--") and i + 1 < len(argv)]
    if kind == "value" and options:
        i = rng.choice(options) + 1
        argv[i] = _text(rng.choice(EDGE_VALUES))[:5000]
    elif kind == "drop" and options:
        i = rng.choice(options)
        del argv[i : i + 2]
    elif kind == "repeat" and options:
        i = rng.choice(options)
        argv += [argv[i], _text(rng.choice(EDGE_VALUES))[:5000]]
    elif kind == "env":
        name = rng.choice(SECRET_VARS)
        env[name] = _text(rng.choice(EDGE_VALUES))[:5000]
    else:
        argv.insert(rng.randrange(1, len(argv) + 1), rng.choice(UNKNOWN_FLAGS))
    argv = [_as_from_the_os(a) for a in argv]
    env = {k: _as_from_the_os(v) for k, v in env.items()}
    named = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--merchant-id"]  # argparse keeps the last one
    published = named[-1] if named and command in ("merchant-put", "rotate-keys") else ""
    return CliInput(argv, env, f"{command}: {kind}", published)


def _as_from_the_os(text: str) -> str:
    """`text` as a process would receive it: no NUL (argv and environ cannot hold one), and bytes that are not
    UTF-8 (here: a lone surrogate's) decoded as Python decodes the operating system's, with surrogateescape."""
    raw = text.replace("\x00", "").encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "surrogateescape")


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def run_one(item: CliInput) -> tuple[str, str]:
    """(exit status as text, stderr); "crash" when the command raised anything but SystemExit."""
    out, err = io.StringIO(), io.StringIO()
    with _environment(item.env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            admin.main(item.argv)
        except SystemExit as exc:
            code = exc.code
            if isinstance(code, str):  # SystemExit("message") prints the message and exits 1
                return "1", code
            return str(code or 0), err.getvalue()
        except BaseException:
            return "crash", traceback.format_exc()
    return "0", err.getvalue()


def operator_environment() -> dict[str, str]:
    """The key variables an operator sets for merchant-put and rotate-keys (sandbox keys)."""
    key, iv = KEYS[TEST_MERCHANT]
    return dict(zip(SECRET_VARS, (key, iv, AIO_KEY, AIO_IV), strict=True))


async def merchants_on_topic(bootstrap: str, prefix: str) -> set[str]:
    view = CompactedView(bootstrap, MERCHANT_CONFIG, lambda raw: str(json.loads(raw).get("merchant_id")))
    await view.start()
    try:
        return {merchant_id for merchant_id in view.values() if merchant_id.startswith(prefix)}
    finally:
        await view.stop()


def run(bootstrap: str, count: int, seed: int, prefix: str, workers: int = 1) -> CliReport:
    """`count` inputs, each command with its own event loop, as from a shell; not inside a running event loop.
    `prefix` (up to 4 letters and digits) names the campaign's merchants: one per campaign, so that merchants of an
    earlier campaign on the instance are not counted. `workers` processes share the inputs (input n goes to worker
    n mod workers; every worker draws the whole seeded sequence, so the inputs are those of one worker): a command
    spends most of its time waiting for the broker."""
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            shares = pool.starmap(_share, [(count, seed, prefix, w, workers) for w in range(workers)])
        report = CliReport(inputs=count)
        for share in shares:
            report.by_strategy += share.by_strategy
            report.by_exit += share.by_exit
            report.crashes += share.crashes
            report.silent += share.silent
            report.published |= share.published
    else:
        report = _share(count, seed, prefix, 0, 1)
    report.on_topic = asyncio.run(merchants_on_topic(bootstrap, prefix))
    return report


def _share(count: int, seed: int, prefix: str, worker: int, workers: int) -> CliReport:
    env = operator_environment()
    rng = random.Random(seed)
    report = CliReport(inputs=count)
    for n in range(count):
        item = make_input(prefix, n, rng, env)
        if n % workers != worker:
            continue
        report.by_strategy[item.strategy] += 1
        status, stderr = run_one(item)
        report.by_exit[status] += 1
        if status == "crash":
            report.crashes.append({"argv": item.argv[:12], "strategy": item.strategy, "trace": stderr[-600:]})
        elif status != "0" and not stderr.strip():
            report.silent.append({"argv": item.argv[:12], "strategy": item.strategy, "exit": status})
        elif status == "0" and item.merchant_id:
            report.published.add(item.merchant_id)
    return report


def summary(report: CliReport) -> str:
    return "\n".join(
        [
            f"CLI inputs tried: {report.inputs:,} (exit statuses: {dict(report.by_exit)})",
            f"uncaught exceptions (tracebacks): {len(report.crashes):,}",
            f"non-zero exits without a message: {len(report.silent):,}",
            f"merchants published by inputs that exited 0: {len(report.published):,}",
            f"merchants on the topic that no accepted input published: {len(report.refused_but_published()):,}",
            "by strategy:",
            *(f"  {n:>7,}  {s}" for s, n in report.by_strategy.most_common()),
            *(f"crash: {c['strategy']} {c['argv']}\n{c['trace']}" for c in report.crashes[:3]),
            *(f"exit {s['exit']} without a message: {s['strategy']} {s['argv']}" for s in report.silent[:3]),
            *(f"published though refused: {m}" for m in sorted(report.refused_but_published())[:3]),
        ]
    )
