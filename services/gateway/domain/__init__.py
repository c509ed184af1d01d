"""The gateway's pure core: what a request body becomes (forwarded or refused), request ids, rate buckets."""
