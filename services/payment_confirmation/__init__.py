"""payment-confirmation: turns ECPay AIO payment results into PaymentConfirmed or PaymentRejected."""
