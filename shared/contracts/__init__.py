"""Wire contracts: the event envelope and every event payload, shared by all services.

Importing this package (which importing any of its modules does first) registers every event type: the registry
never depends on which modules a process happened to import.
"""

from shared.contracts import bank, ingest, issuance, payments, redemption, rejections, settlement

EVENT_MODULES = (bank, ingest, issuance, payments, redemption, rejections, settlement)
