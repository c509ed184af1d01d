"""`python -m shared.contracts.schemas DIR`: write a JSON Schema per event type (and the envelope) for
consumers outside Python, plus docs/rtncodes.md. A unit test fails when the committed files are stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import json_schemas
from shared.contracts.rtncodes import MESSAGES, RtnCode


def rendered_schemas() -> dict[str, str]:
    files = {"EventEnvelope.json": EventEnvelope.model_json_schema()}
    files.update({f"{name}.json": schema for name, schema in json_schemas().items()})
    return {
        name: json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n" for name, schema in files.items()
    }


def rendered_rtncodes() -> str:
    rows = "\n".join(f"| {int(code)} | `{code.name}` | {MESSAGES[code]} |" for code in RtnCode)
    return (
        "# RtnCode table\n\n"
        "Generated from `shared/contracts/rtncodes.py` by `make schemas`; do not edit by hand.\n\n"
        "TransCode in the response envelope is `1` when the envelope was received, its Data decrypted and its\n"
        "CheckMacValue verified; otherwise it carries the envelope's failure: one of the 9xxx codes, or 1004 when\n"
        "MerchantID (or PlatformID) is not a registered, enabled merchant (no keys: Data is empty). Everything found\n"
        "after verification is a business result, `RtnCode` inside the encrypted Data, with TransCode 1: a Data that\n"
        "verifies but is not a JSON object is RtnCode 1001.\n\n"
        "| code | name | message |\n|---|---|---|\n" + rows + "\n"
    )


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in rendered_schemas().items():
        (target / name).write_text(text)
    (target.parent / "rtncodes.md").write_text(rendered_rtncodes())
    print(f"wrote {len(rendered_schemas())} schemas to {target} and {target.parent / 'rtncodes.md'}")


if __name__ == "__main__":
    main()
