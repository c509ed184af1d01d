"""The outbox relay's child process loads no event model: it publishes bytes the service wrote, and the models (every
event type, registered by importing shared.contracts) were 10 MB of each relay's resident memory (issue 17's
150 MB per service, its relay included)."""

from __future__ import annotations

import subprocess
import sys


def test_the_relay_process_imports_no_event_contract_and_no_pydantic() -> None:
    probe = (
        "import sys, shared.infra.relay_process; "
        "print(sorted(m for m in sys.modules if m.startswith('shared.contracts') or m == 'pydantic'))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_the_relay_process_imports_no_metrics_client() -> None:
    """It serves no metrics (it logs what it reroutes), and prometheus_client was 3.5 MB of its memory."""
    probe = "import sys, shared.infra.relay_process; print('prometheus_client' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"
