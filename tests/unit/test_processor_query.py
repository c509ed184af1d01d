"""Signing the platform's batch trade query to the processor, and its answer (docs/money-trust.md)."""

from __future__ import annotations

import json

import pytest

from shared.ecticket.aio import aio_check_mac_value
from shared.ecticket.processor_query import (
    DEV_PROCESSOR_HASH_IV,
    DEV_PROCESSOR_HASH_KEY,
    canonical,
    processor_credentials,
    query_mac,
    verify_query_mac,
)

pytestmark = pytest.mark.unit

KEY, IV = DEV_PROCESSOR_HASH_KEY, DEV_PROCESSOR_HASH_IV
ORDERS = [{"MerchantID": "3085676", "MerchantTradeNo": "T1"}, {"MerchantID": "3085676", "MerchantTradeNo": "T2"}]
QUERY = {"PlatformID": "ECTICKET", "TimeStamp": 1_700_000_000, "Orders": ORDERS}


def signed(fields: dict[str, object]) -> dict[str, object]:
    return {**fields, "CheckMacValue": query_mac(fields, KEY, IV)}


def test_a_string_is_signed_as_it_is_and_an_integer_in_decimal() -> None:
    assert canonical("A b") == "A b"
    assert canonical(1_700_000_000) == "1700000000"


def test_a_list_is_signed_as_json_with_sorted_keys_no_spaces_and_utf8_kept() -> None:
    assert canonical([{"b": 1, "a": "台北"}]) == '[{"a":"台北","b":1}]'
    assert canonical(True) == "true"


def test_the_mac_is_aio_check_mac_value_over_the_canonical_text_of_each_field() -> None:
    expected = aio_check_mac_value(
        {"PlatformID": "ECTICKET", "TimeStamp": "1700000000", "Orders": json.dumps(ORDERS, separators=(",", ":"))},
        KEY,
        IV,
    )
    assert query_mac(QUERY, KEY, IV) == expected


def test_a_signed_query_verifies_whatever_the_order_of_keys_inside_its_lists() -> None:
    query = signed(QUERY)
    reordered = {
        **query,
        "Orders": [{"MerchantTradeNo": o["MerchantTradeNo"], "MerchantID": o["MerchantID"]} for o in ORDERS],
    }
    assert verify_query_mac(query, KEY, IV)
    assert verify_query_mac(reordered, KEY, IV)
    assert verify_query_mac({**query, "CheckMacValue": str(query["CheckMacValue"]).lower()}, KEY, IV)


def test_a_query_whose_orders_were_changed_does_not_verify() -> None:
    query = signed(QUERY)
    assert not verify_query_mac(
        {**query, "Orders": [*ORDERS, {"MerchantID": "3085676", "MerchantTradeNo": "T3"}]}, KEY, IV
    )
    assert not verify_query_mac({**query, "TimeStamp": 1_700_000_001}, KEY, IV)


def test_an_answer_signed_with_other_credentials_does_not_verify() -> None:
    answer = {"TimeStamp": 1_700_000_000, "Trades": [{"TradeNo": "P1", "TradeAmt": 300}]}
    forged = {**answer, "CheckMacValue": query_mac(answer, "7b53896b742849d3", "37a0ad3c6ffa428b")}
    assert not verify_query_mac(forged, KEY, IV)
    assert verify_query_mac(signed(answer), KEY, IV)


@pytest.mark.parametrize("mac", [None, 42, "", "não-ascii"])
def test_a_missing_or_malformed_mac_does_not_verify(mac: object) -> None:
    fields: dict[str, object] = dict(QUERY)
    if mac is not None:
        fields["CheckMacValue"] = mac
    assert not verify_query_mac(fields, KEY, IV)


def test_the_credentials_come_from_the_environment_else_the_dev_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROCESSOR_HASH_KEY", raising=False)
    monkeypatch.delenv("PROCESSOR_HASH_IV", raising=False)
    assert processor_credentials() == (DEV_PROCESSOR_HASH_KEY, DEV_PROCESSOR_HASH_IV)
    monkeypatch.setenv("PROCESSOR_HASH_KEY", "k" * 16)
    monkeypatch.setenv("PROCESSOR_HASH_IV", "v" * 16)
    assert processor_credentials() == ("k" * 16, "v" * 16)
