"""The simulated escrow bank: an outside system, run as its own process (`python -m deploy.simulators.bank`).

It meets settlement only on the instructions topic: settlement's PayoutInstructed / RefundInstructed in, the
bank's TransferConfirmed / TransferRejected back. `port.EscrowBank` is what a bank must do;
`simulated.SimulatedEscrowBank` is the sandbox bank (it accepts everything unless a rule in its control table says
reject or delay); `gateway.BankGateway` consumes the instructions, asks the bank once per instruction id, and
publishes the answer on the same topic. Its own schema `escrow_bank`, consumer group, inbox, outbox and relay.
"""
