"""A due notification -> where it goes and the request a merchant receives (pure).

The target: the URL the order's Issue request gave (then sealed with the keys of whoever sealed that request: the
platform, for an order a platform issued), else the merchant's configured URL (sealed with the merchant's keys).
The body: the ECTicket request envelope (§2.2) with Data encrypted and checksummed (§2.4, §2.5).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from services.notification.domain.notices import Kind
from services.notification.inbound import OrderTargets
from shared.ecticket.crypto import check_mac_value, encrypt_data
from shared.merchants.model import Merchant, MerchantRecord

NOTIFICATION_ID_HEADER = "X-Notification-Id"


@dataclass(frozen=True)
class Destination:
    url: str
    platform_id: str | None  # the platform whose keys seal it (its PlatformID in the envelope); None: the merchant's


def destination(kind: Kind, order: OrderTargets | None, merchant: MerchantRecord) -> Destination | None:
    """Where a notification goes now; None when neither the order nor the merchant names a URL."""
    given = None
    if order is not None:
        given = order.refund_notify_url if kind is Kind.REFUND else order.use_status_notify_url
    if given:
        acting = order.platform_id if order is not None and order.platform_id != merchant.merchant_id else None
        return Destination(given, acting or None)
    configured = merchant.refund_notify_url if kind is Kind.REFUND else merchant.use_status_notify_url
    return Destination(configured, None) if configured else None


def request_body(data_json: str, merchant_id: str, platform_id: str | None, signer: Merchant, timestamp: int) -> bytes:
    """The envelope a merchant's endpoint receives (Content-Type application/json). `data_json` is the Data as
    stored, compact JSON (`envelope.serialize_data`'s form): encrypted and checksummed as it is, not re-serialised
    (a delivery burst seals a thousand of these; the envelope is built as a plain dict for the same reason)."""
    keys = signer.secrets
    key, iv = keys.ticket_hash_key.get_secret_value(), keys.ticket_hash_iv.get_secret_value()
    envelope: dict[str, object] = {"PlatformID": platform_id} if platform_id else {}
    envelope |= {
        "MerchantID": merchant_id,
        "RqHeader": {"Timestamp": timestamp},
        "Data": encrypt_data(data_json, key, iv),
        "CheckMacValue": check_mac_value(data_json, key, iv),
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def headers(notification_id: uuid.UUID) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": "text/html", NOTIFICATION_ID_HEADER: str(notification_id)}
