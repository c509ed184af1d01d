"""Field types shared by the validators of merchant input, and the one way their failures are worded.

A merchant reads the first failure in RtnMsg: it names the field and says what it must be in words, never as a
regular expression.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationError

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
LETTERS_AND_DIGITS = r"^[A-Za-z0-9]+$"
LETTERS_AND_DIGITS_OR_EMPTY = r"^[A-Za-z0-9]*$"
YYYYMMDD = r"^[0-9]{8}$"

# Free text that is stored, published and echoed: no control characters (NUL included).
Printable = Annotated[str, Field(pattern=PRINTABLE)]
# ASCII digits only (pydantic's `\d` also matches "２" and "٥").
Yyyymmdd = Annotated[str, Field(pattern=YYYYMMDD)]

PATTERN_WORDS = {
    PRINTABLE: "must not contain control characters",
    LETTERS_AND_DIGITS: "must be ASCII letters and digits only",
    LETTERS_AND_DIGITS_OR_EMPTY: "must be ASCII letters and digits only",
    YYYYMMDD: "must be a date yyyyMMdd in ASCII digits",
}


def first_error(exc: ValidationError) -> str:
    """`Field.path: what is wrong` for the first failure."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    message = error["msg"]
    if error["type"] == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        message = PATTERN_WORDS.get(pattern, "has an invalid format")
    return f"{where}: {message}" if where else message
