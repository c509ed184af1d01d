"""The escrow bank behind a port: settlement's instructions go in, confirmations and rejections come out.

`port.EscrowBank` is what a bank must do; `simulated.SimulatedEscrowBank` is the sandbox bank (it accepts
everything unless a rule in its control table says reject or delay); `gateway.BankGateway` consumes the
instructions topic, asks the bank once per instruction id, and publishes the answer on the same topic.
"""
