"""Simulators of the outside systems the platform talks to, for the sandbox, the tests and the benchmarks.

Each runs as a process of its own and meets the platform only where the real system would: a topic and a port.
Nothing in `shared` or `services` imports them.
"""
