"""All of the query side's SQL: `read_model` (orders and tickets, written from events, read by queries),
`waiting` (queries waiting for their order or ticket) and `downloads` (the CSV rate limit)."""
