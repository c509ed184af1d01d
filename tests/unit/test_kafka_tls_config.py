"""What a Kafka client is given when the broker speaks TLS (KAFKA_TLS=1): the protocol, and a context that verifies
the broker against the instance's CA, host name included (shared/infra/kafka_auth.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest

from shared.infra.kafka_auth import faust_credentials, kafka_security, tls_context
from tests.support.tls import make_ca


@pytest.fixture
def tls_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    ca = make_ca(tmp_path, "unit test CA")
    monkeypatch.setenv("KAFKA_TLS", "1")
    monkeypatch.setenv("KAFKA_TLS_CA", str(ca))
    monkeypatch.setenv("KAFKA_CREDENTIALS_DIR", str(tmp_path))
    monkeypatch.setenv("KAFKA_PRINCIPAL", "issuance")
    monkeypatch.delenv("KAFKA_PASSWORD", raising=False)
    (tmp_path / "issuance").write_text("s3cret\n")
    return ca


def test_without_authentication_a_tls_broker_is_reached_over_ssl(
    tls_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_AUTH", "none")
    security = kafka_security()
    assert security == {"security_protocol": "SSL", "ssl_context": tls_context()}


def test_with_scram_a_tls_broker_is_reached_over_sasl_ssl(tls_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_AUTH", "scram")
    security = kafka_security()
    assert security["security_protocol"] == "SASL_SSL"
    assert (security["sasl_plain_username"], security["sasl_plain_password"]) == ("issuance", "s3cret")
    assert security["ssl_context"] is tls_context()


def test_the_context_trusts_the_instances_ca_and_checks_the_host_name(tls_env: Path) -> None:
    context = tls_context()
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert [ca["subject"] for ca in context.get_ca_certs()] == [((("commonName", "unit test CA"),),)]


def test_a_ca_file_that_is_not_there_is_named_not_ignored(tls_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_TLS_CA", str(tls_env.parent / "missing.crt"))
    with pytest.raises(FileNotFoundError, match=r"missing\.crt"):
        tls_context()


def test_the_ops_app_gets_the_same_tls_context(tls_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_AUTH", "scram")
    sasl = faust_credentials()
    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.protocol.value, sasl.username, sasl.ssl_context) == ("SASL_SSL", "issuance", tls_context())
    monkeypatch.setenv("KAFKA_AUTH", "none")
    plain = faust_credentials()
    assert isinstance(plain, faust.SSLCredentials)
    assert (plain.protocol.value, plain.context) == ("SSL", tls_context())


def test_a_broker_without_tls_gets_no_tls_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_TLS", "0")
    monkeypatch.setenv("KAFKA_AUTH", "none")
    assert kafka_security() == {}
    assert faust_credentials() is None
