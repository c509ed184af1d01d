"""`make compose-check`'s proof that the compose broker authenticates and authorises, from the host (KAFKA_BOOTSTRAP,
KAFKA_AUTH=scram): a client without credentials and one with a wrong password cannot connect; a service principal
(its password on stdin) connects, and is refused a write its ACLs do not grant. Exit 0 when all three hold.

    docker compose exec -T kafka cat /etc/kafka/credentials/notification | python deploy/docker/kafka_refusals.py notification
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from shared.access import ACCESS
from shared.infra.kafka_auth import kafka_security
from shared.topics import PAYMENT_EVENTS


async def refused_connection(bootstrap: str, security: dict[str, object]) -> bool:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **security)
    try:
        await producer.start()
    except KafkaConnectionError:
        return True
    finally:
        await producer.stop()
    return False


async def refused_write(bootstrap: str, principal: str, password: str, topic: str) -> bool:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **kafka_security(principal, password))
    await producer.start()  # connecting must work: the refusal below is then the ACLs, not the credentials
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b'{"forged": true}', key=b"compose-check"), 20)
    except TopicAuthorizationFailedError:
        return True
    finally:
        await producer.stop()
    return False


async def main(principal: str, password: str) -> int:
    bootstrap = os.environ["KAFKA_BOOTSTRAP"]
    assert PAYMENT_EVENTS not in ACCESS[principal].writes, f"{principal} may write {PAYMENT_EVENTS}: choose another"
    wrong = {**kafka_security(principal, password), "sasl_plain_password": "not-the-password"}
    checks = {
        "no credentials: connection refused": await refused_connection(bootstrap, {}),
        "wrong password: connection refused": await refused_connection(bootstrap, wrong),
        f"{principal}: connected, write to {PAYMENT_EVENTS} refused": await refused_write(
            bootstrap, principal, password, PAYMENT_EVENTS
        ),
    }
    for check, held in checks.items():
        print(f"{'ok  ' if held else 'FAIL'} {check}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.stdin.read().strip())))
