"""Kafka and PostgreSQL in containers, for test runs whose environment names no servers (`make test-docker`).

The images come from ECTICKET_KAFKA_IMAGE and ECTICKET_POSTGRES_IMAGE: the official apache/kafka and postgres images
by default, or the stand-ins deploy/docker/build.sh makes where no registry is reachable (both are driven the same
way). The containers share the host's network and listen on free loopback ports only: Kafka then advertises the one
address that is right for the tests and for the broker itself, which a published port (known only after the start)
cannot give without rewriting the broker's configuration in the container.
"""

from __future__ import annotations

import os
import socket
from contextlib import ExitStack

from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import ExecWaitStrategy, LogMessageWaitStrategy

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:15"
POSTGRES_PASSWORD = "ecticket-test"
READY_SECONDS = 120


def start_servers(stack: ExitStack) -> tuple[str, str]:
    """Start both containers (stopped and removed when `stack` closes); their Kafka bootstrap and database URL."""
    kafka_port, controller_port, pg_port = _free_ports(3)
    stack.enter_context(_kafka(kafka_port, controller_port))
    stack.enter_context(_postgres(pg_port))
    return (
        f"127.0.0.1:{kafka_port}",
        f"postgresql://postgres:{POSTGRES_PASSWORD}@127.0.0.1:{pg_port}/ecticket",
    )


def _kafka(port: int, controller_port: int) -> DockerContainer:
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
    ready = LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(READY_SECONDS)
    return (
        DockerContainer(os.environ.get("ECTICKET_KAFKA_IMAGE", KAFKA_IMAGE))
        .with_envs(**settings)
        .with_kwargs(network_mode="host")
        .waiting_for(ready)
    )


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


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()
