"""The service instances a chaos run may kill, pause and start again.

Two implementations: `LocalScripts`, the processes `deploy/local/services.sh` started (pid files under
.run/<INFRA_NAME>/pids/, restarted by `services.sh start`, which starts only what is down), and the test suite's
own child processes (tests/integration/test_zz_chaos.py). Only platform services are targets: the simulators
stand for outside systems, whose faults are not what this run is about.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Protocol

from deploy.bench.common import ROOT
from shared.platform import PLATFORM_SERVICES


class Instances(Protocol):
    def names(self) -> list[str]: ...

    def pid(self, name: str) -> int: ...

    def kill9(self, name: str) -> None: ...

    async def start(self, name: str) -> None:
        """Start the (dead) instance again and wait until it is ready."""
        ...


class LocalScripts:
    """Every instance services.sh runs for INFRA_NAME (ECTICKET_INSTANCES of each, names `svc` and `svc-2`...)."""

    def __init__(self, infra_name: str) -> None:
        self.infra_name = infra_name
        self.pids_dir = ROOT / ".run" / infra_name / "pids"

    def names(self) -> list[str]:
        found = [p.stem for p in self.pids_dir.glob("*.pid")]
        return sorted(n for n in found if n.rsplit("-", 1)[0] in PLATFORM_SERVICES)

    def pid(self, name: str) -> int:
        return int((self.pids_dir / f"{name}.pid").read_text())

    def kill9(self, name: str) -> None:
        pid = self.pid(name)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        _reap(pid)

    async def start(self, name: str) -> None:
        env = {**os.environ, "INFRA_NAME": self.infra_name}
        process = await asyncio.create_subprocess_exec(
            "bash", str(ROOT / "deploy/local/services.sh"), "start", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"services.sh start failed after killing {name}:\n{output.decode()[-2000:]}")


def _reap(pid: int) -> None:
    """Wait until the killed process is gone (it is not our child: poll /proc)."""
    stat = Path(f"/proc/{pid}/stat")
    for _ in range(100):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return
        except OSError:
            return
        time.sleep(0.05)
