"""All of payment-confirmation's SQL, one module per kind of table: `waiting` (results waiting for the processor,
the verifier's queue) and `payments` (verified payments, duplicates, refused results). The outbox, inbox and dead
letters are the consumer's (`shared.infra`)."""
