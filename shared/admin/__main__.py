"""`python -m shared.admin`: manage merchants, products and sandbox test clocks on their compacted topics.

Secrets are read from the environment (ECTICKET_TICKET_HASH_KEY, ECTICKET_TICKET_HASH_IV,
ECTICKET_PAYMENT_HASH_KEY, ECTICKET_PAYMENT_HASH_IV) so they never show in a process list or shell history.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta

from shared.admin import dead_letters, keys, merchant_access, quotas, seal_configuration
from shared.admin.clocks import ClockRefused, advance_clock, reset_clock
from shared.admin.keys import secrets_from_env
from shared.admin.merchant_access import NotYetUsable
from shared.admin.publish import put_merchants, put_products
from shared.contracts.catalog import Product, UsagePeriodRule
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.infra.compacted import CompactedView
from shared.infra.quotas import QuotaRefused
from shared.merchants.model import IssueReply, MerchantRecord, NotifyAck, NotifySchedule, merchant_parser
from shared.merchants.sealing import seal
from shared.settings import Settings
from shared.topics import MERCHANT_CONFIG, PRODUCT_CATALOG


def fee_rule(text: str) -> RefundFeeRule:
    """`none`, `fixed:50` (NT$) or `percent:1000` (basis points)."""
    kind, _, value = text.partition(":")
    if kind == "fixed":
        return RefundFeeRule(kind=FeeKind.FIXED, amount=int(value))
    if kind == "percent":
        return RefundFeeRule(kind=FeeKind.PERCENT, basis_points=int(value))
    return RefundFeeRule()


async def merchant_put(settings: Settings, args: argparse.Namespace) -> None:
    record = MerchantRecord(
        merchant_id=args.merchant_id,
        name=args.name,
        mode=args.mode,
        enabled=not args.disabled,
        platform_id=args.platform_id,
        escrow_days=args.escrow_days,
        refund_fee_rule=fee_rule(args.refund_fee),
        refund_notify_url=args.refund_notify_url,
        use_status_notify_url=args.use_status_notify_url,
        issue_reply=IssueReply(args.issue_reply),
        notify_schedule=NotifySchedule(args.notify_schedule),
        notify_ack=NotifyAck(args.notify_ack),
        prints_paper=args.prints_paper,
        produce_bytes_per_second=args.produce_bytes_per_second,
        request_percentage=args.request_percentage,
        secrets=seal(secrets_from_env(), args.merchant_id, settings.config_key_hex),
        updated_at=datetime.now(UTC),
    )
    await put_merchants(settings.kafka_bootstrap, [record])
    print(f"merchant {record.merchant_id} published ({record.mode}, escrow {record.escrow_days} days)")


async def product_put(settings: Settings, args: argparse.Namespace) -> None:
    product = Product(
        merchant_id=args.merchant_id,
        item_no=args.item_no,
        name=args.name,
        ticket_type=TicketType.PICKUP if args.type == "pickup" else TicketType.GIFT,
        face_value=args.face_value,
        usage=UsagePeriodRule(start_after_days=args.start_after_days, valid_days=args.valid_days),
        refund_fee_rule=fee_rule(args.refund_fee) if args.refund_fee else None,
        listed=not args.delisted,
        updated_at=datetime.now(UTC),
    )
    await put_products(settings.kafka_bootstrap, [product])
    print(f"product {product.key()} published")


async def show(settings: Settings, args: argparse.Namespace) -> None:
    if args.what == "merchants":
        merchants = CompactedView(
            settings.kafka_bootstrap,
            MERCHANT_CONFIG,
            merchant_parser(settings.config_key_hex, *settings.previous_config_keys_hex),
        )
        await merchants.start()
        for m in sorted(merchants.values(), key=lambda m: m.merchant_id):
            r = m.record
            print(
                f"{r.merchant_id:<10} {r.mode:<10} platform={r.platform_id or '-':<10} "
                f"escrow={r.escrow_days}d fee={r.refund_fee_rule.model_dump_json()} "
                f"produce={r.produce_bytes_per_second:,}B/s {r.name}"
            )
        await merchants.stop()
    else:
        products = CompactedView(settings.kafka_bootstrap, PRODUCT_CATALOG, Product.model_validate_json)
        await products.start()
        for p in sorted(products.values(), key=lambda p: p.key()):
            print(f"{p.key():<20} {p.ticket_type.name:<6} NT${p.face_value:<6} listed={p.listed} {p.name}")
        await products.stop()


async def clock_advance(settings: Settings, args: argparse.Namespace) -> None:
    record = await advance_clock(settings, args.merchant_id, timedelta(days=args.days, hours=args.hours))
    print(f"merchant {record.merchant_id}: test clock {record.offset} ahead of real time")


async def clock_reset(settings: Settings, args: argparse.Namespace) -> None:
    await reset_clock(settings, args.merchant_id)
    print(f"merchant {args.merchant_id}: test clock back to real time")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m shared.admin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = root.add_subparsers(dest="command", required=True)
    m = sub.add_parser("merchant-put", help="register or update a merchant")
    m.add_argument("--merchant-id", required=True)
    m.add_argument("--name", required=True)
    m.add_argument("--mode", choices=["sandbox", "production"], default="sandbox")
    m.add_argument("--platform-id")
    m.add_argument("--escrow-days", type=int, default=90)
    m.add_argument("--refund-fee", default="none", help="none | fixed:NTD | percent:BASIS_POINTS")
    m.add_argument("--refund-notify-url")
    m.add_argument("--use-status-notify-url")
    m.add_argument(
        "--issue-reply",
        choices=[r.value for r in IssueReply],
        default=IssueReply.ACCEPTED.value,
        help="accepted: Issue answered at once, Status 3 (ECTicket); outcome: answered with the tickets",
    )
    m.add_argument(
        "--notify-schedule", choices=[s.value for s in NotifySchedule], default=NotifySchedule.IMMEDIATE.value
    )
    m.add_argument(
        "--notify-ack",
        choices=[a.value for a in NotifyAck],
        default=NotifyAck.ENVELOPE.value,
        help="lenient: a bare 1|OK also acknowledges a notification",
    )
    m.add_argument("--prints-paper", action="store_true", help="the merchant prints paper tickets (QueryPrintData)")
    m.add_argument(
        "--produce-bytes-per-second",
        type=int,
        default=MerchantRecord.model_fields["produce_bytes_per_second"].default,
        help="the broker's produce quota for the merchant's client id ecticket-merchant-<MerchantID> and its principal",
    )
    m.add_argument(
        "--request-percentage",
        type=float,
        default=MerchantRecord.model_fields["request_percentage"].default,
        help="its share of the broker's request-handling time (100: one thread's), on the same client id and principal",
    )
    m.add_argument("--disabled", action="store_true")
    m.set_defaults(run=merchant_put)
    p = sub.add_parser("product-put", help="list or update a product")
    p.add_argument("--merchant-id", required=True)
    p.add_argument("--item-no", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--type", choices=["pickup", "gift"], required=True)
    p.add_argument("--face-value", type=int, default=0)
    p.add_argument("--start-after-days", type=int, default=0)
    p.add_argument("--valid-days", type=int)
    p.add_argument("--refund-fee", help="overrides the merchant's rule: none | fixed:NTD | percent:BP")
    p.add_argument("--delisted", action="store_true")
    p.set_defaults(run=product_put)
    s = sub.add_parser("show", help="print merchants or products (never secrets)")
    s.add_argument("what", choices=["merchants", "products"])
    s.set_defaults(run=show)
    c = sub.add_parser("clock-advance", help="move a sandbox merchant's test clock ahead (refused in production)")
    c.add_argument("--merchant-id", required=True)
    c.add_argument("--days", type=int, default=0)
    c.add_argument("--hours", type=int, default=0)
    c.set_defaults(run=clock_advance)
    r = sub.add_parser("clock-reset", help="put a merchant's test clock back to real time")
    r.add_argument("--merchant-id", required=True)
    r.set_defaults(run=clock_reset)
    merchant_access.add_parser(sub)
    dead_letters.add_parser(sub)
    keys.add_parser(sub)
    quotas.add_parser(sub)
    seal_configuration.add_parser(sub)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        asyncio.run(args.run(Settings.from_env(), args))
    except (ValueError, OverflowError) as exc:  # pydantic's ValidationError, --refund-fee fixed:x, --hours 2**63
        print(f"invalid: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    except (ClockRefused, QuotaRefused) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        raise SystemExit(3) from exc
    except NotYetUsable as exc:  # a transient state of the broker: running the command again is the remedy
        print(f"not yet: {exc}", file=sys.stderr)
        raise SystemExit(4) from exc


if __name__ == "__main__":
    main()
