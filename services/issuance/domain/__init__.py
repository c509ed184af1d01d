"""The pure core of issuance: request validation, the payment join, ticket building. No I/O, no clock."""
