"""The gateway's pure core: per-merchant rate buckets, and whether a payment result is fit for the payments topic."""
