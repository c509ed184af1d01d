"""The simulated payment processor (ECPay AIO's stand-in): an outside system, run as its own process
(`python -m deploy.simulators.processor`), the source of truth for payments (docs/money-trust.md).

A consumer pays at `POST /checkout`: the processor records the trade (its own TradeNo; captured now, or only
authorised until `POST /capture`) and delivers the AIO result, signed with the merchant's payment keys, to
ecticket.ingest.payments.v1 as ECPay posts it to a merchant's ReturnURL. The platform asks what really happened with
`POST /Cashier/QueryTradeInfo/Batch` (signed both ways with the platform's own processor credentials), and the
escrow bank reads the captured trades from `GET /recon/{date}`. Its own schema `payment_processor` (trades, and the
outbox whose relay delivers the results); it consumes no topic.

  trades.py   pure: checkout requests, a trade's AIO result, query rows, the reconciliation CSV
  store.py    all its SQL
  api.py      the HTTP API: parse -> one transaction (trades + deliveries) -> answer
  app.py      wiring: the HTTP server on PROCESSOR_HTTP_PORT, started with the process, stopped with it
  cli.py      python -m deploy.simulators.processor.cli checkout | capture | recon (over the HTTP API)
"""
