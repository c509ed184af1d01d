"""`evolve(obj, **changes)`: `dataclasses.replace` for the core's frozen dataclasses, minus its introspection.

Every fact the core posts copies a few books and states; `replace` looks up the dataclass's fields and calls its
generated `__init__` each time, and was the core's largest single cost (a fifth of a unit-level replay, cProfile).
A copy of the instance's `__dict__` with the changes applied is the same value. Only for the core's own frozen
dataclasses: no `__slots__`, no `__post_init__`, no `InitVar`; a name that is not a field is still refused.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def evolve(obj: T, **changes: Any) -> T:
    fields = obj.__dict__
    if not changes.keys() <= fields.keys():
        raise TypeError(f"{type(obj).__name__} has no field {sorted(changes.keys() - fields.keys())}")
    new: T = object.__new__(type(obj))
    # Frozen dataclasses refuse __setattr__, not their __dict__: filled once here, before anyone sees the value.
    new.__dict__.update(fields)
    new.__dict__.update(changes)
    return new
