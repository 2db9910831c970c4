"""Freshness: how long a tweet takes from Kafka to a readable Cassandra row, through Airflow.

Starts the run command's stack on its own home, port, keyspace and topics, unpauses the event-driven
``drain_tweets``, produces a steady stream and polls Cassandra for each tweet. Prints produce-to-readable
p50/p95/max and Airflow's fixed overhead per micro-batch, next to what a cron-scheduled drain would give::

    .venv/bin/python bench/freshness_benchmark.py --rate 20 --seconds 120
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools

from devtools.devstack import local_stack, tail
from kafkapipeline.airflow_api import wait_for

BENCH_CITY = "FreshnessBench"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def batch_overheads(api) -> tuple[list[float], list[int]]:
    """Per committed batch: drain task duration minus the drain's own read+write seconds."""
    overheads, sizes = [], []
    for run in api.runs("drain_tweets"):
        if run["state"] != "success":
            continue
        tis = api.task_instances("drain_tweets", run["dag_run_id"])
        for drain in (ti for ti in tis if ti["task_id"] == "drain"):  # one per partition group
            if drain.get("state") != "success" or not drain.get("duration"):
                continue
            summary = api.xcom("drain_tweets", run["dag_run_id"], "drain", map_index=drain["map_index"])
            overheads.append(float(drain["duration"]) - float(summary["seconds"]))
            sizes.append(int(summary["messages_read"]))
    return overheads, sizes


def report(
    args: argparse.Namespace, latencies: list[float], overheads: list[float], sizes: list[int]
) -> None:
    print()
    print(f"messages                    {len(latencies)} at {args.rate}/s for {args.seconds:.0f}s")
    print(f"drain settings              min_batch={args.min_batch} max_wait={args.max_wait}s poll=1s")
    print(
        f"produce -> readable (s)     p50 {percentile(latencies, 0.5):.2f}   "
        f"p95 {percentile(latencies, 0.95):.2f}   max {max(latencies):.2f}"
    )
    if overheads:
        print(
            f"Airflow overhead per batch  median {statistics.median(overheads):.2f}s   "
            f"max {max(overheads):.2f}s   over {len(overheads)} batches "
            f"(median {statistics.median(sizes):.0f} messages)"
        )
    period = 60.0
    print(
        f"cron-scheduled drain        every {period:.0f}s (cron's finest grain): a message waits "
        f"U(0, {period:.0f}s) for the next run,"
    )
    print(
        f"                            so p50 ~ {period / 2:.0f}s and p95 ~ {0.95 * period:.0f}s "
        "plus the same per-batch overhead (analytical, not measured)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20.0, help="tweets per second (default 20)")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to produce (default 120)")
    parser.add_argument("--max-wait", type=float, default=1.0, help="drain max_wait_seconds (default 1)")
    parser.add_argument("--min-batch", type=int, default=200, help="drain min_batch (default 200)")
    args = parser.parse_args()

    import os

    from kafkapipeline.cassandra.session import cassandra_session
    from kafkapipeline.kafka.hook import PipelineKafkaHook
    from kafkapipeline.kafka.produce import TopicProducer
    from kafkapipeline.streams.tweets import TweetRecord

    extra_env = {
        "KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS": str(args.max_wait),
        "KAFKAPIPELINE_DRAIN_MIN_BATCH": str(args.min_batch),
        "KAFKAPIPELINE_DRAIN_POLL_SECONDS": "1",
    }
    with (
        tempfile.TemporaryDirectory(prefix="freshness-") as home,
        local_stack(Path(home), extra_env) as stack,
    ):
        try:
            os.environ.update({k: v for k, v in stack.env.items() if k.startswith("KAFKAPIPELINE_")})
            api = stack.api
            wait_for(
                "bootstrap to succeed",
                lambda: any(r["state"] == "success" for r in api.runs("bootstrap")),
                timeout=300,
            )
            api.unpause("drain_tweets")
            produced_at: dict[str, float] = {}
            seen_at: dict[str, float] = {}
            done = threading.Event()

            def poll_cassandra() -> None:
                with cassandra_session() as session:
                    query = session.prepare(
                        f"SELECT tweet_id FROM {stack.keyspace}.tweets WHERE city = ? AND day = ?"
                    )
                    while not done.is_set():
                        rows = session.execute(query, (BENCH_CITY, datetime.now(UTC).date()))
                        now = time.monotonic()
                        for row in rows:
                            seen_at.setdefault(row.tweet_id, now)
                        time.sleep(0.2)

            poller = threading.Thread(target=poll_cassandra, daemon=True)
            poller.start()
            topic = stack.env["KAFKAPIPELINE_TWEETS_TOPIC"]
            # The ingest's bounded wait for room in librdkafka's queue; every delivery counted.
            producer = TopicProducer(PipelineKafkaHook().producer(**{"linger.ms": 0}), topic)
            total = int(args.rate * args.seconds)
            print(f"producing {total} tweets at {args.rate}/s to {topic} ...", flush=True)
            start = time.monotonic()
            for n in range(total):
                target = start + n / args.rate
                time.sleep(max(0.0, target - time.monotonic()))
                tweet_id = f"fresh-{n:07d}"
                record = TweetRecord(
                    tweet_id=tweet_id,
                    text=f"benchmark tweet {n}: lovely sunny day in Vancouver",
                    created_at=datetime.now(UTC),
                    city=BENCH_CITY,
                    source="bench",
                )
                produced_at[tweet_id] = time.monotonic()
                producer.produce(record.to_json(), key=record.key)
            if producer.flush(30) != 0 or producer.report.failed:
                report_dict = producer.report.as_dict()
                raise RuntimeError(f"not every benchmark message was acknowledged: {report_dict}")
            wait_for(
                "every tweet to be readable in Cassandra",
                lambda: len(seen_at) >= total,
                timeout=max(120.0, args.seconds),
                interval=1.0,
            )
            done.set()
            poller.join(timeout=5)

            latencies = [seen_at[k] - produced_at[k] for k in produced_at]
            report(args, latencies, *batch_overheads(api))
        except BaseException:
            print(tail(stack.log), file=sys.stderr)
            raise
        finally:
            with cassandra_session() as session:
                session.execute(f"DROP KEYSPACE IF EXISTS {stack.keyspace}", timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
