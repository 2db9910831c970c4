"""Benchmark what a drain batch's metrics cost: :func:`~kafkapipeline.drain.metrics.report_batch` alone.

A batch sends its figures once, when it ends (one datagram; the freshness samples are two timestamps
per consumed chunk, taken with metrics on or off). This times that call with a realistic summary, to the
statsd-exporter of ``scripts/env.sh`` when it runs (UDP: nothing waits for it), and prints its share of
a drain's time per message for small and large batches, next to the drain's own cost per message.
``bench/drain_benchmark.py --metrics off|on`` compares whole drains, but its run-to-run spread (about
10%) is far wider than this share. No other service needed::

    .venv/bin/python bench/metrics_cost.py [--drain-us-per-message 45]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from kafkapipeline.drain.metrics import report_batch
from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.kafka.lag import PartitionLag
from kafkapipeline.metrics.statsd import current_target
from kafkapipeline.streams.tweets import TWEETS

#: (messages in the batch, consumed chunks): the smallest default batch, a full one.
BATCHES = [(500, 1), (5_000, 1), (50_000, 10)]


def one_batch_seconds(messages: int, chunks: int, calls: int) -> float:
    """Median seconds of ``report_batch`` for a committed batch of ``messages`` read in ``chunks``."""
    summary = DrainSummary(
        topic="tweets",
        stream=TWEETS.name,
        group_id="kafkapipeline.drain.task.tweets",
        messages_read=messages,
        rows_written=messages - 2,
        dead_lettered=2,
        seconds=messages / 20_000,
        committed=True,
        dead_letter_reasons={"like_count: expected >= 0": 1, "value is not JSON": 1},
    )
    lag_after = [PartitionLag(partition, 1_000, 0, 1_000) for partition in range(3)]
    freshness = [0.5 + index / 10 for index in range(2 * chunks)]
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        report_batch(summary, TWEETS, lag_after=lag_after, freshness=freshness)
        times.append(time.perf_counter() - started)
    return statistics.median(times[calls // 10 :])  # the first calls warm up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2_000, help="report_batch calls per batch size")
    parser.add_argument(
        "--drain-us-per-message",
        type=float,
        default=45.0,
        help="the drain's whole cost per message, from bench/drain_benchmark.py (default 45)",
    )
    args = parser.parse_args(argv)
    target = current_target()
    print(f"metrics: {'to a statsd-exporter' if target is not None else 'off (KAFKAPIPELINE_METRICS)'}")
    print(f"{'batch':>8} {'chunks':>7} {'report_batch':>14} {'per message':>12} {'of the drain':>13}")
    for messages, chunks in BATCHES:
        seconds = one_batch_seconds(messages, chunks, args.calls)
        per_message_us = seconds * 1e6 / messages
        share = per_message_us / args.drain_us_per_message
        row = f"{messages:>8,} {chunks:>7} {seconds * 1e6:>11.0f} us {per_message_us:>9.3f} us"
        print(f"{row} {share:>12.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
