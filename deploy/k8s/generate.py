"""The Kubernetes manifests, generated from one table of the platform's processes (`python -m deploy.k8s.generate`).

Every service is the same shape, so the manifests are written from `PROCESSES` rather than copied by hand; the
committed files under deploy/k8s/base are this script's output, and `--check` (run by `make lint`) fails when they
differ. Each service is a StatefulSet: its pods' names are stable (`issuance-0`, `issuance-1`, ...), and that name
is the instance's ECTICKET_INSTANCE_ID, its static membership in the consumer group (a restarted pod takes its
partitions back without a group-wide rebalance). Resources are sized from `make bench` (docs/scaling.md).

The broker authenticates (KAFKA_AUTH=scram, docs/security.md): each process is its own principal and gets its own
password only, one key of the Secret `ecticket-kafka-credentials` (a key per principal, made beforehand like
`ecticket-secrets`: docs/scaling.md "Kubernetes").
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no stubs; only safe_dump is used

BASE = Path(__file__).parent / "base"
NAMESPACE = "ecticket"
IMAGE = "ecticket-platform:latest"  # built from deploy/docker/Dockerfile
METRICS_PORT = 9400
READY_FILE = "/tmp/ecticket-ready"
KAFKA_CREDENTIALS_SECRET = "ecticket-kafka-credentials"
ADMIN = "admin"  # the broker's super user: the setup job (topics, ACLs, quotas)


@dataclass(frozen=True)
class Process:
    name: str  # the Kubernetes name (DNS label)
    module: str  # what `python -m` runs
    http_port: int | None = None  # a port served to others besides /metrics (the gateway, the ops dashboard)
    http_env: tuple[str, str] | None = None  # (host variable, port variable) that make it listen there
    memory_mi: int = 192  # request; the limit is twice that

    @property
    def principal(self) -> str:
        """Its Kafka principal: the service's schema name (shared/access.py), which is its name with underscores."""
        return self.name.replace("-", "_")


PROCESSES = (
    Process("payment-confirmation", "services.payment_confirmation"),
    Process("issuance", "services.issuance"),
    Process("redemption", "services.redemption", memory_mi=256),  # expiry floods hold batches of tickets
    Process("escrow-settlement", "services.escrow_settlement"),
    Process("query", "services.query"),
    Process("notification", "services.notification"),
    Process("gateway", "services.gateway", http_port=8080, http_env=("GATEWAY_HOST", "GATEWAY_PORT")),
    Process("ops", "services.ops", http_port=6066, http_env=("OPS_WEB_HOST", "OPS_WEB_PORT")),
)


def labels(p: Process) -> dict[str, str]:
    return {"app.kubernetes.io/name": p.name, "app.kubernetes.io/part-of": "ecticket"}


def kafka_identity(principal: str) -> list[dict[str, Any]]:
    """Who the process is to the broker, and its password from its own key of the credentials Secret (not envFrom:
    a container gets its own key only, never the other principals')."""
    return [
        {"name": "KAFKA_PRINCIPAL", "value": principal},
        {
            "name": "KAFKA_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": KAFKA_CREDENTIALS_SECRET, "key": principal}},
        },
    ]


def container(p: Process) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        *kafka_identity(p.principal),
        # The pod's own name (issuance-0, ...): stable across restarts, unique in the group.
        {"name": "ECTICKET_INSTANCE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "ECTICKET_READY_FILE", "value": READY_FILE},
        {"name": "METRICS_PORT", "value": str(METRICS_PORT)},
    ]
    ports = [{"name": "metrics", "containerPort": METRICS_PORT}]
    if p.http_port and p.http_env:
        env += [{"name": p.http_env[0], "value": "0.0.0.0"}, {"name": p.http_env[1], "value": str(p.http_port)}]
        ports.append({"name": "http", "containerPort": p.http_port})
    return {
        "name": p.name,
        "image": IMAGE,
        "command": ["python", "-m", p.module],
        # Settings (Kafka, the processor's URL) from the ConfigMap; DATABASE_URL and the keys from the Secret.
        "envFrom": [{"configMapRef": {"name": "ecticket-config"}}, {"secretRef": {"name": "ecticket-secrets"}}],
        "env": env,
        "ports": ports,
        # Ready once its consumer has partitions (or its server listens): the file the process touches.
        "readinessProbe": {"exec": {"command": ["test", "-f", READY_FILE]}, "periodSeconds": 3, "failureThreshold": 2},
        "livenessProbe": {
            "httpGet": {"path": "/metrics", "port": "metrics"},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
            "failureThreshold": 6,
        },
        "resources": {
            "requests": {"cpu": "250m", "memory": f"{p.memory_mi}Mi"},
            "limits": {"memory": f"{2 * p.memory_mi}Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def stateful_set(p: Process) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": p.name, "namespace": NAMESPACE, "labels": labels(p)},
        "spec": {
            "serviceName": p.name,
            "replicas": 1,
            # Instances are independent (the consumer group shares the work): start and replace them in parallel.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels(p)},
            "template": {
                "metadata": {"labels": labels(p)},
                "spec": {
                    # A stopping service finishes its batch and commits (SIGTERM); 30 s is ample.
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container(p)],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def service(p: Process) -> dict[str, Any]:
    """The headless service a StatefulSet needs, plus the served port for the gateway and the dashboard."""
    ports = [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"}]
    if p.http_port:
        ports.append({"name": "http", "port": p.http_port, "targetPort": "http"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": p.name, "namespace": NAMESPACE, "labels": labels(p)},
        "spec": {"clusterIP": "None", "selector": labels(p), "ports": ports},
    }


def config_map() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ecticket-config", "namespace": NAMESPACE},
        "data": {
            "KAFKA_BOOTSTRAP": "kafka-0.kafka:9092,kafka-1.kafka:9092,kafka-2.kafka:9092",
            # SASL/SCRAM-SHA-512 with ACLs (docs/security.md); each process's principal and password are its own.
            "KAFKA_AUTH": "scram",
            "PROCESSOR_URL": "https://payment.ecpay.com.tw",
            "BUSINESS_DAY_CUTOFF": "00:00",
        },
    }


def setup_job() -> dict[str, Any]:
    """Topics (partitions, retention, compaction) from shared/topics.py, the ACLs of shared/access.py and the quotas,
    as admin; each service migrates its own schema when it starts. Safe to run again: existing topics are left as
    they are, grants are added once."""
    job_container = {
        "name": "setup",
        "image": IMAGE,
        "command": ["python", "-m", "shared.setup"],
        "envFrom": [{"configMapRef": {"name": "ecticket-config"}}, {"secretRef": {"name": "ecticket-secrets"}}],
        "env": kafka_identity(ADMIN),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "ecticket-setup", "namespace": NAMESPACE},
        "spec": {
            "backoffLimit": 10,
            "template": {"spec": {"restartPolicy": "OnFailure", "containers": [job_container]}},
        },
    }


def namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


def files() -> dict[str, str]:
    """File name -> content, for deploy/k8s/base."""
    out = {
        "namespace.yaml": _yaml(namespace()),
        "config.yaml": _yaml(config_map()),
        "setup-job.yaml": _yaml(setup_job()),
    }
    for p in PROCESSES:
        out[f"{p.name}.yaml"] = _yaml(stateful_set(p)) + "---\n" + _yaml(service(p))
    resources = "\n".join(f"  - {name}" for name in out)
    out["kustomization.yaml"] = (
        "# Generated by `python -m deploy.k8s.generate`: edit the script, not this file.\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n" + resources + "\n"
    )
    return out


def _yaml(resource: dict[str, Any]) -> str:
    header = "# Generated by `python -m deploy.k8s.generate`: edit the script, not this file.\n"
    return header + str(yaml.safe_dump(resource, sort_keys=False, width=120))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed manifests are not up to date")
    args = parser.parse_args()
    wanted = files()
    if args.check:
        stale = sorted(n for n, text in wanted.items() if not (BASE / n).exists() or (BASE / n).read_text() != text)
        extra = sorted(p.name for p in BASE.glob("*.yaml") if p.name not in wanted)
        if stale or extra:
            print(f"deploy/k8s/base is stale ({', '.join(stale + extra)}): run python -m deploy.k8s.generate")
            return 1
        return 0
    BASE.mkdir(exist_ok=True)
    for name, text in wanted.items():
        (BASE / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
