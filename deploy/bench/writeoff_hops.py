"""Where a write-off's time goes, hop by hop: `python -m deploy.bench.writeoff_hops --rate 1000` against the running
redemption of INFRA_NAME (source its .run/<name>/env first; `ECTICKET_SERVICES=redemption bash
deploy/local/services.sh start` is enough).

Paced WriteOff requests of fresh pickup vouchers (as `make bench`'s redemption part sends them), each stamped on this
host's wall clock four times:
- sent: the client hands the request to its producer;
- begun: the start of the redemption transaction that decided it (its reply's outbox row, `created_at` = now());
- relayed: the reply record's timestamp, set by the relay's producer when the relay sends it;
- seen: the client's reply consumer receives it.
So `sent → begun` is the request's produce, the consumer's fetch and its wait for the batch before; `begun → relayed`
the transaction, its commit, the relay's wake-up, read, link and send; `relayed → seen` the broker and the client's
fetch. Printed, not appended to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass

import asyncpg

from deploy.bench.common import hop_summary, percentile
from deploy.bench.redemption import opened_pos
from shared.settings import Settings
from shared.topics import INGEST_REPLIES

SECONDS = 10.0


@dataclass(frozen=True)
class Stamps:
    sent: float
    begun: float
    relayed: float
    seen: float


async def begun_at(pool: asyncpg.Pool, since: float) -> dict[str, float]:
    """Each reply's outbox row's created_at (its transaction's start), by request id."""
    rows = await pool.fetch(
        "SELECT extract(epoch FROM created_at)::float8 AS at, value FROM redemption.outbox"
        " WHERE topic = $1 AND created_at >= to_timestamp($2)",
        INGEST_REPLIES,
        since - 1,
    )
    return {json.loads(r["value"])["payload"]["request_id"]: r["at"] for r in rows}


async def main(rate: float, seconds: float) -> None:
    async with opened_pos(Settings.from_env(), "write-off-hops") as pos:
        warmup = pos.write_offs(await pos.tickets(200))
        await pos.send(warmup, None, {})
        await pos.replies.wait([r for r, _ in warmup], 120)
        paced = pos.write_offs(await pos.tickets(int(rate * seconds)))
        sent: dict[str, float] = {}
        offset = time.time() - time.perf_counter()  # Pos stamps perf_counter; the hops compare wall clocks
        started = time.time()
        await pos.send(paced, rate, sent)
        await pos.replies.wait([r for r, _ in paced], 600)
        await asyncio.sleep(0.5)
        begun = await begun_at(pos.pool, started)
    stamps = pos.replies.stamps
    hops = [Stamps(sent[r] + offset, begun[r], *stamps[r]) for r, _ in paced if r in begun and r in stamps]
    print(f"{len(hops):,} of {len(paced):,} write-offs at {rate:,.0f}/s stamped")
    print(hop_summary("sent → begun", [h.begun - h.sent for h in hops]))
    print(hop_summary("begun → relayed", [h.relayed - h.begun for h in hops]))
    print(hop_summary("relayed → seen", [h.seen - h.relayed for h in hops]))
    print(hop_summary("sent → seen (total)", [h.seen - h.sent for h in hops]))
    slowest = sorted(hops, key=lambda h: h.seen - h.sent)[-max(1, len(hops) // 100) :]
    print("the slowest 1 %, mean of each hop:")
    for name, f in (("sent → begun", lambda h: h.begun - h.sent), ("begun → relayed", lambda h: h.relayed - h.begun),
                    ("relayed → seen", lambda h: h.seen - h.relayed)):  # fmt: skip
        print(f"  {name:<22} {1000 * sum(map(f, slowest)) / len(slowest):7.1f} ms")
    print("by the second it was sent in (total p50 / p99, ms):")
    for second, totals in sorted(by_second(hops, started).items()):
        print(f"  {second:3d}  {len(totals):5,}  {percentile(totals, 0.5):7.1f} / {percentile(totals, 0.99):7.1f}")


def by_second(hops: list[Stamps], started: float) -> dict[int, list[float]]:
    """Each write-off's total in ms, by the whole second of the run it was sent in: is the tail spread or bunched?"""
    out: dict[int, list[float]] = {}
    for h in hops:
        out.setdefault(int(h.sent - started), []).append(1000 * (h.seen - h.sent))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds))
