"""The imperative shell shared by every service: Postgres, Kafka, inbox/outbox, relay, dead letters."""
