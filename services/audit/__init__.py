"""The auditors' tool: replays the event log, re-derives every decision with the services' own pure cores, checks
the hash chain and its signed checkpoints, and reconciles the services' databases (docs/audit.md)."""
