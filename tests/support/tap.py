"""Moved to shared.sandbox.tap; kept as an alias for older imports."""

from shared.sandbox.tap import Seen, Tap

__all__ = ["Seen", "Tap"]
