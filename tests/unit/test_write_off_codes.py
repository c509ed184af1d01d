"""The write-off code key: a keyed hash to look codes up by, and a deterministic ciphertext bound to its ticket."""

from __future__ import annotations

import json

import pytest

from services.query.write_off_codes import opened_data, sealed_data
from shared.ecticket.write_off_codes import CodeKey, UnreadableCode
from shared.settings import DEV_CODE_KEY

pytestmark = pytest.mark.unit

KEY = CodeKey.from_hex(DEV_CODE_KEY)
OTHER = CodeKey.from_hex("ab" * 32)
CODE = "aB3dE5gH7jK9mN1pQ2"


def test_the_hash_is_the_same_for_the_same_code_and_key_and_says_nothing_without_the_key() -> None:
    assert KEY.digest(CODE) == KEY.digest(CODE) and len(KEY.digest(CODE)) == 32
    assert KEY.digest(CODE) != KEY.digest(CODE[:-1] + "3")
    assert KEY.digest(CODE) != OTHER.digest(CODE)
    assert CODE not in KEY.digest(CODE)


def test_a_sealed_code_is_the_same_bytes_every_time_and_opens_only_for_its_ticket_and_key() -> None:
    sealed = KEY.seal("TICKET1", CODE)
    assert sealed == KEY.seal("TICKET1", CODE) and sealed.startswith("v1.") and CODE not in sealed
    assert sealed != KEY.seal("TICKET2", CODE)
    assert KEY.open("TICKET1", sealed) == CODE
    for key, ticket_no in ((KEY, "TICKET2"), (OTHER, "TICKET1")):
        with pytest.raises(UnreadableCode):
            key.open(ticket_no, sealed)
    with pytest.raises(UnreadableCode):
        KEY.open("TICKET1", sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1])
    with pytest.raises(UnreadableCode):
        KEY.open("TICKET1", "v9." + sealed[3:])


def test_the_key_is_never_printed_and_must_be_32_bytes_of_hex() -> None:
    assert DEV_CODE_KEY not in repr(KEY) and "c0de" not in repr(KEY)
    for bad in ("", "zz" * 32, "ab" * 16):
        with pytest.raises(ValueError, match="ECTICKET_CODE_KEY") as refused:
            CodeKey.from_hex(bad)
        assert bad == "" or bad not in str(refused.value)


def test_a_parked_querys_data_keeps_its_write_off_code_sealed_and_gives_it_back_when_answered() -> None:
    data = {"MerchantID": "3085676", "WriteOffNo": CODE, "TicketNo": ""}
    kept = sealed_data(data, KEY)
    assert CODE not in json.dumps(kept) and "WriteOffNo" not in kept
    assert opened_data(kept, KEY) == data
    assert sealed_data({"TicketNo": "T1"}, KEY) == {"TicketNo": "T1"}  # nothing to seal: left as it is
