"""Moved to shared.sandbox.aio; kept as an alias for older imports."""

from shared.sandbox.aio import AIO_IV, AIO_KEY, as_form, payment_result

__all__ = ["AIO_IV", "AIO_KEY", "as_form", "payment_result"]
