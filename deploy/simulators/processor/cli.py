"""`python -m deploy.simulators.processor.cli ...`: pay, capture and reconcile at the sandbox payment processor, as
a consumer and the escrow bank would (over its HTTP API at PROCESSOR_URL, default http://127.0.0.1:18090).

checkout --merchant-id M --trade-no T --amount N [--paid-at "yyyy/MM/dd HH:mm:ss"] [--payment-type TYPE]
         [--no-capture] [--no-deliver] [--again]
    pay for an order: the processor records the trade and delivers the signed AIO result to the platform
    (--no-capture: authorised only, TradeStatus 0; --no-deliver: print the result, publish nothing;
    --again: a second, genuine trade for an order that has one, a double charge)
capture --merchant-id M --trade-no T
    capture the order's authorised trade(s) now
recon --date YYYY-MM-DD [--after SEQ]
    the reconciliation file (CSV) of the trades captured that Asia/Taipei day
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date

from deploy.simulators.processor.trades import Invalid, parse_aio_time
from shared.ecticket.processor_query import processor_url
from shared.sandbox.checkout import ProcessorError, capture, checkout, recon


async def run(args: argparse.Namespace) -> int:
    url = processor_url()
    try:
        if args.command == "checkout":
            result: object = await checkout(
                url,
                args.merchant_id,
                args.trade_no,
                args.amount,
                paid_at=parse_aio_time(args.paid_at) if args.paid_at else None,
                payment_type=args.payment_type,
                capture=args.capture,
                deliver=args.deliver,
                again=args.again,
            )
        elif args.command == "capture":
            result = await capture(url, args.merchant_id, args.trade_no)
        else:
            print(await recon(url, date.fromisoformat(args.date), args.after), end="")
            return 0
    except (ProcessorError, Invalid) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m deploy.simulators.processor.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = root.add_subparsers(dest="command", required=True)
    pay = sub.add_parser("checkout", help="a consumer pays for an order")
    _order(pay)
    pay.add_argument("--amount", type=int, required=True, help="TotalAmount, whole NT$")
    pay.add_argument("--paid-at", help='PaymentDate "yyyy/MM/dd HH:mm:ss" Asia/Taipei (default: now)')
    pay.add_argument("--payment-type", help="PaymentType (default Credit_CreditCard)")
    pay.add_argument("--no-capture", dest="capture", action="store_false", help="authorise only (TradeStatus 0)")
    pay.add_argument("--no-deliver", dest="deliver", action="store_false", help="do not publish the AIO result")
    pay.add_argument("--again", action="store_true", help="a second trade for an order that has one")
    _order(sub.add_parser("capture", help="capture the order's authorised trade(s)"))
    file = sub.add_parser("recon", help="the reconciliation file of a day")
    file.add_argument("--date", required=True, help="YYYY-MM-DD, Asia/Taipei")
    file.add_argument("--after", type=int, default=0, help="only rows with a larger Seq")
    return root


def _order(command: argparse.ArgumentParser) -> None:
    command.add_argument("--merchant-id", required=True)
    command.add_argument("--trade-no", required=True, help="the merchant's order number (MerchantTradeNo)")


if __name__ == "__main__":
    sys.exit(asyncio.run(run(parser().parse_args())))
