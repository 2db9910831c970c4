"""Drain throughput on the Celery workers with 1, 2 and 3 partition groups, next to the same drain in-process.

For each group count it starts the run command's stack, produces N tweets to a 3-partition topic and lets
one micro-batch drain them all; prints the batch's wall time and rate, each mapped task's drain seconds and
the task start-up cost. On the same stack, before the task and again after it, this process drains the
same messages with ``drain_topic`` (a consumer group and keyspace of its own each time, the sentiment model
preloaded as a worker does; Cassandra flushed and quiet first): the in-process rate, the mean of the two,
printed next to the in-task one with their ratio, so neither side always runs on a Cassandra busier with
the other's rows. The groups share the cores with Kafka, Cassandra and Airflow, so the gain depends on
the cores free::

    .venv/bin/python bench/partition_groups_benchmark.py --messages 100000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devtools.devstack import local_stack, tail
from drain_benchmark import ProcessCpu, load_project_env, make_tweets, produce, settle
from kafkapipeline.airflow_api import wait_for
from kafkapipeline.kafka.hook import PipelineKafkaHook


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def in_process_rate(topic: str, count: int) -> float:
    """Drain ``topic`` again in this process (a group and keyspace of its own): messages per second."""
    from kafkapipeline import settings
    from kafkapipeline.cassandra.migrations import apply_pending
    from kafkapipeline.cassandra.session import cassandra_session
    from kafkapipeline.drain.task import drain_topic
    from kafkapipeline.sentiment import model as sentiment_model
    from kafkapipeline.sentiment.vader import analyzer
    from kafkapipeline.streams.tweets import TWEETS

    analyzer()  # loaded once per process, as a Celery worker loads it before it forks the tasks
    sentiment_model.preload()
    keyspace = f"bench_inproc_{uuid.uuid4().hex[:8]}"
    with cassandra_session() as session:
        apply_pending(session, keyspace, replication=settings.current().replication)
        try:
            started = time.perf_counter()
            summary = drain_topic(
                topic,
                TWEETS,
                # A group the drain's Kafka user may use (its ACLs cover ``<prefix>.drain.*`` only).
                settings.consumer_group("drain", f"bench.inprocess.{keyspace}"),
                count,
                keyspace=keyspace,
                record_batch=False,
            )
            seconds = time.perf_counter() - started
        finally:
            session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    if summary.messages_read != count or not summary.committed:
        raise RuntimeError(f"the in-process drain read {summary.messages_read} messages, expected {count}")
    return count / seconds


def measure(groups: int, values: list[tuple[bytes, bytes]], timeout: float) -> dict[str, Any]:
    """One stack, one drain run of len(values) tweets with ``groups`` partition groups."""
    n = len(values)
    extra = {
        "KAFKAPIPELINE_DRAIN_PARTITION_GROUPS": str(groups),
        "KAFKAPIPELINE_DRAIN_MIN_BATCH": str(n),
        "KAFKAPIPELINE_DRAIN_MAX_MESSAGES": str(n),
        "KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS": "3600",
        "KAFKAPIPELINE_DRAIN_POLL_SECONDS": "1",
        "KAFKAPIPELINE_DRAIN_FOLLOW_SECONDS": "0",  # one batch: its task's wall is that batch's
    }
    with tempfile.TemporaryDirectory(prefix="bench-groups-") as home, local_stack(Path(home), extra) as stack:
        try:
            os.environ.update({k: v for k, v in stack.env.items() if k.startswith("KAFKAPIPELINE_")})
            api = stack.api
            topic = stack.env["KAFKAPIPELINE_TWEETS_TOPIC"]
            produce(PipelineKafkaHook(), topic, values)
            cpu = ProcessCpu()
            settle(cpu, None)
            in_process = [in_process_rate(topic, n)]
            settle(cpu, None)
            api.unpause("drain_tweets")

            def finished_run() -> dict[str, Any] | None:
                done = [r for r in api.runs("drain_tweets") if r["state"] in ("success", "failed")]
                return done[0] if done else None

            run = wait_for("the drain run", finished_run, timeout, interval=3)
            api.pause("drain_tweets")
            if run["state"] != "success":
                raise RuntimeError(f"drain run {run['dag_run_id']} ended {run['state']}")
            tis = [
                t for t in api.task_instances("drain_tweets", run["dag_run_id"]) if t["task_id"] == "drain"
            ]
            tasks = []
            for ti in sorted(tis, key=lambda t: t["map_index"]):
                summary = api.xcom("drain_tweets", run["dag_run_id"], "drain", map_index=ti["map_index"])
                tasks.append(
                    {
                        "start": parse_time(ti["start_date"]),
                        "end": parse_time(ti["end_date"]),
                        "duration": float(ti["duration"]),
                        "drain_seconds": float(summary["seconds"]),
                        "messages": int(summary["messages_read"]),
                        "partitions": sorted(p["partition"] for p in summary["partitions"]),
                    }
                )
            settle(cpu, stack.keyspace)
            in_process.append(in_process_rate(topic, n))
        except Exception:
            print(tail(stack.log), file=sys.stderr)
            raise
    if sum(t["messages"] for t in tasks) != n:
        raise RuntimeError(f"the groups read {sum(t['messages'] for t in tasks)} messages, expected {n}")
    wall = max(t["end"] for t in tasks) - min(t["start"] for t in tasks)
    drain_seconds = max(t["drain_seconds"] for t in tasks)
    return {
        "groups": groups,
        "wall": wall,
        "rate": n / wall,
        "drain_rate": n / drain_seconds,
        "in_process": sum(in_process) / len(in_process),
        "in_process_runs": in_process,
        "tasks": tasks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--messages", type=int, default=100_000, help="tweets per measurement (default 100000)"
    )
    parser.add_argument(
        "--groups", type=int, nargs="+", default=[1, 2, 3], help="group counts (default 1 2 3)"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each drain run")
    args = parser.parse_args(argv)
    load_project_env()
    tweets, origin = make_tweets(args.messages)
    values = [(t.key, t.to_json()) for t in tweets]
    print(f"{args.messages} tweets ({origin}), {os.cpu_count()} CPUs, Celery workers of the run command")
    results = []
    for groups in args.groups:
        started = time.monotonic()
        result = measure(groups, values, args.timeout)
        results.append(result)
        print(f"  {groups} group(s) measured in {time.monotonic() - started:.0f}s (stack start included)")
    print()
    print("in-task: the batch's wall time on the workers (task starts included) and the drain's own")
    print("seconds inside its task(s); in-process: this process draining the same messages, one consumer,")
    print("the mean of a run before the task and one after it (both shown)")
    header = "per task: drain s / start-up s (partitions)"
    print(
        f"{'groups':>6} {'batch wall s':>12} {'in-task msg/s':>13} {'in its task':>11} "
        f"{'in-process':>10} {'before/after':>15} {'wall/proc':>9} {'task/proc':>9} {header}"
    )
    for r in results:
        per_task = ", ".join(
            f"{t['drain_seconds']:.1f}/{t['duration'] - t['drain_seconds']:.1f} {t['partitions']}"
            for t in r["tasks"]
        )
        print(
            f"{r['groups']:>6} {r['wall']:>12.1f} {r['rate']:>13,.0f} {r['drain_rate']:>11,.0f} "
            f"{r['in_process']:>10,.0f} {' / '.join(f'{v:,.0f}' for v in r['in_process_runs']):>15} "
            f"{r['rate'] / r['in_process']:>9.0%} "
            f"{r['drain_rate'] / r['in_process']:>9.0%} {per_task}"
        )
    one = results[0]["rate"]
    for r in results[1:]:
        print(f"  {r['groups']} groups / {results[0]['groups']}: {r['rate'] / one:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
