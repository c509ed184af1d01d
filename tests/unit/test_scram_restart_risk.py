"""Predicting Kafka's SCRAM-after-deletion defect from a metadata log (deploy/local/kafka/scram_restart_risk.py): the
model of Java's HashMap order against values and orders printed by a real JVM, and the verdicts against the restarts
observed on 2026-11-30 (docs/decisions.md, "A broker that refuses every principal")."""

from __future__ import annotations

from deploy.local.kafka.scram_restart_risk import Change, changes_of, hashmap_order, java_string_hash, lost_mechanisms

PLATFORM = ["admin", "payment_confirmation", "issuance", "redemption", "escrow_settlement", "query", "gateway",
            "notification", "payment_processor", "escrow_bank", "ops", "auditor"]  # fmt: skip
SHA_512 = 2


def upserts(names: list[str]) -> list[Change]:
    return [Change(name, SHA_512, removed=False) for name in names]


def test_string_hashes_are_javas() -> None:
    # Printed by `"admin".hashCode()` etc. on OpenJDK 17 (negative ints as their unsigned 32-bit values).
    assert java_string_hash("admin") == 92668751
    assert java_string_hash("merchant-9292378072") == -1420949554 & 0xFFFFFFFF
    assert java_string_hash("é€") == 15587


def test_the_iteration_order_is_the_one_a_java_hashmap_prints() -> None:
    # `new HashMap<>()`, the names put in this order, `keySet()` printed (13 names: the map has grown to 32 buckets).
    names = [*PLATFORM, "merchant-x"]
    assert hashmap_order(names) == [
        "merchant-x", "query", "auditor", "admin", "notification", "escrow_settlement", "ops", "redemption",
        "escrow_bank", "issuance", "payment_confirmation", "payment_processor", "gateway",
    ]  # fmt: skip
    assert hashmap_order([*names, "merchant-z"])[:2] == ["merchant-z", "merchant-x"]


def test_a_deleted_user_met_first_loses_every_credential_and_one_met_later_loses_none() -> None:
    # Both observed: upsert merchant-x, delete it, restart: everyone refused. The same, then merchant-z added: all in.
    deleted_x = [*upserts([*PLATFORM, "merchant-x"]), Change("merchant-x", SHA_512, removed=True)]
    assert lost_mechanisms(deleted_x) == {SHA_512: "merchant-x"}
    assert lost_mechanisms([*deleted_x, *upserts(["merchant-z"])]) == {}
    assert lost_mechanisms(upserts([*PLATFORM, "merchant-x"])) == {}


def test_the_records_are_read_from_dump_log_segments_output() -> None:
    dump = (
        '| offset: 6 CreateTime: 1 payload: {"type":"USER_SCRAM_CREDENTIAL_RECORD","version":0,"data":{"name":"admin",'
        '"mechanism":2,"salt":"NmcwaXZ1"}}\n'
        '| offset: 1945 CreateTime: 2 payload: {"type":"REMOVE_USER_SCRAM_CREDENTIAL_RECORD","version":0,"data":'
        '{"name":"merchant-9292378072","mechanism":2}}\n'
    )
    assert changes_of(dump) == [Change("admin", 2, removed=False), Change("merchant-9292378072", 2, removed=True)]
