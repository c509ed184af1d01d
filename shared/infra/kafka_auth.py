"""How every Kafka client of the platform authenticates: one function returns the security keyword arguments.

KAFKA_AUTH (written by deploy/local/infra.sh into the instance's env file) says whether the broker authenticates:
`none` (a PLAINTEXT listener, anyone who reaches it is anyone) or `scram` (SASL/SCRAM-SHA-512, and ACLs decide what
each principal may do: shared/access.py, docs/security.md "Kafka principals and ACLs").

The principal is the process's: KAFKA_PRINCIPAL, which a service sets to its own name when it starts
(shared/infra/service.py), the ops app to `ops` and the audit CLI to `auditor`. Everything else (the set-up, the
admin CLI, tests and benchmarks) acts as `admin`, the broker's super user.

The password comes from KAFKA_PASSWORD (a deployment injects the process's own secret), else from the file named
after the principal in KAFKA_CREDENTIALS_DIR (infra.sh generates one per principal under .run/<name>/, never in the
repo). Passwords are never logged: they leave this module only inside the client's keyword arguments.

KAFKA_TLS=1 (in the env file of an instance started with it) says the listener speaks TLS: SSL, or SASL_SSL. Clients
verify the broker's certificate, hostname included, against KAFKA_TLS_CA (the instance's local CA; a deployment
with a publicly trusted broker certificate leaves it empty and the system's trust store is used).
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context

ADMIN = "admin"
MECHANISM = "SCRAM-SHA-512"


class MissingCredentials(RuntimeError):
    """KAFKA_AUTH=scram but no password for the principal: say which, never guess one."""


def auth_mode() -> str:
    """KAFKA_AUTH: `scram` or `none` (the default, so a shell without an instance's env file still works)."""
    mode = os.environ.get("KAFKA_AUTH", "none").strip().lower() or "none"
    if mode not in ("none", "scram"):
        raise ValueError(f"KAFKA_AUTH must be scram or none, not {mode!r}")
    return mode


def tls_enabled() -> bool:
    """KAFKA_TLS: `1` when the broker's listener speaks TLS (default `0`)."""
    flag = os.environ.get("KAFKA_TLS", "0").strip().lower() or "0"
    if flag not in ("0", "1", "true", "false", "yes", "no"):
        raise ValueError(f"KAFKA_TLS must be 0 or 1, not {flag!r}")
    return flag in ("1", "true", "yes")


def tls_context() -> ssl.SSLContext:
    """The client's TLS context: the broker's certificate verified against KAFKA_TLS_CA, hostname included."""
    return _context_for(os.environ.get("KAFKA_TLS_CA", "").strip())


@lru_cache(maxsize=4)
def _context_for(ca_file: str) -> ssl.SSLContext:
    # One context per CA file for the whole process: loading the CA for each of the dozens of clients a process opens
    # is wasted work, and an SSLContext is safe to share between connections.
    if ca_file and not Path(ca_file).is_file():
        raise FileNotFoundError(f"KAFKA_TLS_CA names {ca_file!r}, which is not a file (deploy/local/infra.sh makes it)")
    context: ssl.SSLContext = create_ssl_context(cafile=ca_file or None)
    context.check_hostname = True  # create_ssl_context's default; stated because it is the point
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def current_principal() -> str:
    return os.environ.get("KAFKA_PRINCIPAL", "").strip() or ADMIN


def adopt_principal(principal: str) -> None:
    """A process's own principal, unless its environment names one already (KAFKA_PRINCIPAL=admin in a test that
    runs a service with every right). Child processes (the outbox relay) inherit it."""
    os.environ.setdefault("KAFKA_PRINCIPAL", principal)


def password_of(principal: str) -> str:
    if principal == current_principal() and os.environ.get("KAFKA_PASSWORD"):
        return os.environ["KAFKA_PASSWORD"]
    folder = os.environ.get("KAFKA_CREDENTIALS_DIR", "")
    if folder:
        path = Path(folder) / principal
        if path.is_file():
            return path.read_text().strip()
    raise MissingCredentials(
        f"KAFKA_AUTH=scram but no password for Kafka principal {principal!r}: set KAFKA_PASSWORD or "
        f"KAFKA_CREDENTIALS_DIR (deploy/local/infra.sh writes both into .run/<name>/env)"
    )


def kafka_security(principal: str | None = None, password: str | None = None) -> dict[str, Any]:
    """The keyword arguments an AIOKafkaProducer/Consumer/AdminClient needs to reach the broker (over TLS when it
    speaks it) and authenticate as `principal` (default: the process's); none when it does neither. `password`:
    one handed over rather than kept in the credentials folder (a merchant's own)."""
    tls: dict[str, Any] = {"ssl_context": tls_context()} if tls_enabled() else {}
    if auth_mode() == "none":
        return {"security_protocol": "SSL", **tls} if tls else {}
    who = principal or current_principal()
    return {
        "security_protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": who,
        "sasl_plain_password": password or password_of(who),
        **tls,
    }


def faust_credentials(principal: str | None = None) -> Any:
    """The same for a faust app (its `broker_credentials`), or None. (faust turns SASL credentials with a TLS context
    into SASL_SSL, and SSL credentials into SSL.)"""
    context = tls_context() if tls_enabled() else None
    if auth_mode() == "none" and context is None:
        return None
    import faust  # only the ops app uses faust: the other services do not import it

    if auth_mode() == "none":
        return faust.SSLCredentials(context)
    who = principal or current_principal()
    return faust.SASLCredentials(username=who, password=password_of(who), ssl_context=context, mechanism=MECHANISM)
