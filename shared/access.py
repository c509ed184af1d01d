"""Who may do what on the broker: the one table the Kafka ACLs are made from (shared/infra/acls.py applies it).

Each platform process has a principal of its own (its service name) that may read the topics it consumes, write the
topics it publishes and join its own consumer group, nothing else: a compromised issuance cannot write a settlement
fact, the ops dashboard cannot forge an event, and a stranger without credentials cannot connect at all.
`admin` is the broker's super user (the set-up and the admin tools); it needs no rows here.

The table is checked against the declarations it must agree with: tests/unit/test_access.py compares it with the
topic catalog, the event registry and infra.sh's credentials, and every service checks at start that the topics its
routes consume are among its reads (shared/infra/service.py), so a new route without a grant fails at once, loudly,
instead of as an authorisation error in a consumer loop. A merchant's own principal (`sender_principal`, made by
`python -m shared.admin merchant-connect`) writes its own request topic only (shared/infra/acls.py, `sender_bindings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.platform import PLATFORM_SERVICES, SIMULATED_SYSTEMS
from shared.topics import (
    AUDIT_CHECKPOINTS,
    AUDIT_INPUTS,
    BANK_STATEMENTS,
    CATALOG,
    INGEST_PAYMENTS,
    INGEST_REPLIES,
    INGEST_REQUESTS,
    ISSUANCE_EVENTS,
    MERCHANT_CONFIG,
    PAYMENT_EVENTS,
    PRODUCT_CATALOG,
    REDEMPTION_EVENTS,
    REJECTIONS,
    SETTLEMENT_EVENTS,
    SETTLEMENT_INSTRUCTIONS,
    TEST_CLOCKS,
)

ADMIN = "admin"
OPS = "ops"
AUDITOR = "auditor"

# What every service process reads at start (shared/infra/service.py: the merchant directory and the sandbox test
# clocks) and writes from its outbox relay (dead letters as MessageRejected, signed checkpoints of its event chain).
RUNTIME_READS = frozenset({MERCHANT_CONFIG, TEST_CLOCKS})
RUNTIME_WRITES = frozenset({REJECTIONS, AUDIT_CHECKPOINTS})
# The topics auditors replay (kept forever) and the configuration they verify signatures with.
EVENT_LOG = frozenset(t.name for t in CATALOG if not t.name.startswith("ecticket.ingest."))


@dataclass(frozen=True)
class Access:
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    # Consumer groups it joins (and commits offsets in); a service's group is its name (shared/infra/consumer.py).
    groups: frozenset[str] = frozenset()
    # Groups whose offsets it may look at, and topics whose offsets (not records) it may see: the ops dashboard's
    # consumer lag (a group's committed offsets are shown only for topics the caller may describe).
    watches_groups: frozenset[str] = frozenset()
    describes: frozenset[str] = frozenset()
    # Topics and groups under this prefix are its own to create, write and read: faust's changelog topics are named
    # after the app id, which is also its group ("ops", or OPS_APP_ID, e.g. a test's "ops-test-<id>").
    own_prefix: str | None = None
    describes_cluster: bool = False
    notes: str = field(default="", compare=False)


# A service's principal is its schema (shared/platform.py), its consumer group its ServiceSpec name: the two differ
# for payment confirmation only.
GROUP_OF = {"payment_confirmation": "payment-confirmation"}


def group_of(principal: str) -> str:
    return GROUP_OF.get(principal, principal)


def _service(reads: set[str], writes: set[str], name: str, consumes: bool = True) -> Access:
    return Access(
        reads=frozenset(reads) | RUNTIME_READS,
        writes=frozenset(writes) | RUNTIME_WRITES,
        groups=frozenset({group_of(name)}) if consumes else frozenset(),
    )


ACCESS: dict[str, Access] = {
    "payment_confirmation": _service({INGEST_PAYMENTS}, {PAYMENT_EVENTS, AUDIT_INPUTS}, "payment_confirmation"),
    "issuance": _service(
        {INGEST_REQUESTS, PAYMENT_EVENTS, PRODUCT_CATALOG},
        {ISSUANCE_EVENTS, INGEST_REPLIES, AUDIT_INPUTS},
        "issuance",
    ),
    "redemption": _service(
        {INGEST_REQUESTS, ISSUANCE_EVENTS}, {REDEMPTION_EVENTS, INGEST_REPLIES, AUDIT_INPUTS}, "redemption"
    ),
    "escrow_settlement": _service(
        {PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_INSTRUCTIONS, REJECTIONS, BANK_STATEMENTS},
        {SETTLEMENT_EVENTS, SETTLEMENT_INSTRUCTIONS},
        "escrow_settlement",
    ),
    "query": _service(
        {INGEST_REQUESTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_INSTRUCTIONS, PRODUCT_CATALOG},
        {INGEST_REPLIES},
        "query",
    ),
    # The HTTP front door: it writes what merchants would write themselves and reads their replies (no group: it
    # reads every partition of the reply topic itself, services/gateway/replies.py).
    "gateway": _service({INGEST_REPLIES}, {INGEST_REQUESTS, INGEST_PAYMENTS}, "gateway", consumes=False),
    "notification": _service({ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_INSTRUCTIONS}, set(), "notification"),
    # The simulated outside systems: the processor delivers payment results as a processor would; the bank answers
    # settlement's instructions and publishes its statements.
    "payment_processor": _service(set(), {INGEST_PAYMENTS}, "payment_processor", consumes=False),
    "escrow_bank": _service({SETTLEMENT_INSTRUCTIONS}, {SETTLEMENT_INSTRUCTIONS, BANK_STATEMENTS}, "escrow_bank"),
    # Read-only on the platform's topics. It writes only its own faust tables (topics "ops-...", OPS_APP_ID "ops") and, through its
    # relay, what it could not read (MessageRejected) and its chain's checkpoints, like every service.
    OPS: Access(
        reads=frozenset({PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_EVENTS})
        | frozenset({SETTLEMENT_INSTRUCTIONS, REJECTIONS}),
        writes=RUNTIME_WRITES,
        groups=frozenset({OPS}),
        watches_groups=frozenset(group_of(s) for s in (*PLATFORM_SERVICES, *SIMULATED_SYSTEMS)) | {OPS},
        describes=frozenset(t.name for t in CATALOG),
        own_prefix="ops-",
        describes_cluster=True,
    ),
    # Read-only, everything the audit replays (services/audit): the event log and the configuration.
    AUDITOR: Access(reads=EVENT_LOG),
}

PRINCIPALS = (ADMIN, *ACCESS)


def sender_principal(sender: str) -> str:
    """The Kafka principal of a merchant, or of a platform, that writes its requests on its own topic."""
    return f"merchant-{sender}"


def reads_of(principal: str) -> frozenset[str]:
    return ACCESS[principal].reads if principal in ACCESS else frozenset()


class UngrantedTopics(RuntimeError):
    """A service consumes a topic its principal may not read: add it to ACCESS (and re-run the set-up)."""


def require_reads(principal: str, topics: set[str] | frozenset[str] | list[str]) -> None:
    """Refuse to start a service whose routes consume a topic its principal is not granted (admin reads all)."""
    if principal == ADMIN or principal not in ACCESS:
        return
    missing = sorted(set(topics) - ACCESS[principal].reads)
    if missing:
        raise UngrantedTopics(f"{principal} consumes {missing} but shared/access.py does not let it read them")
