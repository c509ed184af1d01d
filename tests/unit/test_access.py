"""The access table (shared/access.py) agrees with what it is made from: the topic catalog, the event registry, the
services' own names and groups, and the credentials deploy/local/infra.sh generates."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs; only safe_load is used

import shared.contracts  # noqa: F401 (registers every event type)
from deploy.k8s.generate import PROCESSES, stateful_set
from shared.access import ACCESS, AUDITOR, OPS, PRINCIPALS, RUNTIME_WRITES, UngrantedTopics, require_reads
from shared.contracts.events import REGISTRY
from shared.infra.acls import GROUP, LITERAL, PREFIXED, READ, TOPIC, WRITE, Binding, platform_bindings, sender_bindings
from shared.infra.kafka_auth import MissingCredentials, kafka_security
from shared.platform import PLATFORM_SERVICES, SIMULATED_SYSTEMS
from shared.topics import (
    CATALOG,
    INGEST_REPLIES,
    INGEST_REQUESTS,
    ISSUANCE_EVENTS,
    PAYMENT_EVENTS,
    REDEMPTION_EVENTS,
    SETTLEMENT_EVENTS,
    SETTLEMENT_INSTRUCTIONS,
    is_ingestion,
)

ROOT = Path(__file__).resolve().parents[2]
SPECS = {
    **{s: f"services.{s}.app" for s in PLATFORM_SERVICES},
    "payment_processor": "deploy.simulators.processor.app",
    "escrow_bank": "deploy.simulators.bank.app",
}
READ_ONLY = (OPS, AUDITOR)
CONFIGURATION = {t.name for t in CATALOG if t.compacted}  # written by the admin tools only


def writers_of(topic: str) -> set[str]:
    return {p for p, access in ACCESS.items() if topic in access.writes}


def test_infra_sh_makes_a_credential_for_every_principal_and_no_other() -> None:
    script = (ROOT / "deploy/local/infra.sh").read_text()
    listed = re.search(r"KAFKA_PRINCIPALS=\(([^)]*)\)", script)
    assert listed is not None
    assert listed.group(1).split() == list(PRINCIPALS)


def test_docker_compose_makes_a_credential_for_every_principal_and_gives_each_container_its_own_only() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    job = services["credentials"]
    assert job["command"] == list(PRINCIPALS)  # the broker is formatted with one SCRAM credential per password
    volume_of = {m.split(":")[1].removeprefix("/credentials/"): m.split(":")[0] for m in job["volumes"][1:]}
    principal_of = {
        **{f"services.{s}": s for s in PLATFORM_SERVICES},
        "services.ops": OPS,
        "deploy.simulators.processor": "payment_processor",
        "deploy.simulators.bank": "escrow_bank",
        "shared.setup": "admin",
    }
    containers = {n: s for n, s in services.items() if s.get("command", [None])[0] == "python"}
    assert set(principal_of) == {s["command"][2] for s in containers.values()}  # every platform process runs here
    for name, service in containers.items():
        principal = principal_of[service["command"][2]]
        assert service["environment"]["KAFKA_PRINCIPAL"] == principal, name
        assert service["environment"]["KAFKA_AUTH"] == "scram", name
        # One credentials volume mounted, the one the job gave this principal's password alone.
        mounts = [v for v in service["volumes"] if ":/run/kafka-credentials" in v]
        assert [m.split(":")[0] for m in mounts] == [volume_of[principal]], name
        assert volume_of[principal] not in {m.split(":")[0] for m in services["kafka"]["volumes"]}


def test_each_kubernetes_process_authenticates_as_its_own_principal_with_its_own_secret_key() -> None:
    for process in PROCESSES:
        assert process.principal in PRINCIPALS, process.name
        env = {e["name"]: e for e in stateful_set(process)["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["KAFKA_PRINCIPAL"]["value"] == process.principal
        assert env["KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == process.principal


@pytest.mark.parametrize("principal", [*PLATFORM_SERVICES, *SIMULATED_SYSTEMS])
def test_every_service_is_a_principal_whose_group_is_the_one_it_joins(principal: str) -> None:
    spec = importlib.import_module(SPECS[principal]).SPEC
    assert spec.schema == principal  # shared/infra/service.py adopts the schema as the principal
    assert ACCESS[principal].groups <= {spec.name}


def test_every_event_type_is_written_by_a_service_and_never_by_the_read_only_principals() -> None:
    for model in REGISTRY.values():
        assert writers_of(model.topic) - set(READ_ONLY), model.event_type


def test_each_domain_event_topic_has_exactly_one_writer() -> None:
    owners = {
        PAYMENT_EVENTS: {"payment_confirmation"},
        ISSUANCE_EVENTS: {"issuance"},
        REDEMPTION_EVENTS: {"redemption"},
        SETTLEMENT_EVENTS: {"escrow_settlement"},
        # settlement instructs, the bank answers on the same conversation
        SETTLEMENT_INSTRUCTIONS: {"escrow_settlement", "escrow_bank"},
    }
    assert {topic: writers_of(topic) for topic in owners} == owners


def test_only_the_admin_tools_write_the_configuration() -> None:
    assert {topic: writers_of(topic) for topic in CONFIGURATION} == {topic: set() for topic in CONFIGURATION}


def test_everything_read_is_written_by_someone() -> None:
    for principal, access in ACCESS.items():
        for topic in access.reads:
            assert writers_of(topic) or is_ingestion(topic) or topic in CONFIGURATION, (principal, topic)


def test_the_ops_app_and_the_auditor_publish_nothing_of_the_platform() -> None:
    assert ACCESS[OPS].writes == RUNTIME_WRITES  # its dead letters and its chain's checkpoints, like every service
    assert ACCESS[AUDITOR].writes == frozenset()
    assert ACCESS[AUDITOR].groups == frozenset()


def test_the_grants_name_each_topic_and_group_exactly() -> None:
    catalog = {t.name for t in CATALOG}
    for row in platform_bindings():
        assert "*" not in row.resource_name
        if row.pattern == PREFIXED and row.resource_name in (f"{INGEST_REQUESTS}.", f"{INGEST_REPLIES}."):
            # every sender's own topics: read its requests, write its replies
            assert row.operation == (READ if row.resource_name.startswith(INGEST_REQUESTS) else WRITE)
            assert not any(name.startswith(row.resource_name) for name in catalog)
        elif row.pattern == PREFIXED:  # the ops app's own tables only, matching no catalog topic
            assert row.principal == f"User:{OPS}"
            assert not any(name.startswith(row.resource_name) for name in catalog)


def test_the_services_that_answer_requests_read_every_senders_requests_and_write_its_replies_and_nobody_else() -> None:
    def holders(name: str, operation: int) -> set[str]:
        return {row.principal for row in platform_bindings() if (row.resource_name, row.operation) == (name, operation)}

    readers = holders(f"{INGEST_REQUESTS}.", READ)
    assert readers == {f"User:{p}" for p, access in ACCESS.items() if INGEST_REQUESTS in access.reads}
    assert readers == {"User:issuance", "User:redemption", "User:query"}
    assert holders(f"{INGEST_REPLIES}.", WRITE) == readers
    # The gateway reads the shared reply topic (its own requests' answers), not any sender's.
    assert holders(f"{INGEST_REPLIES}.", READ) == set()


def test_a_sender_may_write_its_own_request_topic_read_its_own_reply_topic_and_commit_in_its_own_groups_only() -> None:
    assert sender_bindings("2000132") == sorted(
        [
            Binding(TOPIC, f"{INGEST_REQUESTS}.2000132", LITERAL, "User:merchant-2000132", WRITE),
            Binding(TOPIC, f"{INGEST_REPLIES}.2000132", LITERAL, "User:merchant-2000132", READ),
            # The trailing dot: merchant-200013's groups are not merchant-2000132's.
            Binding(GROUP, "merchant-2000132.", PREFIXED, "User:merchant-2000132", READ),
        ]
    )


def test_a_service_that_consumes_an_ungranted_topic_does_not_start() -> None:
    require_reads("issuance", {PAYMENT_EVENTS})
    require_reads("admin", {SETTLEMENT_EVENTS})
    with pytest.raises(UngrantedTopics, match="settlement"):
        require_reads("issuance", {PAYMENT_EVENTS, SETTLEMENT_EVENTS})


def test_clients_authenticate_only_when_the_broker_does(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KAFKA_PASSWORD", raising=False)
    monkeypatch.delenv("KAFKA_TLS", raising=False)  # TLS on top: tests/unit/test_kafka_tls_config.py
    monkeypatch.setenv("KAFKA_AUTH", "none")
    assert kafka_security("issuance") == {}
    monkeypatch.setenv("KAFKA_AUTH", "scram")
    monkeypatch.setenv("KAFKA_CREDENTIALS_DIR", str(tmp_path))
    (tmp_path / "issuance").write_text("s3cret\n")
    monkeypatch.setenv("KAFKA_PRINCIPAL", "issuance")
    assert kafka_security() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "issuance",
        "sasl_plain_password": "s3cret",
    }
    with pytest.raises(MissingCredentials, match="'redemption'"):
        kafka_security("redemption")
    monkeypatch.setenv("KAFKA_PASSWORD", "injected")  # a deployment's secret for the process's own principal
    assert kafka_security()["sasl_plain_password"] == "injected"
