"""The JSON Schemas and the RtnCode table in docs/ are what the code says (regenerate with `make schemas`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.contracts.schemas import rendered_rtncodes, rendered_schemas

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_event_type_has_an_up_to_date_json_schema_in_docs() -> None:
    for name, text in rendered_schemas().items():
        path = DOCS / "schemas" / name
        assert path.exists() and path.read_text() == text, f"{path} is stale: run `make schemas`"


def test_the_rtncode_table_in_docs_is_up_to_date() -> None:
    assert (DOCS / "rtncodes.md").read_text() == rendered_rtncodes(), "docs/rtncodes.md is stale: run `make schemas`"
