"""Service processes for tests: started, killed (-9) and restarted like in production, never in-process fakes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServiceProcess:
    module: str  # e.g. "issuance" -> python -m services.issuance
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    main: str = ""  # what `python -m` runs when it is not services.<module> (a simulator of an outside system)

    @property
    def ready_file(self) -> Path:
        return self.workdir / f"{self.module}.ready"

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.module}.log"

    async def start(self, extra_env: dict[str, str] | None = None, wait: bool = True) -> None:
        self.ready_file.unlink(missing_ok=True)
        env = {**os.environ, **self.env, **(extra_env or {}), "ECTICKET_READY_FILE": str(self.ready_file)}
        command = [sys.executable, "-m", self.main or f"services.{self.module}"]
        with self.log_file.open("ab") as log:
            # Spawning is quick; the process then runs independently of the event loop.
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: ASYNC220
        self.starts += 1
        if wait:
            await self.wait_ready()

    async def wait_ready(self, seconds: float = 60) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.ready_file.exists():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited ({self.process.returncode}):\n{self.tail()}")
            if loop.time() > deadline:
                raise TimeoutError(f"{self.module} not ready after {seconds}s:\n{self.tail()}")
            await asyncio.sleep(0.05)

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        for _ in range(200):
            if self.process.poll() is not None:
                return
            await asyncio.sleep(0.05)
        self.kill9()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Platform:
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    async def start_all(self) -> None:
        for svc in self.services.values():
            await svc.start(wait=False)
        for svc in self.services.values():
            await svc.wait_ready()

    async def stop_all(self) -> None:
        for svc in self.services.values():
            await svc.stop()


async def run_module(module: str, *args: str) -> tuple[int, str]:
    """`python -m <module> <args>` as an operator runs it: its exit status and its output (stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()
