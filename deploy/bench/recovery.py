"""Recovery after kill -9 of a consumer (issue 15): how long requests go unanswered when the issuance process is
killed and started again at once, with static group membership (a stable ECTICKET_INSTANCE_ID, as services.sh and
compose run every service) and without (dynamic membership: the group waits for the dead member's session to time
out, then rebalances).

Gift-voucher Issue requests of the seeded merchant 3085676 (answered with their outcome) are sent at a steady
rate; the measures are the longest gap between two replies around the kill, and the longest a request sent after the
kill waited for its reply. The restart itself (Python start-up, the merchant and catalogue views read) is part of it."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from deploy.bench.common import ROOT, Report
from deploy.bench.redemption_support import ReplyWatcher
from shared.admin.seed import TEST_MERCHANT
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import LOAD_GENERATOR_CLIENT
from shared.sandbox.merchant import MerchantClient
from shared.topics import INGEST_REQUESTS

SERVICES = ("issuance",)  # gift orders need no payment: issuance alone answers them
RATE = 50  # Issue requests/s
BEFORE_SECONDS = 3  # steady state before the kill
AFTER_SECONDS = 12  # long enough for a dynamic member's session (6 s) to time out and the group to rebalance


def command(only: str | None) -> str:
    return "make bench BENCH_ARGS='--only recovery'" if only else "make bench"


class Issuance:
    """The issuance process, started by this benchmark so it can be killed and started again."""

    def __init__(self, instance_id: str | None) -> None:
        self.instance_id = instance_id
        self.ready = Path(tempfile.mkdtemp(prefix="recovery-")) / "issuance.ready"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "ECTICKET_INSTANCE_ID"}
        env["ECTICKET_READY_FILE"] = str(self.ready)
        if self.instance_id:
            env["ECTICKET_INSTANCE_ID"] = self.instance_id
        self.ready.unlink(missing_ok=True)
        log = (ROOT / ".run" / os.environ.get("INFRA_NAME", "bench") / "logs" / "issuance-recovery.log").open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "services.issuance"], cwd=ROOT, env=env, stdout=log,
                                        stderr=log)  # fmt: skip

    async def wait_ready(self) -> None:
        while not self.ready.exists():  # noqa: ASYNC110 (a file another process writes: polled)
            await asyncio.sleep(0.05)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def gift_issue(client: MerchantClient, trade_no: str) -> dict[str, object]:
    data = {"MerchantID": TEST_MERCHANT, "FreeTradeNo": trade_no, "IssueType": "3", "Operator": "bench",
            "TicketInfo": [{"ItemNo": "GF000030", "TicketAmount": 1}]}  # fmt: skip
    return client.request("Issue", data, merchant_id=TEST_MERCHANT)


async def one_run(bootstrap: str, instance_id: str | None) -> tuple[float, float]:
    """(the longest wait for a reply of a request sent after the kill, the longest gap between replies)."""
    producer = AIOKafkaProducer(
        client_id=LOAD_GENERATOR_CLIENT, bootstrap_servers=bootstrap, acks="all", linger_ms=1, **kafka_security()
    )
    await producer.start()
    replies = ReplyWatcher(bootstrap)
    await replies.start()
    issuance = Issuance(instance_id)
    issuance.start()
    await issuance.wait_ready()
    client = MerchantClient(producer)
    run = uuid.uuid4().hex[:6].upper()
    sent: dict[str, float] = {}
    killed_at = 0.0
    try:
        start = time.perf_counter()
        for i in range(RATE * (BEFORE_SECONDS + AFTER_SECONDS)):
            await asyncio.sleep(max(0.0, start + i / RATE - time.perf_counter()))
            if i == RATE * BEFORE_SECONDS:
                issuance.kill9()
                killed_at = time.perf_counter()
                issuance.start()  # at once, as a supervisor would
            message = gift_issue(client, f"RC{run}{i:06d}")
            await producer.send(INGEST_REQUESTS, json.dumps(message).encode(), key=TEST_MERCHANT.encode())
            sent[str(message["request_id"])] = time.perf_counter()
        await replies.wait(list(sent), 120)
    finally:
        issuance.stop()
        await replies.stop()
        await producer.stop()
    seen = sorted(replies.seen[r][0] for r in sent)
    longest_gap = max(b - a for a, b in itertools.pairwise(seen))
    worst_after_kill = max(replies.seen[r][0] - at for r, at in sent.items() if at > killed_at)
    return worst_after_kill, longest_gap


async def run(bootstrap: str, report: Report) -> None:
    for label, instance_id in (("static membership", "issuance-1"), ("dynamic membership", None)):
        worst, gap = await one_run(bootstrap, instance_id)
        report.add(f"kill -9 of issuance, restarted at once ({label}): worst reply wait", f"{worst:.2f} s")
        report.add(f"  longest time without a reply ({label})", f"{gap:.2f} s")
