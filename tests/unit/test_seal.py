"""The platform seal: what only a holder of the event key can produce, checked on every platform topic."""

from __future__ import annotations

import pytest

from shared.infra.seal import BAD_SEAL, HEADER, NO_SEAL, BadKeys, EventKey, Keyring, is_sealed_topic, parse_keys
from shared.settings import DEV_EVENT_KEY_HEX, DEV_EVENT_KEYS, MissingSecret, Settings

pytestmark = pytest.mark.unit

TOPIC, KEY, VALUE = "ecticket.issuance.events.v1", b"3085676/T1", b'{"event_type": "TicketsIssued"}'
OLD = EventKey("k1", bytes.fromhex("11" * 32))
NEW = EventKey("k2", bytes.fromhex("22" * 32))


def test_a_sealed_record_passes_and_the_seal_names_its_key() -> None:
    ring = Keyring((OLD,))
    seal = ring.seal(TOPIC, KEY, VALUE)
    assert seal.startswith(b"k1:") and len(seal) == len(b"k1:") + 64
    assert ring.problem(TOPIC, KEY, VALUE, [(HEADER, seal)]) is None


def test_sealing_is_deterministic_so_a_republished_event_carries_the_same_seal() -> None:
    assert Keyring((OLD,)).seal(TOPIC, KEY, VALUE) == Keyring((OLD,)).seal(TOPIC, KEY, VALUE)


@pytest.mark.parametrize(
    ("topic", "key", "value"),
    [
        ("ecticket.payments.events.v1", KEY, VALUE),  # the same record moved to another topic
        (TOPIC, b"3085676/T2", VALUE),  # under another order's key
        (TOPIC, None, VALUE),  # with its key dropped
        (TOPIC, b"", VALUE),  # an empty key is not a missing one
        (TOPIC, KEY, VALUE + b" "),  # one byte more
        (TOPIC, KEY, VALUE.replace(b"Tickets", b"Tickexs")),  # one byte changed
    ],
)
def test_a_seal_does_not_vouch_for_anything_but_its_own_topic_key_and_bytes(
    topic: str, key: bytes | None, value: bytes
) -> None:
    ring = Keyring((OLD,))
    seal = ring.seal(TOPIC, KEY, VALUE)
    assert ring.problem(topic, key, value, [(HEADER, seal)]) == BAD_SEAL


def test_a_record_without_a_seal_or_with_a_forged_one_is_refused_with_its_reason() -> None:
    ring = Keyring((OLD,))
    forged = b"k1:" + b"0" * 64
    assert ring.problem(TOPIC, KEY, VALUE, []) == NO_SEAL
    assert ring.problem(TOPIC, KEY, VALUE, [("event_type", b"TicketsIssued")]) == NO_SEAL
    assert ring.problem(TOPIC, KEY, VALUE, [(HEADER, forged)]) == BAD_SEAL
    assert ring.problem(TOPIC, KEY, VALUE, [(HEADER, b"no colon at all")]) == BAD_SEAL
    assert ring.problem(TOPIC, KEY, VALUE, [(HEADER, b"k1:" + b"zz" * 32)]) == BAD_SEAL
    sealed = ring.seal(TOPIC, KEY, VALUE)
    assert ring.problem(TOPIC, KEY, VALUE, [(HEADER, sealed), (HEADER, sealed)]) == "provenance: more than one seal"


def test_a_seal_made_with_a_key_the_consumer_does_not_hold_names_the_unknown_key_id() -> None:
    seal = Keyring((NEW,)).seal(TOPIC, KEY, VALUE)
    assert Keyring((OLD,)).problem(TOPIC, KEY, VALUE, [(HEADER, seal)]) == "provenance: unknown key id 'k2'"
    hostile = b"\x00\xff" + b":" + b"ab" * 32
    assert Keyring((OLD,)).problem(TOPIC, KEY, VALUE, [(HEADER, hostile)]) == "provenance: unknown key id '?'"


def test_during_a_rotation_both_keys_verify_and_only_the_first_seals() -> None:
    rotating = Keyring((NEW, OLD))
    old_seal, new_seal = Keyring((OLD,)).seal(TOPIC, KEY, VALUE), Keyring((NEW,)).seal(TOPIC, KEY, VALUE)
    assert rotating.problem(TOPIC, KEY, VALUE, [(HEADER, old_seal)]) is None
    assert rotating.problem(TOPIC, KEY, VALUE, [(HEADER, new_seal)]) is None
    assert rotating.seal(TOPIC, KEY, VALUE) == new_seal
    # A seal under one key id but made with another key is no seal at all.
    assert rotating.problem(TOPIC, KEY, VALUE, [(HEADER, b"k1:" + new_seal.split(b":")[1])]) == BAD_SEAL


def test_the_key_list_is_read_in_order_and_its_errors_never_quote_key_material() -> None:
    assert parse_keys(f" k2:{'22' * 32} , k1:{'11' * 32}") == (NEW, OLD)
    secret = "ab" * 31 + "zz"
    with pytest.raises(BadKeys) as refused:
        parse_keys(f"k1:{secret}")
    assert secret not in str(refused.value)
    for bad in ("", "k1", f":{'11' * 32}", f"k1:{'11' * 16}", f"k1:{'11' * 32},k1:{'22' * 32}", f"a b:{'11' * 32}"):
        with pytest.raises(BadKeys):
            parse_keys(bad)
    assert "11" * 32 not in repr(Keyring((OLD,)))


def test_development_runs_on_the_public_dev_key_and_production_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECTICKET_EVENT_KEYS", raising=False)
    monkeypatch.setenv("ECTICKET_ENV", "development")
    assert Settings.from_env().event_keys == DEV_EVENT_KEYS
    monkeypatch.setenv("ECTICKET_ENV", "production")
    for name, value in (
        ("ECTICKET_CONFIG_KEY", "aa"),
        ("ECTICKET_AUDIT_SIGNING_KEY", "bb"),
        ("ECTICKET_CODE_KEY", "cc"),
    ):
        monkeypatch.setenv(name, value * 32)
    with pytest.raises(MissingSecret, match="ECTICKET_EVENT_KEYS"):
        Settings.from_env()
    monkeypatch.setenv("ECTICKET_EVENT_KEYS", f"k2:{'22' * 32},old:{DEV_EVENT_KEY_HEX.upper()}")
    with pytest.raises(MissingSecret, match="ECTICKET_EVENT_KEYS"):
        Settings.from_env()
    monkeypatch.setenv("ECTICKET_EVENT_KEYS", f"k2:{'22' * 32}")
    assert Settings.from_env().event_keys == f"k2:{'22' * 32}"
    assert "22" * 32 not in repr(Settings.from_env())


def test_only_the_merchant_topics_go_without_a_seal() -> None:
    assert not is_sealed_topic("ecticket.ingest.requests.v1")
    assert not is_sealed_topic("ecticket.ingest.payments.v1")
    assert is_sealed_topic(TOPIC)
    assert is_sealed_topic("ecticket.platform.rejections.v1")
    assert is_sealed_topic("ecticket.bank.statements.v1")
    assert is_sealed_topic("crashloop_abc")  # a test's own topic: written by the platform's code, so sealed
