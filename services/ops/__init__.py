"""The operations view: a faust-streaming app folding the domain events into live counters and a dashboard."""
