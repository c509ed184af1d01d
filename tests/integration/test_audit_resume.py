"""`verify --checkpoint FILE`: a replay stopped part way (asked to stop, or killed outright) and run again with the
same file goes on from where it was saved and gives the very report one uninterrupted run gives; a checkpoint made
with other options is refused."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.bench.audit import publish
from deploy.bench.audit_history import SERVICES, generate
from shared import chain
from shared.infra.chain import Checkpointer
from shared.infra.kafka_auth import kafka_security
from shared.settings import Settings
from shared.topics import REDEMPTION_EVENTS
from tests.support.kafka_principals import as_admin
from tests.support.processes import ROOT

KEY = Ed25519PrivateKey.generate()


def verify(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.audit", "verify", "--quiet", *args]


def run(*args: str) -> int:
    return subprocess.run(
        verify(*args), cwd=ROOT, capture_output=True, timeout=300, check=False, env=as_admin()
    ).returncode


def report(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(path.read_text())
    return found


async def test_a_replay_stopped_or_killed_part_way_goes_on_from_its_checkpoint_to_the_same_report(
    infra: Settings, tmp_path: Path
) -> None:
    suffix, prefix = f".resume-{uuid.uuid4().hex[:8]}", f"resume_{uuid.uuid4().hex[:8]}_"
    history = generate(150, prefix)
    await publish(history, infra, suffix, Checkpointer(KEY, "test-key", every_events=400, every_seconds=60))
    await forge_first_redemption(infra, suffix, prefix)  # so the reports have findings to carry over a checkpoint
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"test-key": chain.public_hex(KEY)}))
    common = ["--topic-suffix", suffix, "--keys", str(keys), *[a for s in SERVICES for a in ("--chain", prefix + s)]]

    assert run(*common, "--json", str(tmp_path / "whole.json")) == 1
    whole = report(tmp_path / "whole.json")
    assert "chain.altered" in whole["finding_counts"] and whole["records"] > 1000

    # Asked to stop after 400 records, three times; the fourth run reads the rest.
    saved = [*common, "--checkpoint", str(tmp_path / "stopped.ckpt"), "--json", str(tmp_path / "stopped.json")]
    assert [run(*saved, "--stop-after", "400") for _ in range(3)] == [3, 3, 3]
    assert not (tmp_path / "stopped.json").exists()
    assert run(*saved) == 1
    assert report(tmp_path / "stopped.json") == whole

    # Killed outright (SIGKILL) while saving after every record; the rerun goes on from the last complete save.
    killed = [*common, "--checkpoint", str(tmp_path / "killed.ckpt"), "--json", str(tmp_path / "killed.json")]
    process = await asyncio.create_subprocess_exec(
        *verify(*killed, "--checkpoint-every", "0"), cwd=ROOT, env=as_admin()
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "killed.ckpt").exists() and process.returncode is None and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    process.kill()
    assert await process.wait() == -9, "the run ended before it could be killed part way"
    assert run(*killed) == 1
    assert report(tmp_path / "killed.json") == whole

    # The same file with other options would mix two audits: refused (exit 2), the file left as it was.
    before = (tmp_path / "stopped.ckpt").read_bytes()
    assert run(*common, "--chain-only", "--checkpoint", str(tmp_path / "stopped.ckpt")) == 2
    assert (tmp_path / "stopped.ckpt").read_bytes() == before


async def forge_first_redemption(infra: Settings, suffix: str, prefix: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, **kafka_security())
    await producer.start()
    try:
        claimed = chain.Link(prefix + "redemption", 1, chain.genesis(prefix + "redemption"), b"\x00" * 32)
        await producer.send_and_wait(REDEMPTION_EVENTS + suffix, b"{}", key=b"3000001/A0", headers=claimed.headers())
    finally:
        await producer.stop()
