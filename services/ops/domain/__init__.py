"""Pure: events in, counters, order timelines and dashboard views out; no broker, database or clock."""
