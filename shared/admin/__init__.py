"""Operator tooling: publish merchant configuration and products, seed a development platform."""
