"""Merchant configuration: the record on the compacted config topic and each service's copy of it."""
