"""Kafka and PostgreSQL in containers, for test runs whose environment names no servers (`make test-docker`).

The images come from ECTICKET_KAFKA_IMAGE and ECTICKET_POSTGRES_IMAGE: the official apache/kafka and postgres images
by default, or the stand-ins deploy/docker/build.sh makes where no registry is reachable (both are driven the same
way). The containers share the host's network and listen on free loopback ports only: Kafka then advertises the one
address that is right for the tests and for the broker itself, which a published port (known only after the start)
cannot give without rewriting the broker's configuration in the container.

With KAFKA_AUTH=scram (`make test-docker` sets it) the broker authenticates as docker-compose.yml's does: a password
per principal made here for this session, the storage formatted with them and the broker logged in as admin by
deploy/docker/kafka/scram-run (the compose file's entrypoint too), SASL/SCRAM-SHA-512 and the StandardAuthorizer.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import ExecWaitStrategy, LogMessageWaitStrategy

from shared.access import PRINCIPALS
from shared.infra.kafka_auth import auth_mode
from tests.support.ports import free_ports

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:15"
POSTGRES_PASSWORD = "ecticket-test"
READY_SECONDS = 120
SCRAM_RUN = Path(__file__).resolve().parents[2] / "deploy/docker/kafka/scram-run"


def start_servers(stack: ExitStack) -> dict[str, str]:
    """Start both containers (stopped and removed when `stack` closes); the environment that points clients at them:
    KAFKA_BOOTSTRAP, DATABASE_URL and, when the broker authenticates, KAFKA_CREDENTIALS_DIR."""
    kafka_port, controller_port, pg_port = free_ports(3)
    credentials = _credentials(stack) if auth_mode() == "scram" else None
    stack.enter_context(_kafka(kafka_port, controller_port, credentials))
    stack.enter_context(_postgres(pg_port))
    return {
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "DATABASE_URL": f"postgresql://postgres:{POSTGRES_PASSWORD}@127.0.0.1:{pg_port}/ecticket",
        **({"KAFKA_CREDENTIALS_DIR": str(credentials)} if credentials else {}),
    }


def _credentials(stack: ExitStack) -> Path:
    """A password per principal for this session's broker. The broker's user in its container (not this process's
    uid) reads them, so the folder and files are readable to all; their parent is this user's only (mode 0700), so
    nobody else on the host reaches them. Removed when the session ends, after the container."""
    parent = Path(tempfile.mkdtemp(prefix="ecticket-kafka-"))
    stack.callback(shutil.rmtree, parent, ignore_errors=True)
    folder = parent / "credentials"
    folder.mkdir()
    folder.chmod(0o755)
    for principal in PRINCIPALS:
        path = folder / principal
        path.write_text(secrets.token_hex(24) + "\n")
        path.chmod(0o444)
    return folder


def _kafka(port: int, controller_port: int, credentials: Path | None) -> DockerContainer:
    # docker-compose.yml's broker settings: KRaft, one node, RF 1 for every internal topic, topics made by the catalog.
    settings = {
        "CLUSTER_ID": "q1Sh-9_ISia_zwGINzRvyQ",
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@127.0.0.1:{controller_port}",
        "KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_DEFAULT_REPLICATION_FACTOR": "1",
        "KAFKA_MIN_INSYNC_REPLICAS": "1",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_NUM_PARTITIONS": "1",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_TRANSACTION_PARTITION_VERIFICATION_ENABLE": "false",
        "KAFKA_HEAP_OPTS": "-Xms256m -Xmx512m",
    }
    kwargs: dict[str, object] = {"network_mode": "host"}
    if credentials:
        # docker-compose.yml's authentication, on the one loopback listener (the controller's stays PLAINTEXT).
        settings |= {
            "KAFKA_LISTENERS": f"INTERNAL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://127.0.0.1:{port}",
            "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "KAFKA_SASL_ENABLED_MECHANISMS": "SCRAM-SHA-512",
            "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL": "SCRAM-SHA-512",
            "KAFKA_AUTHORIZER_CLASS_NAME": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "false",
            "KAFKA_SUPER_USERS": "User:admin;User:ANONYMOUS",
        }
        kwargs["entrypoint"] = ["bash", "/etc/ecticket/kafka-scram-run"]
    container = DockerContainer(os.environ.get("ECTICKET_KAFKA_IMAGE", KAFKA_IMAGE)).with_envs(**settings)
    if credentials:
        container = container.with_volume_mapping(credentials, "/etc/kafka/credentials", "ro")
        container = container.with_volume_mapping(SCRAM_RUN, "/etc/ecticket/kafka-scram-run", "ro")
    ready = LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(READY_SECONDS)
    return container.with_kwargs(**kwargs).waiting_for(ready)


def _postgres(port: int) -> DockerContainer:
    # Both images first start a server on the local socket alone (to create the database), so a TCP answer on the
    # port is the real server. fsync off: tests only, as `make test`'s PG_FAST=1.
    ready = ExecWaitStrategy(["pg_isready", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "ecticket"])
    command = ["postgres", "-c", "listen_addresses=127.0.0.1", "-c", f"port={port}", "-c", "max_connections=300"]
    command += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    return (
        DockerContainer(os.environ.get("ECTICKET_POSTGRES_IMAGE", POSTGRES_IMAGE))
        .with_envs(POSTGRES_USER="postgres", POSTGRES_PASSWORD=POSTGRES_PASSWORD, POSTGRES_DB="ecticket")
        .with_command(command)
        .with_kwargs(network_mode="host")
        .waiting_for(ready.with_startup_timeout(READY_SECONDS))
    )
