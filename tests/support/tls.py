"""A CA certificate made on the spot (so tests need no openssl binary): a trust anchor that never signed anything the
broker presents (tests/integration/test_kafka_tls.py), or one for a unit test's client context."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_ca(folder: Path, common_name: str = "Some other CA") -> Path:
    """Writes a self-signed CA certificate (EC P-256, valid a day) into `folder` and returns its path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{common_name.replace(' ', '-').lower()}.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path
