"""A query waiting for its ticket keeps the request's Data (`waiting_queries.data`) to be read again when it is
answered: the WriteOffNo in it, a bearer code, is kept sealed there, never in the clear."""

from __future__ import annotations

from typing import Any

from shared.ecticket.write_off_codes import CodeKey

_CODE, _SEALED = "WriteOffNo", "WriteOffNoSealed"
_BOUND_TO = "waiting query"  # the associated data: a parked query's seal opens only as one


def sealed_data(data: dict[str, Any], key: CodeKey) -> dict[str, Any]:
    code = data.get(_CODE)
    if not isinstance(code, str) or not code:
        return data
    kept = {name: value for name, value in data.items() if name != _CODE}
    return kept | {_SEALED: key.seal(_BOUND_TO, code)}


def opened_data(data: dict[str, Any], key: CodeKey) -> dict[str, Any]:
    sealed = data.get(_SEALED)
    if not isinstance(sealed, str):
        return data
    kept = {name: value for name, value in data.items() if name != _SEALED}
    return kept | {_CODE: key.open(_BOUND_TO, sealed)}
