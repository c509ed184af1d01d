"""The audit's pure checks: records in, findings out. No I/O (import-linter)."""
