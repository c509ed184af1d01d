"""The notification service's pure core: what to notify, when, to where, and whether it was acknowledged."""
