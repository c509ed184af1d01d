"""Accounts of the escrow ledger: a kind and an owner (an order, a merchant, or the bank).

Sign convention: a posting amount is positive for a debit and negative for a credit; every journal entry sums to
zero, so all balances together sum to zero. BANK_CASH is the only asset (debit-normal); every other account is
money the platform owes someone (credit-normal). `natural()` turns a raw balance into "how much is there" on the
account's normal side, so escrow held, merchant payable... read as positive numbers.

Fee income is part of what is payable to the merchant (§5.0: the refund fee goes to the merchant); it is kept in
its own account so statements show fees apart from released face values, and payouts sweep both accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.contracts.common import order_key

BANK = "escrow-bank"


class AccountKind(StrEnum):
    BANK_CASH = "bank_cash"  # owner BANK: what the escrow bank holds for the platform
    ESCROW_HELD = "escrow_held"  # owner order: paid money still in escrow for that order
    SUSPENSE = "suspense"  # owner order: money received that cannot be matched (mismatch, duplicate payment)
    MERCHANT_PAYABLE = "merchant_payable"  # owner merchant: released face values owed to the merchant
    MERCHANT_FEE_INCOME = "merchant_fee_income"  # owner merchant: refund fees owed to the merchant
    MERCHANT_PAYOUT_IN_TRANSIT = "merchant_payout_in_transit"  # owner merchant: sent to the bank, not confirmed
    CONSUMER_REFUND_PAYABLE = "consumer_refund_payable"  # owner order: refunds owed to the consumer
    CONSUMER_REFUND_IN_TRANSIT = "consumer_refund_in_transit"  # owner order: sent to the bank, not confirmed

    @property
    def debit_normal(self) -> bool:
        return self is AccountKind.BANK_CASH


@dataclass(frozen=True, order=True)
class OrderRef:
    """One order: the merchant and its TicketTradeNo (= MerchantTradeNo for a paid order, §5.0)."""

    merchant_id: str
    ticket_trade_no: str

    @property
    def key(self) -> str:
        return order_key(self.merchant_id, self.ticket_trade_no)


@dataclass(frozen=True, order=True)
class Account:
    kind: AccountKind
    owner: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.owner}"


def natural(account: Account, raw: int) -> int:
    """A raw (debit-positive) balance on the account's normal side: positive = money is there."""
    return raw if account.kind.debit_normal else -raw


BANK_CASH = Account(AccountKind.BANK_CASH, BANK)


def escrow_held(order: OrderRef) -> Account:
    return Account(AccountKind.ESCROW_HELD, order.key)


def suspense(order: OrderRef) -> Account:
    return Account(AccountKind.SUSPENSE, order.key)


def merchant_payable(merchant_id: str) -> Account:
    return Account(AccountKind.MERCHANT_PAYABLE, merchant_id)


def merchant_fee_income(merchant_id: str) -> Account:
    return Account(AccountKind.MERCHANT_FEE_INCOME, merchant_id)


def merchant_in_transit(merchant_id: str) -> Account:
    return Account(AccountKind.MERCHANT_PAYOUT_IN_TRANSIT, merchant_id)


def consumer_refund_payable(order: OrderRef) -> Account:
    return Account(AccountKind.CONSUMER_REFUND_PAYABLE, order.key)


def consumer_in_transit(order: OrderRef) -> Account:
    return Account(AccountKind.CONSUMER_REFUND_IN_TRANSIT, order.key)
