"""`verify --workers 2` as processes (services/audit/workers.py forks them): a worker killed with -9 stops the run with
its reason and exit code 2, never a clean report; and workers whose parent was killed with -9 end by themselves
instead of waiting for it forever. The log is an export, so no broker is needed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path

import pytest

from deploy.bench.audit_history import generate
from services.audit import export
from services.audit.domain.records import Record
from shared import chain
from tests.support.processes import ROOT
from tests.unit.test_audit_verify import KEY, records_of

pytestmark = pytest.mark.unit

ORDERS = 2000  # a worker needs a second or more to replay them: long enough to be caught at work


@cache
def history() -> tuple[Record, ...]:
    return records_of(generate(ORDERS, merchants=12))


def exported(folder: Path) -> tuple[Path, Path]:
    """An export of the history and the public key file that verifies it."""

    async def streamed() -> AsyncIterator[Record]:
        for record in history():
            yield record

    asyncio.run(export.write(streamed(), folder / "export"))
    keys = folder / "keys.json"
    keys.write_text(json.dumps({"k1": chain.public_hex(KEY)}))
    return folder / "export", keys


def started(tmp_path: Path) -> subprocess.Popen[str]:
    log, keys = exported(tmp_path)
    command = [sys.executable, "-m", "services.audit", "verify", "--quiet", "--export", str(log), "--keys", str(keys),
               "--workers", "2"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def children(pid: int, count: int, seconds: float = 30) -> list[int]:
    """The process's first `count` child processes, as soon as they exist."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
        if len(found) >= count:
            return found
        time.sleep(0.01)
    raise TimeoutError(f"process {pid} started fewer than {count} children in {seconds} s")


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its (new) parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_worker_killed_mid_replay_ends_the_run_with_exit_2_and_its_reason(tmp_path: Path) -> None:
    verify = started(tmp_path)
    killed, other = children(verify.pid, 2)
    os.kill(killed, signal.SIGKILL)
    out, err = verify.communicate(timeout=120)
    assert verify.returncode == 2, (out, err)
    assert re.search(r"audit: cannot verify: audit-worker-[01] ended without a report \(exit code -9\)", err), err
    assert "clean" not in out.lower()  # no report at all, not a partial one
    deadline = time.monotonic() + 10
    while running(other) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(other), "the other worker outlived the run"


def test_workers_whose_parent_was_killed_end_by_themselves(tmp_path: Path) -> None:
    with started(tmp_path) as verify:
        workers = children(verify.pid, 2)
        verify.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 60
    while any(running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(w) for w in workers), "a worker waits forever for its dead parent"
