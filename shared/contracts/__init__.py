"""Wire contracts: the event envelope and every event payload, shared by all services."""
