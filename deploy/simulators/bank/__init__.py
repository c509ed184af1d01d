"""The simulated escrow bank: an outside system, run as its own process (`python -m deploy.simulators.bank`).

It meets settlement on two topics. The instructions topic: settlement's PayoutInstructed / RefundInstructed in, the
bank's TransferConfirmed / TransferRejected back. `port.EscrowBank` is what a bank must do;
`simulated.SimulatedEscrowBank` is the sandbox bank (it accepts everything unless a rule in its control table says
reject or delay); `gateway.BankGateway` consumes the instructions, asks the bank once per instruction id, and
publishes the answer on the same topic. The statement topic: `processor_feed.ProcessorFeed` learns the money the
bank received from the processor's reconciliation file (`recon_file`), and `statement` books each credit and each
transfer carried out as a statement line and closes each ended day; `statement_rules` lets the sandbox make that
statement disagree with the ledger. Its own schema `escrow_bank`, consumer group, inbox, outbox and relay.
"""
