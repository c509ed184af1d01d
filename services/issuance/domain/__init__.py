"""The pure core of issuance: request validation, the order records, the payment join, ticket building and
codes from an injected random source. No I/O, no clock."""
