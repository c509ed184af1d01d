"""CPU profiles of the services while a benchmark runs (`make profile`): one py-spy flame graph per process.

py-spy samples a running process from outside (no code change, no restart), PROFILE_RATE times a second (default 20:
at 100 the twelve recorders took so much of the two cores that the profiled burst ran at a fifth of its speed);
`--subprocesses` includes each service's relay process. The graphs go to PROFILE_DIR (default .profile/, ignored by
git), one SVG per service, named after it, and beside each the same samples as text (`<service>.raw.txt`, py-spy's
collapsed stacks), which deploy/bench/cpu_budget.py sorts into kinds of work. Two recorders per service: py-spy writes
one format per recording.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

RATE = os.environ.get("PROFILE_RATE", "20")


class Profiles:
    def __init__(self, folder: Path, pids: dict[str, int]) -> None:
        self.folder = folder
        self.pids = pids
        self._recorders: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        spy = shutil.which("py-spy") or str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "py-spy")
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            for form, output in (("flamegraph", f"{name}.svg"), ("raw", f"{name}.raw.txt")):
                command = [spy, "record", "--pid", str(pid), "--subprocesses", "--rate", RATE, "--nonblocking",
                           "--format", form, "--output", str(self.folder / output)]  # fmt: skip
                self._recorders.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> list[Path]:
        """Stop recording (py-spy writes its graph on SIGINT) and return the graphs written."""
        for recorder in self._recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in self._recorders:
            recorder.wait(timeout=60)
        self._recorders.clear()
        return sorted(self.folder.glob("*.svg"))
