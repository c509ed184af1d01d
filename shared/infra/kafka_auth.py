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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def kafka_security(principal: str | None = None) -> dict[str, Any]:
    """The keyword arguments an AIOKafkaProducer/Consumer/AdminClient needs to authenticate as `principal` (default:
    the process's); none when the broker does not authenticate."""
    if auth_mode() == "none":
        return {}
    who = principal or current_principal()
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": who,
        "sasl_plain_password": password_of(who),
    }


def faust_credentials(principal: str | None = None) -> Any:
    """The same for a faust app (its `broker_credentials`), or None."""
    if auth_mode() == "none":
        return None
    import faust  # only the ops app uses faust: the other services do not import it

    who = principal or current_principal()
    return faust.SASLCredentials(username=who, password=password_of(who), mechanism=MECHANISM)
