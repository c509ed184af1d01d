"""The pure core of payment-confirmation: is an AIO result a verified one-time card payment, and is it new?

No I/O, no clock: `assessment.assess` judges one result at the merchant's time, passed in; `repeats` tells a
redelivery of the payment already recorded from a conflicting second one; `aio_fields` reads AIO's amounts and
times without ever raising anything but ValueError."""
