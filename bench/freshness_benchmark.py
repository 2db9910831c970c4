"""Freshness: how long a tweet takes from Kafka to a readable Cassandra row, through Airflow.

Starts the run command's stack on its own home, port, keyspace and topics, unpauses the event-driven
``drain_tweets``, produces a steady stream at each ``--rate`` in turn (same stack, back to back) and
polls Cassandra for a sample of the tweets (at most ``--sample`` a second, the others in a city of
their own, so the poll stays small at 2,000 msg/s). Per rate it prints produce-to-readable
p50/p95/max, the task starts per micro-batch on the workers (the audit log's ``running`` events of
each drain run, so a sensor resumed after its trigger counts as a start; read through the REST API)
with the task instances per run, and Airflow's fixed overhead per batch, next to what a
cron-scheduled drain would give::

    .venv/bin/python bench/freshness_benchmark.py --rate 20 2000 --seconds 120
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools

from devtools.devstack import local_stack, tail
from kafkapipeline.airflow_api import AirflowApi, wait_for

#: The sampled tweets of a rate are in city ``FreshnessBench<rate>``, the others in ``BULK_CITY``.
BENCH_CITY = "FreshnessBench"
BULK_CITY = "FreshnessBulk"
#: The audit-log event Airflow's execution API writes each time a worker starts a task.
TASK_START_EVENT = "running"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Batches:
    """What the drain runs of one rate did: per committed batch its overhead, size and task starts."""

    overheads: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    task_instances: list[int] = field(default_factory=list)


def worker_starts(api: AirflowApi, run_id: str) -> int:
    """How many times a worker started a task of the drain run (resumptions included)."""
    body = api.call(
        "GET",
        "/eventLogs",
        params={"dag_id": "drain_tweets", "run_id": run_id, "event": TASK_START_EVENT, "limit": 100},
    )
    return int(body["total_entries"])


def batches_of(api: AirflowApi, run_ids: Iterable[str]) -> Batches:
    """Per committed batch of ``run_ids``: drain task duration minus the drain's own read+write
    seconds, messages, task starts on the workers and task instances of its run (a run whose drain
    followed on shares its starts among its batches)."""
    found = Batches()
    for run_id in run_ids:
        tis = api.task_instances("drain_tweets", run_id)
        drains = [ti for ti in tis if ti["task_id"] == "drain" and ti.get("state") == "success"]
        read = batches = 0
        for drain in drains:  # one per partition group
            summary = api.xcom("drain_tweets", run_id, "drain", map_index=drain["map_index"])
            read += int(summary["messages_read"])
            batches = max(batches, int(summary.get("batches", 1)))  # a drain that follows on: several
            # A task that followed on also waited for its batches: no overhead to tell apart.
            if drain.get("duration") and int(summary.get("batches", 1)) == 1:
                found.overheads.append(float(drain["duration"]) - float(summary["seconds"]))
        if not drains or not read:
            continue
        starts = worker_starts(api, run_id)
        for _ in range(batches):
            found.sizes.append(read // batches)
            found.starts.append(starts / batches)
            found.task_instances.append(len(tis))
    return found


def successful_runs(api: AirflowApi) -> set[str]:
    """The latest 200 successful drain runs (a rate's runs are told apart by what is new after it)."""
    body = api.call(
        "GET",
        "/dags/drain_tweets/dagRuns",
        params={"state": "success", "order_by": "-run_after", "limit": 200},
    )
    return {run["dag_run_id"] for run in body["dag_runs"]}


def report(
    rate: float, seconds: float, args: argparse.Namespace, latencies: list[float], batches: Batches
) -> None:
    print()
    print(f"rate                        {rate:g} msg/s for {seconds:.0f}s ({len(latencies)} tweets sampled)")
    print(
        f"drain settings              min_batch={args.min_batch} max_wait={args.max_wait}s poll=1s "
        f"follow={args.follow_seconds}s"
    )
    print(
        f"produce -> readable (s)     p50 {percentile(latencies, 0.5):.2f}   "
        f"p95 {percentile(latencies, 0.95):.2f}   max {max(latencies):.2f}"
    )
    if batches.starts:
        print(
            f"task starts per batch       median {statistics.median(batches.starts):g}   "
            f"max {max(batches.starts):g} on the workers; task instances per run median "
            f"{statistics.median(batches.task_instances):g} (over {len(batches.starts)} batches, "
            f"median {statistics.median(batches.sizes):.0f} messages)"
        )
    if batches.overheads:
        print(
            f"Airflow overhead per drain  median {statistics.median(batches.overheads):.2f}s   "
            f"max {max(batches.overheads):.2f}s   (task duration minus the drain's own seconds)"
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


class Poller:
    """Polls Cassandra for the sampled tweets of one city; when each first became readable."""

    def __init__(self, keyspace: str) -> None:
        self.keyspace = keyspace
        self.seen_at: dict[str, float] = {}
        self.city = BENCH_CITY
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        from kafkapipeline.cassandra.session import cassandra_session

        with cassandra_session() as session:
            query = session.prepare(f"SELECT tweet_id FROM {self.keyspace}.tweets WHERE city = ? AND day = ?")
            while not self._done.is_set():
                rows = session.execute(query, (self.city, datetime.now(UTC).date()))
                now = time.monotonic()
                for row in rows:
                    self.seen_at.setdefault(row.tweet_id, now)
                time.sleep(0.2)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def produce_at(rate: float, seconds: float, sample: float, topic: str, poller: Poller) -> dict[str, float]:
    """Produce ``rate`` tweets a second for ``seconds``; when each sampled tweet was produced."""
    from kafkapipeline.kafka.hook import PipelineKafkaHook
    from kafkapipeline.kafka.produce import TopicProducer
    from kafkapipeline.streams.tweets import TweetRecord

    producer = TopicProducer(PipelineKafkaHook().producer(**{"linger.ms": 0}), topic)
    total = int(rate * seconds)
    every = max(1, round(rate / sample))
    city = f"{BENCH_CITY}{rate:g}".replace(".", "_")
    poller.city = city
    produced_at: dict[str, float] = {}
    print(f"producing {total} tweets at {rate:g}/s to {topic} (1 in {every} sampled) ...", flush=True)
    start = time.monotonic()
    for n in range(total):
        target = start + n / rate
        time.sleep(max(0.0, target - time.monotonic()))
        sampled = n % every == 0
        tweet_id = f"fresh-{city}-{n:08d}"
        record = TweetRecord(
            tweet_id=tweet_id,
            text=f"benchmark tweet {n}: lovely sunny day in Vancouver",
            created_at=datetime.now(UTC),
            city=city if sampled else BULK_CITY,
            source="bench",
        )
        if sampled:
            produced_at[tweet_id] = time.monotonic()
        producer.produce(record.to_json(), key=record.key)
    if producer.flush(30) != 0 or producer.report.failed:
        raise RuntimeError(f"not every benchmark message was acknowledged: {producer.report.as_dict()}")
    return produced_at


def measure_rate(stack: Any, rate: float, args: argparse.Namespace, poller: Poller) -> None:
    api = stack.api
    before = successful_runs(api)
    produced_at = produce_at(rate, args.seconds, args.sample, stack.env["KAFKAPIPELINE_TWEETS_TOPIC"], poller)
    wait_for(
        f"every sampled tweet of {rate:g}/s to be readable in Cassandra",
        lambda: all(k in poller.seen_at for k in produced_at),
        timeout=max(180.0, args.seconds),
        interval=1.0,
    )
    time.sleep(5)  # the run that wrote the last rows ends a moment later
    latencies = [poller.seen_at[k] - produced_at[k] for k in produced_at]
    report(rate, args.seconds, args, latencies, batches_of(api, successful_runs(api) - before))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[20.0], help="tweets per second, one run each (default 20)"
    )
    parser.add_argument(
        "--seconds", type=float, default=120.0, help="how long to produce per rate (default 120)"
    )
    parser.add_argument("--max-wait", type=float, default=1.0, help="drain max_wait_seconds (default 1)")
    parser.add_argument("--min-batch", type=int, default=200, help="drain min_batch (default 200)")
    parser.add_argument(
        "--follow-seconds",
        type=int,
        default=None,
        help="KAFKAPIPELINE_DRAIN_FOLLOW_SECONDS: a drain task drains on that long (default: the "
        "setting's, 300; 0: one batch a task)",
    )
    parser.add_argument(
        "--sample",
        type=float,
        default=20.0,
        help="most tweets a second whose freshness is measured (default 20)",
    )
    args = parser.parse_args(argv)
    if args.follow_seconds is None:
        from kafkapipeline.settings import PipelineSettings

        args.follow_seconds = PipelineSettings.model_fields["drain_follow_seconds"].default
    if min(args.rate) <= 0 or args.seconds <= 0 or args.sample <= 0:
        parser.error("--rate, --seconds and --sample must be positive")

    import os

    from kafkapipeline.cassandra.session import cassandra_session

    extra_env = {
        "KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS": str(args.max_wait),
        "KAFKAPIPELINE_DRAIN_MIN_BATCH": str(args.min_batch),
        "KAFKAPIPELINE_DRAIN_POLL_SECONDS": "1",
        "KAFKAPIPELINE_DRAIN_FOLLOW_SECONDS": str(args.follow_seconds),
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
            poller = Poller(stack.keyspace)
            poller.start()
            try:
                for rate in args.rate:
                    measure_rate(stack, rate, args, poller)
            finally:
                poller.stop()
        except BaseException:
            print(tail(stack.log), file=sys.stderr)
            raise
        finally:
            with cassandra_session() as session:
                session.execute(f"DROP KEYSPACE IF EXISTS {stack.keyspace}", timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
