"""The platform's RtnCode table (the official one is not public). docs/rtncodes.md is generated from it.

TransCode (response envelope) is 1 when the envelope was received and decoded; otherwise it carries one of the
9xxx codes below and Data may be empty. Business results are RtnCode inside Data: 1 is success.
"""

from __future__ import annotations

from enum import IntEnum


class RtnCode(IntEnum):
    SUCCESS = 1

    # 1xxx: the request Data or the caller
    DATA_INVALID = 1001
    MERCHANT_MISMATCH = 1002
    PLATFORM_NOT_AUTHORISED = 1003
    MERCHANT_UNKNOWN = 1004
    OPERATION_UNKNOWN = 1005

    # 2xxx: issuance
    ORDER_NO_CHOICE = 2001
    ORDER_DUPLICATE = 2002
    ITEM_UNKNOWN = 2003
    ITEM_DELISTED = 2004
    GIFT_ORDER_HAS_PICKUP = 2005
    TICKET_LINES_INVALID = 2006
    PAYMENT_AMOUNT_MISMATCH = 2007
    PAYMENT_NOT_RECEIVED = 2008
    PAYMENT_NOT_ACCEPTED = 2009
    PAID_ORDER_WITHOUT_PICKUP = 2010
    PAYMENT_UNCLAIMED = 2011

    # 3xxx: redemption and refunds
    TICKET_NOT_FOUND = 3001
    TICKET_ALREADY_WRITTEN_OFF = 3002
    TICKET_ALREADY_REFUNDED = 3003
    TICKET_EXPIRED = 3004
    TICKET_NOT_YET_VALID = 3005
    WRITE_OFF_CANCEL_NOT_ALLOWED = 3006
    REFUND_AFTER_ESCROW = 3007
    REFUND_OF_WRITTEN_OFF = 3008
    REFUND_CANCEL_NOT_ALLOWED = 3009
    TICKET_OF_OTHER_MERCHANT = 3010

    # 4xxx: queries
    QUERY_NOT_FOUND = 4001
    DOWNLOAD_RATE_LIMITED = 4002
    PRINTING_NOT_ENABLED = 4003

    # 9xxx: envelope (also used as TransCode)
    ENVELOPE_MALFORMED = 9001
    TIMESTAMP_OUT_OF_WINDOW = 9002
    CHECKMAC_MISMATCH = 9003
    DATA_DECRYPT_FAILED = 9004
    INTERNAL_ERROR = 9999


MESSAGES: dict[RtnCode, str] = {
    RtnCode.SUCCESS: "Success",
    RtnCode.DATA_INVALID: "Data failed validation",
    RtnCode.MERCHANT_MISMATCH: "MerchantID in Data differs from the envelope",
    RtnCode.PLATFORM_NOT_AUTHORISED: "PlatformID may not act for this MerchantID",
    RtnCode.MERCHANT_UNKNOWN: "MerchantID is not registered or not enabled",
    RtnCode.OPERATION_UNKNOWN: "Unknown operation",
    RtnCode.ORDER_NO_CHOICE: "Exactly one of MerchantTradeNo and FreeTradeNo is required",
    RtnCode.ORDER_DUPLICATE: "The order number was already used for an issuance",
    RtnCode.ITEM_UNKNOWN: "ItemNo is not in the product catalogue",
    RtnCode.ITEM_DELISTED: "ItemNo is delisted",
    RtnCode.GIFT_ORDER_HAS_PICKUP: "A FreeTradeNo order may hold gift vouchers only",
    RtnCode.TICKET_LINES_INVALID: "TicketInfo is invalid",
    RtnCode.PAYMENT_AMOUNT_MISMATCH: "Paid amount differs from the pickup vouchers' face value",
    RtnCode.PAYMENT_NOT_RECEIVED: "No confirmed payment arrived for MerchantTradeNo in time",
    RtnCode.PAYMENT_NOT_ACCEPTED: "The payment for MerchantTradeNo was rejected",
    RtnCode.PAID_ORDER_WITHOUT_PICKUP: "A MerchantTradeNo order must hold at least one pickup voucher",
    RtnCode.PAYMENT_UNCLAIMED: "No Issue request claimed the payment in time: it is refunded in full",
    RtnCode.TICKET_NOT_FOUND: "Ticket not found",
    RtnCode.TICKET_ALREADY_WRITTEN_OFF: "Ticket already written off",
    RtnCode.TICKET_ALREADY_REFUNDED: "Ticket already refunded",
    RtnCode.TICKET_EXPIRED: "Ticket expired",
    RtnCode.TICKET_NOT_YET_VALID: "Ticket not yet usable (before StartDate)",
    RtnCode.WRITE_OFF_CANCEL_NOT_ALLOWED: "Write-off cannot be cancelled",
    RtnCode.REFUND_AFTER_ESCROW: "Refund not allowed after the escrow period",
    RtnCode.REFUND_OF_WRITTEN_OFF: "A written-off ticket cannot be refunded (cancel the write-off first)",
    RtnCode.REFUND_CANCEL_NOT_ALLOWED: "Refund cannot be cancelled",
    RtnCode.TICKET_OF_OTHER_MERCHANT: "Ticket belongs to another merchant",
    # The same answer for a missing order and another merchant's: a query is no way to learn that one exists.
    RtnCode.QUERY_NOT_FOUND: "No order or ticket of this merchant has this number",
    RtnCode.DOWNLOAD_RATE_LIMITED: "One OrderDetail file per minute per merchant: try again later",
    RtnCode.PRINTING_NOT_ENABLED: "QueryPrintData is for merchants enabled to print paper tickets",
    RtnCode.ENVELOPE_MALFORMED: "Request envelope is malformed",
    RtnCode.TIMESTAMP_OUT_OF_WINDOW: "RqHeader.Timestamp is outside the 10-minute window",
    RtnCode.CHECKMAC_MISMATCH: "CheckMacValue does not match",
    RtnCode.DATA_DECRYPT_FAILED: "Data could not be decrypted",
    RtnCode.INTERNAL_ERROR: "Internal error",
}


def message(code: RtnCode) -> str:
    return MESSAGES[code]
