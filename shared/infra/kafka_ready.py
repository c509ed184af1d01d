"""A service starting beside a broker that is not answering yet waits for it, for a while, instead of exiting.

A broker that was just restarted, or that starts with the service (compose, a host reboot), refuses connections
for seconds, and can refuse the handshake too until it has loaded its metadata. A service that exits on the first
refusal leaves its supervisor to restart it in a loop, each time re-reading its migrations and views; one that waits
says what it waits for, once per attempt, and goes on when the broker answers. It gives up after
ECTICKET_KAFKA_START_WAIT_SECONDS (default 60): a broker that refuses the service's password for a minute is
misconfigured, and the process exits with the broker's refusal as its cause (docs/operations.md).

`merchant-connect` and `merchant-disconnect` wait the same way for a merchant's new or retired password, which the
broker applies a moment after accepting it (shared/admin/merchant_access.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from shared.infra.kafka_auth import current_principal, kafka_security

log = logging.getLogger(__name__)

DEFAULT_WAIT_SECONDS = 60.0
FIRST_PAUSE_SECONDS = 0.5
LONGEST_PAUSE_SECONDS = 5.0


class KafkaNotReady(RuntimeError):
    pass


def start_wait_seconds() -> float:
    return float(os.environ.get("ECTICKET_KAFKA_START_WAIT_SECONDS", DEFAULT_WAIT_SECONDS))


async def wait_for_kafka(
    bootstrap: str,
    seconds: float | None = None,
    *,
    principal: str | None = None,
    password: str | None = None,
    sees: Sequence[str] = (),
    attempts_logged_at: int = logging.WARNING,
) -> int:
    """Returns once the broker accepts a connection as `principal` (default: this process's; `password`: one handed
    over, as kafka_security takes it) and shows it the topics `sees` (a grant on a topic lets its principal see it);
    how many attempts it took."""
    budget = start_wait_seconds() if seconds is None else seconds
    who = principal or current_principal()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    pause = FIRST_PAUSE_SECONDS
    attempt = 0
    while True:
        attempt += 1
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="ecticket-start", **kafka_security(principal, password)
        )
        refusal: Exception
        try:
            await admin.start()
            hidden = await _hidden(admin, sees)
            if not hidden:
                return attempt
            refusal = KafkaNotReady(f"topics not visible to it: {hidden}")
        except KafkaConnectionError as exc:
            # aiokafka logged the broker's own reason just before (refused, or the SASL handshake refused).
            refusal = exc
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        if loop.time() + pause > deadline:
            raise KafkaNotReady(
                f"Kafka at {bootstrap} did not accept principal {who!r} within {budget:.0f} s "
                f"({attempt} attempts): {refusal}"
            ) from refusal
        log.log(
            attempts_logged_at,
            "Kafka at %s does not accept principal %r yet (attempt %d): %s; trying again in %.1f s",
            bootstrap, who, attempt, refusal, pause,
        )  # fmt: skip
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)


async def _hidden(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> list[str]:
    if not topics:
        return []
    return sorted(d["topic"] for d in await admin.describe_topics(list(topics)) if d["error_code"])


def main() -> None:
    """`python -m shared.infra.kafka_ready BOOTSTRAP [SECONDS]`: exit 0 once the broker accepts this environment's
    principal (KAFKA_PRINCIPAL, KAFKA_AUTH, ...), 1 with the broker's refusal when it has not within SECONDS (default
    ECTICKET_KAFKA_START_WAIT_SECONDS). deploy/local/infra.sh checks a broker it started with it."""
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python -m shared.infra.kafka_ready BOOTSTRAP [SECONDS]")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    bootstrap, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) == 3 else None
    try:
        attempts = asyncio.run(wait_for_kafka(bootstrap, seconds))
    except KafkaNotReady as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    print(f"Kafka at {bootstrap} accepted principal {current_principal()!r} (attempt {attempts})")


if __name__ == "__main__":
    main()
