"""Benchmark the tweet drain against a write-only ceiling and the naive per-message pattern.

The same N tweets land three ways, each in its own keyspace: ``drain`` (drain_topic, timed per stage),
``ceiling`` (finished rows written by ``execute_concurrent_with_args``, and by the drain's own writer) and
``naive`` (ConsumeFromTopicOperator with a synchronous write per message). ``--rounds`` repeats the drain
and its write path in alternating pairs and reports medians, since one pair is mostly noise on a small
machine; each way also prints the CPU per message of this process, Kafka and Cassandra. Services running::

    .venv/bin/python bench/drain_benchmark.py --messages 100000
    .venv/bin/python bench/drain_benchmark.py --skip naive --metrics off   # then --metrics on, back to back
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

CITIES = ["London", "Paris", "Vancouver", "Tokyo", "Berlin", "Madrid", "Toronto", "Sydney"]
POSITIVE = [
    "love",
    "great",
    "sunny",
    "happy",
    "amazing",
    "beautiful",
    "nice",
    "good",
    "best",
    "fun",
    "wonderful",
]
NEGATIVE = ["hate", "awful", "rain", "sad", "terrible", "cold", "bad", "worst", "angry", "horrible", "grey"]
NEUTRAL = [
    "today", "weather", "walk", "bus", "coffee", "office", "park", "street", "morning", "evening",
    "city", "train", "lunch", "friends", "weekend", "forecast", "outside", "people", "traffic", "news",
]  # fmt: skip


def load_project_env() -> None:
    """The same environment the tests and the DAGs use (scripts/env.sh); the caller's values win."""
    output = subprocess.run(
        ["bash", "-c", f". {REPO_ROOT / 'scripts' / 'env.sh'} && env -0"],
        check=True,
        capture_output=True,
    ).stdout
    for entry in output.split(b"\0"):
        key, sep, value = entry.decode().partition("=")
        if sep and key.startswith(("AIRFLOW", "KAFKAPIPELINE", "KAFKA_", "CASSANDRA_")):
            os.environ.setdefault(key, value)
    plugins = str(REPO_ROOT / "plugins")
    if plugins not in sys.path:
        sys.path.insert(0, plugins)


def reference_texts() -> list[str]:
    """Real tweet texts from the shared reference data when it is there (VADER's cost depends on
    the text: real tweets hold fewer lexicon words than made-up ones); empty otherwise."""
    from kafkapipeline.sentiment.model.evaluation import reference_data_dir

    seed = reference_data_dir() / "seed_tweets_vancouver_2021.csv"
    if not seed.is_file():
        return []
    with seed.open(encoding="utf-8", newline="") as handle:
        return [row[0] for row in csv.reader(handle) if row and row[0].strip()]


def busy(seconds: float) -> None:
    """Keep this process's main thread busy (holding the GIL) for ``seconds``, as decoding and scoring do."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


def make_tweets(count: int, seed: int = 7) -> tuple[list[Any], str]:
    """Deterministic tweets with distinct ids and texts (8 cities over 2 days) and where the texts came from.

    Texts are real tweets from the reference data, cycled, each made unique with a suffix; without
    the reference data they are generated from a small vocabulary with a mix of sentiments.
    """
    from kafkapipeline.streams.tweets import TweetRecord

    rng = random.Random(seed)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    real = reference_texts()
    words = POSITIVE + NEGATIVE + NEUTRAL * 6
    tweets = []
    for i in range(count):
        text = real[i % len(real)] if real else " ".join(rng.choice(words) for _ in range(rng.randint(6, 24)))
        tweets.append(
            TweetRecord(
                tweet_id=str(1_700_000_000_000_000_000 + i),
                text=f"{text} #{i}",
                created_at=start + timedelta(seconds=i * 172_800 / max(count, 1)),
                city=CITIES[i % len(CITIES)],
                lang="en",
                author_id=str(rng.randint(1, 50_000)),
                retweet_count=rng.randint(0, 50),
                reply_count=rng.randint(0, 10),
                like_count=rng.randint(0, 500),
                quote_count=rng.randint(0, 5),
                source="benchmark",
            )
        )
    origin = f"{len(real)} real tweet texts from the reference data, cycled" if real else "generated texts"
    return tweets, origin


def produce(hook: Any, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    """Produce through the pipeline's own producer; raises if Kafka did not acknowledge every one."""
    from kafkapipeline.kafka.produce import TopicProducer

    with TopicProducer(hook.producer(), topic, queue_wait=60, flush_timeout=120) as producer:
        for key, value in values:
            producer.produce(value, key)


def _drain_group(name: str) -> str:
    """A consumer group the drain's Kafka user may use (its ACLs cover ``<prefix>.drain.*`` only)."""
    from kafkapipeline import settings

    return settings.consumer_group("drain", name)


def _drain_partition(topic: str, group_id: str, keyspace: str, partition: int, queue: Any) -> None:
    """One process of the per-partition way (what one mapped task per partition would do)."""
    load_project_env()
    from kafkapipeline.drain import task as drain
    from kafkapipeline.sentiment import model as sentiment_model
    from kafkapipeline.sentiment.vader import analyzer
    from kafkapipeline.streams.tweets import TWEETS

    analyzer()
    sentiment_model.preload()
    queue.put(("ready", partition))
    summary = drain.drain_topic(
        topic, TWEETS, group_id, 10_000_000, partitions=[partition], keyspace=keyspace
    )
    queue.put(("done", summary.messages_read))


class ProcessCpu:
    """CPU seconds of this process and of each local Kafka and Cassandra JVM (read from /proc).

    The drain, Kafka and Cassandra share the machine's cores, so a rate alone does not say where a
    message's time went: per-process CPU per message does (and whether the cores were saturated).
    """

    TICKS = os.sysconf("SC_CLK_TCK")

    def __init__(self) -> None:
        state = Path(os.environ.get("KAFKAPIPELINE_STATE", REPO_ROOT / ".state"))
        run = state / "cluster" / "run" if os.environ.get("KAFKAPIPELINE_CLUSTER") == "1" else state / "run"
        self.pids: dict[str, int] = {}
        for pidfile in sorted(run.glob("*.pid")):
            if pidfile.stem.startswith(("kafka", "cassandra")):
                try:
                    self.pids[pidfile.stem] = int(pidfile.read_text())
                except ValueError:
                    continue

    def sample(self) -> dict[str, float]:
        """CPU seconds so far: ``python`` (this process, all threads), ``kafka`` and ``cassandra`` (all
        members summed)."""
        seconds = {"python": time.process_time(), "kafka": 0.0, "cassandra": 0.0}
        for name, pid in self.pids.items():
            try:
                seconds[name.split("-")[0]] += self.stat_seconds(Path(f"/proc/{pid}/stat"))
            except OSError:
                continue
        return seconds

    @classmethod
    def stat_seconds(cls, stat: Path) -> float:
        """User plus system CPU seconds from a /proc ``stat`` file (a process's or one thread's)."""
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / cls.TICKS

    #: Cassandra's thread names (as /proc shows them, 15 characters) by role. Request stages share
    #: one pool whose threads take the name of the stage they serve, so they are one role here.
    THREAD_ROLES = (
        ("requests", ("MutationStage", "Native-Transpor", "ReadStage", "RequestResponse", "CounterMutation")),
        ("network", ("epollEventLoop", "nioEventLoop")),
        ("GC", ("GC Thread", "G1 ", "VM Thread")),
        ("JIT", ("C1 Compiler", "C2 Compiler")),
    )

    @classmethod
    def role_of(cls, comm: str) -> str:
        """The role of a Cassandra thread named ``comm``: one of THREAD_ROLES, else "other"."""
        return next((role for role, prefixes in cls.THREAD_ROLES if comm.startswith(prefixes)), "other")

    def cassandra_threads(self) -> dict[tuple[int, str], tuple[str, float]]:
        """CPU seconds so far of every live Cassandra thread, with its role; ``(pid, "all")`` is
        each process's total, threads that exited included (the difference is role "other")."""
        threads: dict[tuple[int, str], tuple[str, float]] = {}
        for name, pid in self.pids.items():
            if not name.startswith("cassandra"):
                continue
            try:
                threads[(pid, "all")] = ("all", self.stat_seconds(Path(f"/proc/{pid}/stat")))
            except OSError:
                continue
            for task in Path(f"/proc/{pid}/task").iterdir():
                try:
                    comm = (task / "comm").read_text()
                    seconds = self.stat_seconds(task / "stat")
                except OSError:
                    continue  # exited meanwhile: counted in the process total
                threads[(pid, task.name)] = (self.role_of(comm), seconds)
        return threads

    @staticmethod
    def by_role(
        before: dict[tuple[int, str], tuple[str, float]], after: dict[tuple[int, str], tuple[str, float]]
    ) -> dict[str, float]:
        """CPU seconds per role between two :meth:`cassandra_threads` samples."""
        roles: dict[str, float] = {}
        for key, (role, seconds) in after.items():
            roles[role] = roles.get(role, 0.0) + seconds - before.get(key, (role, 0.0))[1]
        total = roles.pop("all", 0.0)
        roles["other"] = roles.get("other", 0.0) + total - sum(roles.values())
        return roles

    def cassandra_busy(self, seconds: float = 1.0) -> float:
        """Cores Cassandra used over the next ``seconds``."""
        before = self.sample()["cassandra"]
        time.sleep(seconds)
        return (self.sample()["cassandra"] - before) / seconds


def settle(cpu: ProcessCpu, keyspace: str | None) -> None:
    """Flush what a way wrote and wait for Cassandra to go quiet, outside every timed window.

    Otherwise a later way pays for its predecessor's flushes and compactions.
    """
    if keyspace:
        nodes = len([p for p in cpu.pids if p.startswith("cassandra")]) or 1
        cluster = os.environ.get("KAFKAPIPELINE_CLUSTER") == "1"
        for node in range(1, nodes + 1):
            where = ["--cluster", "--node", str(node)] if cluster else []
            subprocess.run(
                [str(REPO_ROOT / "scripts" / "services"), "nodetool", *where, "--", "flush", keyspace],
                check=False,
                capture_output=True,
                timeout=300,
            )
    deadline = time.monotonic() + 120
    while cpu.cassandra_busy() > 0.15 and time.monotonic() < deadline:
        pass


class Benchmark:
    """The ways to land the same tweets, each timed and checked (every row must be there)."""

    WAYS = ("drain", "ceiling", "ceiling_batched", "naive", "per_partition")

    def __init__(self, args: argparse.Namespace) -> None:
        from kafkapipeline.cassandra import writer as cassandra_writer
        from kafkapipeline.drain import options as drain_options
        from kafkapipeline.kafka.hook import PipelineKafkaHook

        self.args = args
        self.n = args.messages
        self.naive_n = min(args.naive_messages or self.n, self.n)
        self.stages: dict[str, float] = {}
        self.options = drain_options.DrainOptions(
            concurrency=args.concurrency or cassandra_writer.DEFAULT_CONCURRENCY,
            consume_batch=args.consume_batch or drain_options.DEFAULT_CONSUME_BATCH,
            max_batch_rows=args.batch_rows or cassandra_writer.DEFAULT_MAX_BATCH_ROWS,
        )
        self.run_id = uuid.uuid4().hex[:8]
        self.topic = f"bench_tweets_{self.run_id}"
        self.keyspaces = {way: f"bench_{way}_{self.run_id}" for way in self.WAYS}
        self.hook = PipelineKafkaHook()
        self.admin = self.hook.admin()
        self.values: list[tuple[bytes, bytes]] = []
        self.results: dict[str, float] = {}
        self.rounds: dict[str, list[float]] = {}
        self.round_stages: list[dict[str, float]] = []
        self.round = 0
        self.dropped_later: list[str] = []
        self.session: Any = None
        self.cpu = ProcessCpu()
        #: Per way, per round: CPU microseconds per message of each process group.
        self.cpu_rounds: dict[str, list[dict[str, float]]] = {}
        #: Per way, per round: Cassandra's CPU microseconds per message by thread role.
        self.cassandra_roles: dict[str, list[dict[str, float]]] = {}
        #: Per way, per round: the Cassandra requests its rows took (the batched writer's ways).
        self.requests: dict[str, list[int]] = {}

    #: The ways timed once per round, each into a keyspace of its own per round.
    REPEATED = ("drain", "ceiling_batched")

    def round_keyspace(self, way: str, number: int) -> str:
        return f"bench_{way}_{self.run_id}" + (f"_r{number}" if number else "")

    def create_keyspaces(self, rounds: int) -> None:
        """Every keyspace of every round, before anything is timed, then a quiet Cassandra.

        Creating a round's keyspaces between rounds left their schema changes' work (and garbage)
        to whichever way ran first in that round.
        """
        from kafkapipeline import settings
        from kafkapipeline.cassandra.migrations import apply_pending

        replication = settings.current().replication
        for keyspace in self.keyspaces.values():
            apply_pending(self.session, keyspace, replication=replication)
        for number in range(1, rounds):
            for way in self.REPEATED:
                self.dropped_later.append(self.round_keyspace(way, number))
                apply_pending(self.session, self.dropped_later[-1], replication=replication)
        if not self.args.no_settle:
            settle(self.cpu, None)

    def start_round(self, number: int) -> None:
        """Point the repeated ways at this round's keyspaces, so no round writes over another's rows."""
        self.round = number
        for way in self.REPEATED:
            self.keyspaces[way] = self.round_keyspace(way, number)

    def timed(self, way: str, label: str, count: int, fn: Callable[[], Any]) -> Any:
        print(f"  running {label} ...", flush=True)
        threads_before = self.cpu.cassandra_threads()
        cpu_before = self.cpu.sample()
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
        cpu = {k: 1e6 * (v - cpu_before[k]) / count for k, v in self.cpu.sample().items()}
        roles = self.cpu.by_role(threads_before, self.cpu.cassandra_threads())
        self.cpu_rounds.setdefault(way, []).append(cpu)
        self.cassandra_roles.setdefault(way, []).append({k: 1e6 * v / count for k, v in roles.items()})
        self.rounds.setdefault(way, []).append(count / seconds)
        self.results[way] = statistics.median(self.rounds[way])
        used = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        print(f"    {count} messages in {seconds:.2f}s; CPU us per message: {used}", flush=True)
        if not self.args.no_settle:
            settle(self.cpu, self.keyspaces.get(way))
        return result

    def count_rows(self, way: str) -> int:
        return self.session.execute(f"SELECT count(*) FROM {self.keyspaces[way]}.tweets", timeout=120).one()[
            0
        ]

    def expect_rows(self, way: str, expected: int) -> None:
        rows = self.count_rows(way)
        if rows != expected:
            raise RuntimeError(f"{way}: the table holds {rows} rows, expected {expected}")

    def setup(self) -> None:
        from kafkapipeline import settings
        from kafkapipeline.kafka.topics import TopicSpec, ensure_topics
        from kafkapipeline.sentiment import model as sentiment_model
        from kafkapipeline.sentiment.vader import analyzer

        tweets, text_origin = make_tweets(self.n)
        print(f"  texts: {text_origin}")
        self.values = [(t.key, t.to_json()) for t in tweets]
        replicas = settings.current().topic_replication_factor
        ensure_topics(
            self.admin,
            [
                # KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR / _REPLICATION: 3 on a cluster, as bootstrap.
                TopicSpec(self.topic, self.args.partitions, 3_600_000, replicas),
                TopicSpec(settings.dead_letter_topic(self.topic), 1, 3_600_000, replicas),
            ],
        )
        started = time.perf_counter()
        produce(self.hook, self.topic, self.values)
        print(
            f"  produced {self.n} messages in {time.perf_counter() - started:.1f}s (not part of any figure)"
        )
        analyzer()  # the lexicon loads once per process, not per message: keep it out of every figure
        # As a Celery worker does before it forks the drain tasks (kafkapipeline.runtime.celery_config).
        sentiment_model.preload()
        print(f"  sentiment model: {sentiment_model.MODEL_NAME}, {sentiment_model.kernel_in_use()} scoring")

    def run_drain(self) -> None:
        from kafkapipeline.drain import task as drain
        from kafkapipeline.streams.tweets import TWEETS

        summary = self.timed(
            "drain",
            "drain (Kafka -> decode/validate -> score -> Cassandra -> commit)",
            self.n,
            lambda: drain.drain_topic(
                self.topic,
                TWEETS,
                _drain_group(f"bench.{self.run_id}.r{self.round}"),
                self.n,
                keyspace=self.keyspaces["drain"],
                options=self.options,
                record_batch=False,
            ),
        )
        if summary.rows_written != self.n or not summary.committed:
            raise RuntimeError(f"drain wrote {summary.rows_written} rows, expected {self.n}")
        self.requests.setdefault("drain", []).append(summary.write_requests)
        self.round_stages.append(summary.stage_microseconds_per_message())
        self.stages = {
            stage: statistics.median(r[stage] for r in self.round_stages if stage in r)
            for stage in self.round_stages[0]
        }
        self.expect_rows("drain", self.n)

    def finished_rows(self) -> list[tuple[Any, ...]]:
        from kafkapipeline.streams.tweets import TweetRecord, tweet_row

        ingested_at = datetime.now(UTC)
        return [tweet_row(TweetRecord.from_json(v), ingested_at) for _, v in self.values]

    def run_ceilings(self) -> None:
        from cassandra.concurrent import execute_concurrent_with_args

        from kafkapipeline.cassandra import writer as cassandra_writer
        from kafkapipeline.streams.tweets import TWEETS_TABLE

        rows = self.finished_rows()
        unset_rows = [cassandra_writer.unset_nulls(row) for row in rows]  # exactly what the drain binds
        statement = self.session.prepare(TWEETS_TABLE.drain_spec.insert_cql(self.keyspaces["ceiling"]))
        outcome = self.timed(
            "ceiling",
            "ceiling (finished rows, execute_concurrent_with_args, one row per request)",
            self.n,
            lambda: execute_concurrent_with_args(
                self.session,
                statement,
                unset_rows,
                concurrency=max(self.options.concurrency, 100),
                raise_on_first_error=False,
                results_generator=False,
            ),
        )
        failed = sum(1 for ok, _ in outcome if not ok)
        if failed:
            raise RuntimeError(f"ceiling: {failed} writes failed")
        self.expect_rows("ceiling", self.n)

    def run_write_path(self) -> None:
        from kafkapipeline.cassandra import writer as cassandra_writer
        from kafkapipeline.cassandra.outcome import WriteOutcome
        from kafkapipeline.streams.tweets import TWEETS_TABLE

        rows = self.finished_rows()

        def write_batched() -> WriteOutcome:
            writer = cassandra_writer.ConcurrentRowWriter(
                self.session,
                self.keyspaces["ceiling_batched"],
                TWEETS_TABLE.drain_spec,
                concurrency=self.options.concurrency,
                max_batch_rows=self.options.max_batch_rows,
            )
            step, gap = self.options.consume_batch, self.args.write_gap_ms / 1000
            for i in range(0, self.n, step):
                writer.write(rows[i : i + step])
                if gap:
                    busy(gap)
            return writer.flush()

        outcome = self.timed(
            "ceiling_batched",
            "ceiling of the drain's write path (same rows, its batched writer"
            + (f", {self.args.write_gap_ms:g} ms busy after each chunk)" if self.args.write_gap_ms else ")"),
            self.n,
            write_batched,
        )
        if not outcome.ok:
            raise RuntimeError(f"batched ceiling: {outcome.describe_failure()}")
        self.requests.setdefault("ceiling_batched", []).append(outcome.requests)
        self.expect_rows("ceiling_batched", self.n)

    def run_naive(self) -> None:
        from airflow.providers.apache.kafka.operators.consume import ConsumeFromTopicOperator

        from kafkapipeline.cassandra import writer as cassandra_writer
        from kafkapipeline.streams.tweets import TWEETS_TABLE, TweetRecord, tweet_row

        # The provider's consumer settings come from the connection extra, group id included.
        extra = self.hook.consumer_config(f"bench.naive.{self.run_id}", **{"enable.partition.eof": False})
        os.environ["AIRFLOW_CONN_BENCH_NAIVE_KAFKA"] = json.dumps({"conn_type": "kafka", "extra": extra})
        insert = self.session.prepare(TWEETS_TABLE.drain_spec.insert_cql(self.keyspaces["naive"]))
        ingested_at = datetime.now(UTC)
        session = self.session

        def write_one(message: Any) -> None:
            record = TweetRecord.from_json(message.value())
            session.execute(insert, cassandra_writer.unset_nulls(tweet_row(record, ingested_at)))

        naive_consume = ConsumeFromTopicOperator(
            task_id="naive_consume",
            topics=[self.topic],
            kafka_config_id="bench_naive_kafka",
            apply_function=write_one,
            commit_cadence="end_of_batch",
            max_messages=self.naive_n,
            max_batch_size=1000,
            poll_timeout=10,
        )
        label = "naive (provider ConsumeFromTopicOperator, synchronous INSERT per message)"
        if self.naive_n != self.n:
            label += f" on {self.naive_n} messages"
        self.timed("naive", label, self.naive_n, lambda: naive_consume.execute({}))
        self.expect_rows("naive", self.naive_n)

    def run_per_partition(self) -> None:
        """One process per partition, started before the clock (mapped tasks would pay more to start)."""
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        processes = [
            context.Process(
                target=_drain_partition,
                args=(
                    self.topic,
                    _drain_group(f"bench.pp.{self.run_id}"),
                    self.keyspaces["per_partition"],
                    p,
                    queue,
                ),
            )
            for p in range(self.args.partitions)
        ]
        for process in processes:
            process.start()
        for _ in processes:
            queue.get(timeout=120)

        def wait_all() -> int:
            total = sum(queue.get(timeout=3600)[1] for _ in processes)
            for process in processes:
                process.join(timeout=60)
            return total

        label = f"per-partition processes ({self.args.partitions} drains side by side, start-up excluded)"
        total = self.timed("per_partition", label, self.n, wait_all)
        if total != self.n:
            raise RuntimeError(f"per-partition drains read {total} messages, expected {self.n}")
        self.expect_rows("per_partition", self.n)

    def drop_keyspaces(self) -> None:
        for keyspace in {*self.keyspaces.values(), *self.dropped_later}:
            self.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)

    def delete_topics(self) -> None:
        from kafkapipeline import settings

        futures = self.admin.delete_topics(
            [self.topic, settings.dead_letter_topic(self.topic)], operation_timeout=30
        )
        for future in futures.values():
            try:
                future.result(timeout=30)
            except Exception as err:
                print(f"  could not delete a benchmark topic: {err}")

    def report_cpu(self, labels: dict[str, str]) -> None:
        """Median CPU per message of each way, per process group, against the cores' capacity."""
        if not self.cpu_rounds:
            return
        cores = os.cpu_count() or 1
        print()
        print(f"CPU microseconds per message (medians; {cores} cores: 1e6/rate x {cores} is what they hold):")
        print(f"  {'':<48} {'python':>8} {'cassandra':>9} {'kafka':>7} {'of':>7}")
        for way, rounds in self.cpu_rounds.items():
            median = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
            capacity = 1e6 / self.results[way] * cores
            label = labels.get(way, way)[:48]
            print(
                f"  {label:<48} {median['python']:>8.1f} {median['cassandra']:>9.1f} "
                f"{median['kafka']:>7.1f} {capacity:>7.1f}"
            )
        print("Cassandra's CPU microseconds per message by thread role (medians):")
        for way, rounds in self.cassandra_roles.items():
            roles = [role for role, _ in ProcessCpu.THREAD_ROLES] + ["other"]
            split = ", ".join(
                f"{role} {statistics.median(r.get(role, 0.0) for r in rounds):.1f}" for role in roles
            )
            print(f"  {labels.get(way, way)[:48]:<48} {split}")
        for way, counts in self.requests.items():
            requests = statistics.median(counts)
            print(
                f"  {labels.get(way, way)[:48]:<48} {requests:,.0f} requests, "
                f"{self.n / requests:.1f} rows each (median of rounds)"
            )
        pairs = list(
            zip(
                (r["cassandra"] for r in self.cpu_rounds.get("drain", [])),
                (r["cassandra"] for r in self.cpu_rounds.get("ceiling_batched", [])),
                strict=False,
            )
        )
        if pairs:
            paired = statistics.median(drained / written for drained, written in pairs)
            print(
                f"  Cassandra per message, drain / write path, median of rounds (target <=1.20): {paired:.2f}"
            )

    def report(self) -> None:
        results, n = self.results, self.n
        extrapolated = " (smaller sample)" if self.naive_n != n else ""
        labels = {
            "drain": "drain (this pipeline)",
            "ceiling": "ceiling: write-only, one row per request",
            "ceiling_batched": "ceiling: write-only, the drain's batched writer",
            "naive": f"naive: provider operator, sync INSERT per message{extrapolated}",
            "per_partition": "drain, one process per partition",
        }
        print()
        print(f"Results, messages/s ({n} messages, {os.cpu_count()} CPUs):")
        for key, label in labels.items():
            if key in results:
                print(f"  {label:<60} {results[key]:>9,.0f}")
        pairs = list(zip(self.rounds.get("drain", []), self.rounds.get("ceiling_batched", []), strict=False))
        if len(pairs) > 1:
            print("  (medians of the rounds; each round's drain / write path:)")
            for number, (drained, written) in enumerate(pairs, 1):
                print(f"    round {number}: {drained:>9,.0f} / {written:>9,.0f} = {drained / written:.0%}")
        self.report_cpu(labels)
        if "drain" not in results:
            return
        drain_rate = results["drain"]
        print()
        print("Drain stages, microseconds per message (timed per consumed chunk):")
        stage_labels = {
            "consume": "consume (librdkafka)",
            "decode": "decode and validate",
            "rows": "score the batch and build rows",
            "write": "bind and send (blocks while the window is full)",
            "flush": "await the last writes",
            "commit": "commit (Kafka transaction)",
        }
        for stage, label in stage_labels.items():
            if stage in self.stages:
                print(f"  {label:<60} {self.stages[stage]:>9.1f}")
        print(f"  {'whole drain':<60} {1e6 / drain_rate:>9.1f}")
        print()
        ratios = [
            ("ceiling", "drain / ceiling, row per request (target >= 80%)", "{:.0%}"),
            ("ceiling_batched", "drain / ceiling, drain's write path (medians)", "{:.1%}"),
            ("naive", "drain / naive (target >= 5x)", "{:.1f}x"),
            ("per_partition", "one consumer / one process per partition", "{:.2f}x"),
        ]
        for key, label, fmt in ratios:
            if key in results:
                print(f"  {label:<60} {fmt.format(drain_rate / results[key]):>9}")
        pairs = list(zip(self.rounds.get("drain", []), self.rounds.get("ceiling_batched", []), strict=False))
        if len(pairs) > 1:
            # Each round's pair ran back to back (alternating which went first): the median of the
            # pairs' ratios is the paired figure; the line above divides medians of different rounds.
            paired = statistics.median(drained / written for drained, written in pairs)
            print(f"  {'drain / drain write path, median of the rounds (target >= 65%)':<60} {paired:>9.0%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000, help="tweets to land (default 100000)")
    parser.add_argument("--naive-messages", type=int, default=None, help="measure naive on fewer messages")
    parser.add_argument("--partitions", type=int, default=3, help="partitions of the benchmark topic")
    parser.add_argument("--concurrency", type=int, default=None, help="Cassandra requests in flight")
    parser.add_argument("--consume-batch", type=int, default=None, help="messages per consume() call")
    parser.add_argument("--batch-rows", type=int, default=None, help="rows per single-partition batch")
    parser.add_argument(
        "--write-gap-ms",
        type=float,
        default=0.0,
        help="the write path keeps its main thread busy this long after each chunk, as the drain "
        "does while it decodes and scores the next one (is Cassandra's extra CPU in the drain the "
        "bursts its requests come in?)",
    )
    parser.add_argument("--skip", action="append", default=[], choices=["drain", "ceiling", "naive"])
    parser.add_argument(
        "--per-partition", action="store_true", help="also time one drain process per partition"
    )
    parser.add_argument("--keep", action="store_true", help="keep the topic and keyspaces")
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="do not flush and wait for a quiet Cassandra after each way (faster, noisier)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="drain/write-path pairs timed (medians reported; default 3)"
    )
    parser.add_argument(
        "--metrics",
        choices=["on", "off"],
        default=None,
        help="KAFKAPIPELINE_METRICS for the drains (StatsD per batch; default: the environment's); "
        "run once each, back to back, to see what emitting costs",
    )
    args = parser.parse_args(argv)
    if args.messages < 1 or args.partitions < 1 or args.rounds < 1:
        parser.error("--messages, --partitions and --rounds must be at least 1")
    if args.write_gap_ms < 0:
        parser.error("--write-gap-ms must not be negative")

    if args.metrics:  # before the project's environment, which only fills in unset variables
        os.environ["KAFKAPIPELINE_METRICS"] = args.metrics
    load_project_env()
    from kafkapipeline import settings
    from kafkapipeline.cassandra.session import cassandra_session

    bench = Benchmark(args)
    print(f"Drain benchmark: {bench.n} tweets, topic {bench.topic} ({args.partitions} partitions)")
    print(f"  drain options: {bench.options}")
    chosen = settings.current()
    target = f"on, StatsD to {chosen.statsd_host}:{chosen.statsd_port}" if chosen.metrics else "off"
    print(f"  metrics: {target}")
    try:
        bench.setup()
        with cassandra_session() as session:
            bench.session = session
            try:
                bench.create_keyspaces(args.rounds)
                for number in range(args.rounds):
                    bench.start_round(number)
                    pair = [way for way in ("drain", "ceiling") if way not in args.skip]
                    for way in pair if number % 2 == 0 else reversed(pair):
                        if way == "drain":
                            bench.run_drain()
                        else:
                            bench.run_write_path()
                if "ceiling" not in args.skip:
                    bench.run_ceilings()  # row per request: once, it is far slower
                if "naive" not in args.skip:
                    bench.run_naive()
                if args.per_partition:
                    bench.run_per_partition()
            finally:
                if not args.keep:
                    bench.drop_keyspaces()
    finally:
        if not args.keep:
            bench.delete_topics()
    bench.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
