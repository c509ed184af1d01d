"""The pure core of payment-confirmation: does an AIO result claim a one-time card payment, does the payment
processor vouch for it, and is it the order's first payment?

No I/O, no clock: `assessment.assess` judges one result at the merchant's time, passed in (the local checks);
`verification.verify` judges it against the processor's trades (confirm, reject, or ask again later);
`repeats` places a verified payment among the order's (first, the same trade again, or a duplicate);
`aio_fields` reads AIO's amounts and times without ever raising anything but ValueError."""
