"""Moved to shared.sandbox.merchant (the demo and benchmark use it too); kept as an alias for older imports."""

from shared.sandbox.merchant import KEYS, MerchantClient, open_reply, unique

__all__ = ["KEYS", "MerchantClient", "open_reply", "unique"]
