"""All of escrow settlement's SQL, and nowhere else: one module per group of tables (books, journal, notices,
payouts, unapplied), and `codec`, the JSON encoding of the core's books and facts in their jsonb columns."""
