"""The audit tool end to end: a generated history published through the real outbox relays onto Kafka (the test's
own copies of the topics), verified by `python -m services.audit verify` from Kafka and from an export; an export
edited after the fact, and a record forged into Kafka, are found."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.bench.audit import publish
from deploy.bench.audit_history import SERVICES, generate
from services.audit import export
from shared import chain
from shared.infra.chain import Checkpointer
from shared.infra.kafka_auth import kafka_security
from shared.settings import Settings
from shared.topics import REDEMPTION_EVENTS
from tests.support.kafka_principals import as_admin
from tests.support.processes import ROOT

KEY = Ed25519PrivateKey.generate()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.audit", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False, env=as_admin())  # fmt: skip


def audit(*args: str, keys: Path) -> tuple[int, dict[str, Any]]:
    """Run the CLI as an auditor would; its exit code and JSON report."""
    report = keys.parent / f"report-{uuid.uuid4().hex[:6]}.json"
    done = cli("verify", "--quiet", "--keys", str(keys), "--json", str(report), *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(report.read_text())


async def test_a_history_published_by_the_relays_verifies_from_kafka_and_from_its_export_and_forgeries_do_not(
    infra: Settings, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    suffix, prefix = f".audit-{run}", f"audit_{run}_"
    history = generate(150, prefix, merchants=6)
    await publish(history, infra, suffix, Checkpointer(KEY, "test-key", every_events=400, every_seconds=60))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"test-key": chain.public_hex(KEY)}))
    chains = [arg for service in SERVICES for arg in ("--chain", prefix + service)]

    code, report = audit("--topic-suffix", suffix, *chains, keys=keys)
    assert code == 0 and report["clean"], report["finding_counts"]
    assert report["records"] == sum(len(e) for e in history.events.values()) + report["checkpoints"]
    assert all(c["unsigned_tail"] == 0 for c in report["chain"].values())
    code_of_two, two = audit("--topic-suffix", suffix, *chains, "--workers", "2", keys=keys)
    assert [w["worker"] for w in two.pop("workers")] == [0, 1]  # each worker's own figures, then the same report
    assert (code_of_two, two) == (code, report)

    out = tmp_path / "export"
    assert cli("export", "--out", str(out), "--topic-suffix", suffix).returncode == 0
    code, report = audit("--export", str(out), *chains, keys=keys)
    assert code == 0 and report["clean"]

    # An auditor's copy edited after the export: the manifest no longer matches; with its hash forged, the chain.
    lines = (out / export.RECORDS).read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if b'"operator":"op"' in base64.b64decode(json.loads(line)["value"]))
    record = json.loads(lines[n])
    record["value"] = base64.b64encode(base64.b64decode(record["value"]).replace(b'"op"', b'"xx"')).decode()
    lines[n] = json.dumps(record, separators=(",", ":"))
    (out / export.RECORDS).write_text("\n".join(lines) + "\n")
    assert cli("verify", "--export", str(out), "--keys", str(keys), "--quiet").returncode == 2
    refused = cli("verify", "--export", str(out), "--keys", str(keys), "--quiet", "--workers", "2")
    assert refused.returncode == 2 and "worker" in refused.stderr and "manifest" in refused.stderr.lower()
    manifest = json.loads((out / export.MANIFEST).read_text())
    manifest["sha256"][export.RECORDS] = hashlib.sha256((out / export.RECORDS).read_bytes()).hexdigest()
    (out / export.MANIFEST).write_text(json.dumps(manifest))
    code, report = audit("--export", str(out), *chains, keys=keys)
    where = f"{record['topic']}[{record['partition']}]@{record['offset']}"
    assert code == 1 and {"check": "chain", "kind": "altered", "where": where}.items() <= report["findings"][0].items()

    # A record forged straight into Kafka, claiming the first place of the redemption chain.
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, **kafka_security())
    await producer.start()
    try:
        claimed = chain.Link(prefix + "redemption", 1, chain.genesis(prefix + "redemption"), b"\x00" * 32)
        await producer.send_and_wait(REDEMPTION_EVENTS + suffix, b"{}", key=b"3000001/A0", headers=claimed.headers())
    finally:
        await producer.stop()
    code, report = audit("--topic-suffix", suffix, *chains, keys=keys)
    assert code == 1 and "chain.altered" in report["finding_counts"]
    in_workers = audit("--topic-suffix", suffix, *chains, "--workers", "2", keys=keys)
    assert (in_workers[0], in_workers[1]["finding_counts"]) == (code, report["finding_counts"])
