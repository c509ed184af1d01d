"""The fuzz campaign over HTTP (issue 16): mutated requests to the gateway's twelve ECTicket paths, mutated AIO
payment results to its webhook, and requests no client should send (unknown paths, other methods, oversize
bodies), then an account of every answer.

The inputs are the Kafka campaign's (deploy/fuzz/campaign.py, deploy/fuzz/mutations.py) put on the wire as an
HTTP body: a valid envelope mutated at the byte level, in its outer JSON, or in its signed Data re-sealed with the
merchant's real keys. Every answer must be specific: an ECTicket response envelope (TransCode and TransMsg, and if
TransCode is 1 a Data that opens with the merchant's keys and holds an RtnCode and RtnMsg), a `{"error": ...}`
body for what is not a request at all (403 rate, 404 path, 405 method), `1|OK` or `0|reason` from the webhook.
Never a 5xx, a timeout, a stack trace or a key in a body. Afterwards no consumer group stalls and nothing refused
changed state: every TicketsIssued of the campaign's merchant is one of an Issue answered RtnCode 1, and no
PaymentConfirmed appears (the processor never saw these trades).
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from deploy.fuzz import mutations
from deploy.fuzz.campaign import OutcomeReader, caught_up
from shared.ecticket.envelope import OpenedData, ResponseEnvelope, open_response, seal_request
from shared.sandbox.aio import as_form, as_json, payment_result, signed
from shared.sandbox.merchant import KEYS

OPERATIONS = (
    "Issue", "WriteOff", "Refund", "QueryIssueResult", "QueryPrintData", "QueryTicketStatus", "QueryOrderInfo",
    "QueryRefundInfo", "EscrowDay", "QueryItemInfo", "BatchQueryItemInfo", "OrderDetail",
)  # fmt: skip
WEBHOOK = "/payment/ecpay/return"
OVERSIZE = 200 * 1024  # over the gateway's 128 KiB body limit
LEAKS = ("Traceback", 'File "', *(secret for pair in KEYS.values() for secret in pair))


@dataclass(frozen=True)
class HttpInput:
    method: str
    path: str
    body: bytes
    content_type: str
    strategy: str
    trade_no: str = ""  # the FreeTradeNo of an Issue / MerchantTradeNo of a payment result as sent, for the state check


@dataclass
class HttpReport:
    inputs: int = 0
    by_strategy: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    unanswered: list[dict[str, Any]] = field(default_factory=list)  # 5xx, timeouts, answers that say nothing
    leaks: list[dict[str, Any]] = field(default_factory=list)
    valid: int = 0
    accepted: set[str] = field(default_factory=set)  # trade numbers of Issues answered 1 and results taken (1|OK)
    state_changed_while_refused: list[dict[str, Any]] = field(default_factory=list)
    stalled_groups: list[str] = field(default_factory=list)
    dead_processes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def ok(self) -> bool:
        return not (
            self.unanswered or self.leaks or self.state_changed_while_refused or self.stalled_groups
            or self.dead_processes
        )  # fmt: skip


def _seed_data(operation: str, merchant_id: str, n: int) -> dict[str, Any]:
    order = f"FH{n:010d}"
    data: dict[str, Any] = {"MerchantID": merchant_id}
    seeds: dict[str, dict[str, Any]] = {
        "Issue": {"FreeTradeNo": order, "IssueType": "3", "Operator": "fuzz",
                  "TicketInfo": [{"ItemNo": "GF000030", "TicketAmount": 1}]},
        "WriteOff": {"WriteOffNo": f"FH{n:016d}", "Action": "1", "Operator": "fuzz"},
        "Refund": {"TicketNo": f"FH{n:014d}", "Action": "1", "Operator": "fuzz"},
        "QueryTicketStatus": {"TicketNo": f"FH{n:014d}"},
        "QueryItemInfo": {"ItemNo": "GF000030"},
        "BatchQueryItemInfo": {"PageNum": 1, "ItemStatus": "1"},
        "EscrowDay": {},
        "OrderDetail": {"ReportType": 2, "BeginDate": "20261128", "EndDate": "20261128"},
        "QueryOrderInfo": {"MerchantTradeNo": order},
        "QueryRefundInfo": {"MerchantTradeNo": order},
    }  # fmt: skip
    return data | seeds.get(operation, {"FreeTradeNo": order})


def _envelope(merchant_id: str, data: Any) -> str:
    key, iv = KEYS[merchant_id]
    return json.dumps(seal_request(data, merchant_id, None, key, iv, int(time.time())).to_wire())


def _ticket_input(merchant_id: str, n: int, rng: random.Random) -> HttpInput:
    operation = rng.choice(OPERATIONS)
    path, data = f"/api/Ticket/{operation}", _seed_data(operation, merchant_id, n)
    layer = rng.choice(("bytes", "outer", "signed"))
    if layer == "signed":
        name, mutate = rng.choice(list(mutations.JSON_MUTATIONS.items()))
        mutated = mutate(copy.deepcopy(data), rng)
        mutated = mutated if isinstance(mutated, dict) else {"x": mutated}
        try:
            body = _envelope(merchant_id, mutated).encode()
        except (UnicodeEncodeError, ValueError):
            layer = "outer"  # a lone surrogate (or a nesting json cannot write) cannot be sealed, by a merchant either
        else:
            trade = str(mutated.get("FreeTradeNo", "")) if operation == "Issue" else ""
            return HttpInput("POST", path, body, "application/json", f"{operation}: signed Data, {name}", trade)
    sent = json.loads(_envelope(merchant_id, data))
    trade = data["FreeTradeNo"] if operation == "Issue" else ""  # an envelope mutated outside its Data may still issue
    if layer == "outer":
        name, mutate = rng.choice(list(mutations.JSON_MUTATIONS.items()))
        body = mutations.dumps(mutate(sent, rng)).encode()
        return HttpInput("POST", path, body, "application/json", f"{operation}: envelope JSON, {name}", trade)
    name, mutate_bytes = rng.choice(list(mutations.BYTE_MUTATIONS.items()))
    body = mutate_bytes(json.dumps(sent).encode(), rng)
    return HttpInput("POST", path, body, "application/json", f"{operation}: envelope bytes, {name}", trade)


def _payment_input(merchant_id: str, n: int, rng: random.Random) -> HttpInput:
    trade = f"FH{n:010d}"
    fields = payment_result(merchant_id, trade, 500, paid_at=datetime.now(UTC))
    if rng.random() < 0.4:
        name, mutate = rng.choice(list(mutations.JSON_MUTATIONS.items()))
        mutated = mutate(dict(fields), rng)
        if isinstance(mutated, dict) and all(isinstance(v, str) for v in mutated.values()):
            try:
                resigned = signed({k: v for k, v in mutated.items() if k != "CheckMacValue"})
                return HttpInput("POST", WEBHOOK, as_form(resigned), "application/x-www-form-urlencoded",
                                 f"payment form, re-signed: {name}", str(resigned.get("MerchantTradeNo", "")))  # fmt: skip
            except UnicodeEncodeError:
                pass  # a lone surrogate cannot be signed: sent unsigned as JSON below
        return HttpInput(
            "POST", WEBHOOK, mutations.dumps(mutated).encode(), "application/json", f"payment JSON: {name}"
        )
    form = rng.random() < 0.5
    raw, kind = (
        (as_form(fields), "application/x-www-form-urlencoded") if form else (as_json(fields), "application/json")
    )
    name, mutate_bytes = rng.choice(list(mutations.BYTE_MUTATIONS.items()))
    return HttpInput("POST", WEBHOOK, mutate_bytes(raw, rng), kind, f"payment bytes: {name}", trade)


def _stray_input(merchant_id: str, n: int, rng: random.Random) -> HttpInput:
    valid = _envelope(merchant_id, _seed_data("EscrowDay", merchant_id, n)).encode()
    choices = [
        ("unknown operation", "POST", f"/api/Ticket/{rng.choice(('Nope', 'issue', 'ISSUE', '..%2F..', 'Issue%00'))}", valid),
        ("unknown path", "POST", rng.choice(("/api/Ticket", "/api/Ticket/", "/api", "/x" * 300, "/%ff%fe")), valid),
        ("another method", rng.choice(("GET", "PUT", "DELETE", "PATCH")), "/api/Ticket/Issue", valid),
        ("oversize body", "POST", rng.choice(("/api/Ticket/Issue", WEBHOOK)), b"{" + b" " * OVERSIZE + b"}"),
        ("empty body", "POST", rng.choice(("/api/Ticket/WriteOff", WEBHOOK)), b""),
    ]  # fmt: skip
    strategy, method, path, body = rng.choice(choices)
    return HttpInput(method, path, body, rng.choice(("application/json", "text/plain", "")), strategy)


def inputs(merchant_id: str, count: int, seed: int) -> list[HttpInput]:
    rng = random.Random(seed)
    made = []
    for n in range(count):
        draw = rng.random()
        make = _ticket_input if draw < 0.7 else _payment_input if draw < 0.95 else _stray_input
        made.append(make(merchant_id, n, rng))
    return made


def judge(item: HttpInput, status: int, text: str, merchant_id: str) -> tuple[str | None, bool]:
    """(why the answer is not specific, or None; whether it accepted the input)."""
    if status >= 500:
        return f"HTTP {status}", False
    if item.path == WEBHOOK and status in (200, 400, 413):
        if status == 200:
            return (None, True) if text == "1|OK" else (f"webhook 200 said {text[:60]!r}", False)
        return (None, False) if text.startswith("0|") and len(text) > 2 else (f"webhook {status} said nothing", False)
    try:
        body = json.loads(text)
    except ValueError:
        return f"HTTP {status} with a body that is not JSON", False
    if status in (403, 404, 405):
        return (
            (None, False)
            if isinstance(body, dict) and body.get("error")
            else (f"HTTP {status} without a reason", False)
        )
    if status not in (200, 400, 413) or not isinstance(body, dict) or not body.get("TransMsg"):
        return f"HTTP {status} without an ECTicket envelope", False
    if body.get("TransCode") != 1:
        return None, False
    key, iv = KEYS[merchant_id]
    opened = open_response(ResponseEnvelope.model_validate(body), key, iv)
    if not isinstance(opened, OpenedData) or "RtnCode" not in opened.data or not opened.data.get("RtnMsg"):
        return "TransCode 1 without a readable RtnCode and RtnMsg", False
    return None, opened.data["RtnCode"] == 1


async def _send(session: aiohttp.ClientSession, base: str, item: HttpInput) -> tuple[int, str]:
    headers = {"Content-Type": item.content_type} if item.content_type else {}
    async with session.request(item.method, base + item.path, data=item.body, headers=headers) as response:
        return response.status, await response.text(errors="replace")


async def send_all(base: str, made: list[HttpInput], merchant_id: str, rate: float, workers: int) -> HttpReport:
    """Every input sent, by `workers` at once; ECTicket paths paced at `rate` a second (the gateway's per-merchant
    limit would otherwise answer most of them 403, a specific answer that never reaches the validators)."""
    report = HttpReport(inputs=len(made))
    queue = list(reversed(made))
    started = time.monotonic()
    paced = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal paced
        while queue:
            item = queue.pop()
            if item.path.startswith("/api/Ticket/") and rate > 0:
                paced += 1
                await asyncio.sleep(max(0.0, started + paced / rate - time.monotonic()))
            report.by_strategy[item.strategy] += 1
            try:
                status, text = await _send(session, base, item)
            except (TimeoutError, aiohttp.ClientError) as exc:
                report.unanswered.append({"strategy": item.strategy, "path": item.path, "error": repr(exc)[:200]})
                continue
            report.by_status[status] += 1
            leaked = [secret[:4] + "…" for secret in LEAKS if secret in text]
            if leaked:
                report.leaks.append({"strategy": item.strategy, "status": status, "found": leaked})
            why, ok = judge(item, status, text, merchant_id)
            if why:
                report.unanswered.append({"strategy": item.strategy, "path": item.path, "why": why, "body": text[:200]})
            report.valid += ok
            if ok and item.trade_no:
                report.accepted.add(item.trade_no)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, skip_auto_headers=("Content-Type",)) as session:
        await asyncio.gather(*(worker(session) for _ in range(workers)))
    report.seconds = time.monotonic() - started
    return report


def changed_while_refused(report: HttpReport, merchant_id: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    for event_type, payload in events:
        if payload.get("merchant_id") != merchant_id:
            continue
        if event_type == "PaymentConfirmed" or (
            event_type == "TicketsIssued" and (payload.get("free_trade_no") or "") not in report.accepted
        ):
            report.state_changed_while_refused.append({"event": event_type, "payload": str(payload)[:200]})


async def run(
    bootstrap: str, base_url: str, merchant_id: str, count: int, seed: int, *, rate: float = 0, workers: int = 64,
    settle_seconds: float = 120,
) -> HttpReport:  # fmt: skip
    reader = await OutcomeReader.from_the_ends(bootstrap)
    await reader.start()
    try:
        report = await send_all(base_url.rstrip("/"), inputs(merchant_id, count, seed), merchant_id, rate, workers)
        report.stalled_groups = await caught_up(bootstrap, settle_seconds)
        outcomes = await reader.catch_up()
        changed_while_refused(report, merchant_id, [e for events in outcomes.by_cause.values() for e in events])
        return report
    finally:
        await reader.stop()


def summary(report: HttpReport) -> str:
    lines = [
        f"HTTP inputs tried: {report.inputs:,} in {report.seconds:.0f} s (accepted as valid: {report.valid:,})",
        f"answers by HTTP status: {dict(sorted(report.by_status.items()))}",
        f"consumer groups stalled: {len(report.stalled_groups)} {report.stalled_groups or ''}",
        f"processes dead: {len(report.dead_processes)} {report.dead_processes or ''}",
        f"inputs without a specific answer (5xx, timeout, empty): {len(report.unanswered):,}",
        f"answers that leaked a trace or a key: {len(report.leaks):,}",
        f"inputs refused that changed state anyway: {len(report.state_changed_while_refused):,}",
        "by strategy (over the twelve operations):",
        *(f"  {n:>7,}  {s}" for s, n in _by_kind(report.by_strategy).most_common()),
    ]
    return "\n".join(lines)


def _by_kind(by_strategy: Counter[str]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for strategy, n in by_strategy.items():
        operation, _, kind = strategy.partition(": ")
        kinds[kind if operation in OPERATIONS else strategy] += n
    return kinds


def as_json_report(report: HttpReport) -> str:
    return json.dumps(
        {
            "inputs": report.inputs,
            "seconds": round(report.seconds, 1),
            "valid": report.valid,
            "by_status": {str(k): v for k, v in sorted(report.by_status.items())},
            "by_strategy": dict(report.by_strategy),
            "unanswered": report.unanswered[:100],
            "unanswered_count": len(report.unanswered),
            "leaks": report.leaks[:100],
            "state_changed_while_refused": report.state_changed_while_refused[:100],
            "stalled_groups": report.stalled_groups,
            "dead_processes": report.dead_processes,
            "ok": report.ok(),
        },
        indent=2,
    )
