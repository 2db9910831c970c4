"""Failover on the 3-broker, 3-node cluster, with real processes killed by SIGKILL mid-work.

Each test uses its own topic (3 partitions, RF 3) and keyspace (RF 3, LOCAL_QUORUM writes),
kills at a known point (the drain's ``on_rows_acknowledged`` callback, or between the ingest
producer's sends and its flush), and reports how long the pipeline stalled (``cluster.report_stall``: the
end-of-run table): the longest gap without progress (rows acknowledged, a drain attempt ending, a
flush returning) from the kill to the end. With a member down, the cluster figures
``pipeline_health`` writes turn ``fail`` (offline broker, down node), and ``ok`` once it is back.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import pytest
from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement

from kafkapipeline import settings
from kafkapipeline.drain import drainer
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.task import drain_topic
from kafkapipeline.health.report import FAIL, METRIC_DOWN_NODES, METRIC_OFFLINE_BROKERS, OK
from kafkapipeline.kafka.produce import TopicProducer
from kafkapipeline.kafka.transaction import DrainError, transactional_id_for
from kafkapipeline.streams.tweets import TWEETS
from tests.cluster.conftest import RF3, cassandra_hosts
from tests.cluster.failover_support import ensure_transaction_state, transaction_coordinator, wait_for_health
from tests.integration.drain_support import committed_offsets, end_offsets, produce_records, read_all, tweets

pytestmark = pytest.mark.cluster

#: Small consume batches and Cassandra batches: the drain is still reading when the kill comes.
OPTIONS = DrainOptions(consume_batch=50, concurrency=4, max_batch_rows=4, idle_timeout=20)
#: A small prefetch: the consumer holds about 64 KiB ahead (~200 tweets) instead of every message
#: from the start, so most are fetched after a broker's kill, from the partitions' new leaders.
PREFETCH_KIB = 64
SMALL_PREFETCH = drainer.DRAIN_CONSUMER_SETTINGS | {
    "queued.min.messages": 1,
    "queued.max.messages.kbytes": PREFETCH_KIB,
    "max.partition.fetch.bytes": 16 * 1024,
}


class Progress:
    """Timestamps of the pipeline's progress, to measure the stall after a kill."""

    def __init__(self) -> None:
        self.rows = 0
        self.rows_after_kill = 0
        self.times: list[float] = []
        self.killed_at: float | None = None

    def ack(self, rows: int) -> None:
        self.rows += rows
        if self.killed_at is not None:
            self.rows_after_kill += rows
        self.times.append(time.monotonic())

    def stall(self, end: float) -> float:
        assert self.killed_at is not None, "nothing was killed"
        points = [self.killed_at, *(t for t in self.times if t > self.killed_at), end]
        return max(b - a for a, b in itertools.pairwise(points))


def leader_of(kafka_hook, topic: str, partition: int) -> int:
    return kafka_hook.admin().list_topics(topic, timeout=10).topics[topic].partitions[partition].leader


def ids_at(cassandra, keyspace: str, level: int = ConsistencyLevel.QUORUM) -> list[str]:
    """Every row at ``level``; a read timing out on a replica gossip has not yet marked down is repeated."""
    from cassandra import OperationTimedOut, ReadTimeout, Unavailable

    query = f"SELECT tweet_id FROM {keyspace}.tweets"
    statement = SimpleStatement(query, fetch_size=1000, consistency_level=level)
    for attempt in range(5):
        try:
            return [row.tweet_id for row in cassandra.execute(statement, timeout=60)]
        except (ReadTimeout, OperationTimedOut, Unavailable):
            if attempt == 4:
                raise
            time.sleep(3)
    raise AssertionError("unreachable")


def ids_on_node(host: str, keyspace: str) -> list[str]:
    """The rows node ``host`` holds itself: it coordinates a CL ONE read and reads its own replica first."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([host]),
        consistency_level=ConsistencyLevel.ONE,
        request_timeout=60,
    )
    conn = json.loads(os.environ["AIRFLOW_CONN_CASSANDRA_DEFAULT"])  # the pipeline's login
    driver = Cluster(
        [host],
        port=int(os.environ.get("CASSANDRA_PORT", "9042")),
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        auth_provider=PlainTextAuthProvider(conn["login"], conn["password"]),
    )
    try:
        session = driver.connect()
        statement = SimpleStatement(f"SELECT tweet_id FROM {keyspace}.tweets", fetch_size=1000)
        return [row.tweet_id for row in session.execute(statement)]
    finally:
        driver.shutdown()


def drain_until_done(
    kafka_hook, topic: str, group: str, keyspace: str, *, first, progress: Progress
) -> tuple[list[str], int | None]:
    """Drain, and retry as Airflow would, until every offset is committed; returns each attempt's
    outcome and the index of the attempt during which the kill came."""
    attempts: list[str] = []
    spanning: int | None = None
    for index in range(4):
        killed_before = progress.killed_at is not None
        try:
            summary = drain_topic(
                topic,
                TWEETS,
                group,
                100_000,
                keyspace=keyspace,
                options=OPTIONS,
                # The failure is injected in the first attempt that gets far enough (an attempt
                # can end early, e.g. on a broker's hiccup, and its retry starts over).
                on_rows_acknowledged=first if progress.killed_at is None else progress.ack,
            )
            attempts.append(f"ok: read {summary.messages_read}, wrote {summary.rows_written}")
        except DrainError as err:
            attempts.append(f"failed: {str(err)[:300]}")
        if not killed_before and progress.killed_at is not None:
            spanning = index
        progress.times.append(time.monotonic())
        if committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic):
            return attempts, spanning
    pytest.fail(f"the drain never committed everything: {attempts}")


def assert_exactly_once(kafka_hook, cassandra, keyspace: str, topic: str, group: str, *, records) -> None:
    ids = ids_at(cassandra, keyspace)
    assert len(ids) == len(set(ids)) == len(records)
    assert set(ids) == {r.tweet_id for r in records}
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)


def wait_fully_replicated(kafka_hook, topic: str, timeout: float = 120) -> float:
    t0 = time.monotonic()
    while True:
        partitions = kafka_hook.admin().list_topics(topic, timeout=10).topics[topic].partitions.values()
        if all(len(p.isrs) == len(p.replicas) == 3 for p in partitions):
            return time.monotonic() - t0
        isrs = [p.isrs for p in partitions]
        assert time.monotonic() - t0 < timeout, f"{topic} still under-replicated: {isrs}"
        time.sleep(1)


@pytest.fixture
def small_prefetch(monkeypatch) -> None:
    monkeypatch.setattr(drainer, "DRAIN_CONSUMER_SETTINGS", SMALL_PREFETCH)


@pytest.mark.usefixtures("small_prefetch")
@pytest.mark.parametrize("role", ["partition_leader", "transaction_coordinator"])
def test_a_broker_killed_mid_drain_loses_and_duplicates_nothing(  # noqa: PLR0917 - fixtures
    cluster, cluster_topic, cluster_keyspace, kafka_hook, cassandra, role
):
    """The broker leading a drained partition, or the one coordinating the drain's transaction
    (leader of its ``__transaction_state`` partition), dies a third of the way through."""
    topic = cluster_topic("fo_broker")
    records = tweets(3000)
    # Most of the messages are still on the brokers at the kill (a third acknowledged, ~200 queued).
    assert sum(len(r.to_json()) for r in records[1500:]) > 4 * PREFETCH_KIB * 1024
    produce_records(kafka_hook, topic, records)
    group = settings.consumer_group("drain", topic)
    transactional_id = transactional_id_for(group, topic, None)  # the drain's, all partitions
    ensure_transaction_state(kafka_hook)
    admin = kafka_hook.admin()
    roles = {
        "partition_leader": leader_of(kafka_hook, topic, 0),
        "transaction_coordinator": transaction_coordinator(admin, transactional_id),
    }
    broker = roles[role]
    victim = f"kafka-{broker}"
    also = [other for other, leader in roles.items() if leader == broker and other != role]
    progress = Progress()

    def kill_the_leader_after_a_third(rows: int) -> None:
        progress.ack(rows)
        if progress.rows >= 1000 and progress.killed_at is None:
            progress.killed_at = time.monotonic()
            cluster.kill_soon(victim)

    attempts, _ = drain_until_done(
        kafka_hook, topic, group, cluster_keyspace, first=kill_the_leader_after_a_third, progress=progress
    )
    stall = progress.stall(time.monotonic())
    print(f"\n[broker failover mid-drain] killed {victim} ({role}, also {also}); attempts: {attempts}")
    cluster.report_stall(f"broker ({role}) killed mid-drain", stall)

    if role == "partition_leader":
        assert leader_of(kafka_hook, topic, 0) != broker
    else:  # the transaction state partition has a new leader, so the id a new coordinator
        assert transaction_coordinator(admin, transactional_id) != broker
    assert_exactly_once(kafka_hook, cassandra, cluster_keyspace, topic, group, records=records)
    offline = wait_for_health(METRIC_OFFLINE_BROKERS, FAIL, [topic])
    assert offline.value == 1, offline
    restarted = cluster.restart()
    caught_up = wait_fully_replicated(kafka_hook, topic)
    print(f"[broker failover mid-drain] {victim} back in {restarted:.1f}s, in sync {caught_up:.1f}s later")
    assert wait_for_health(METRIC_OFFLINE_BROKERS, OK, [topic]).value == 0


def test_a_broker_killed_during_ingest_loses_and_duplicates_nothing(cluster, cluster_topic, kafka_hook):
    topic = cluster_topic("fo_ingest")
    records = tweets(3000)
    victim = f"kafka-{leader_of(kafka_hook, topic, 0)}"
    progress = Progress()
    flushes: list[float] = []
    with TopicProducer(kafka_hook.producer(), topic) as producer:  # what the ingest DAGs produce with
        for n in range(0, len(records), 200):
            producer.send(records[n : n + 200])
            if n == 1000:  # these 200 are in flight, some to the leader being killed
                progress.killed_at = time.monotonic()
                cluster.kill_soon(victim)
            t0 = time.monotonic()
            producer.confirm()
            flushes.append(time.monotonic() - t0)
            progress.times.append(time.monotonic())
    stall = progress.stall(time.monotonic())
    print(f"\n[broker failover during ingest] killed {victim}; slowest flush {max(flushes):.1f}s")
    cluster.report_stall("broker killed during ingest", stall)

    assert (producer.report.delivered, producer.report.failed) == (len(records), 0)
    values = sorted(message.value() for message in read_all(kafka_hook, topic))
    assert values == sorted(r.to_json() for r in records)  # each exactly once
    cluster.restart()
    wait_fully_replicated(kafka_hook, topic)


def test_a_cassandra_node_killed_mid_drain_writes_go_on_and_repair_restores_it(
    cluster, cluster_topic, cluster_keyspace, kafka_hook, cassandra
):
    topic = cluster_topic("fo_node")
    records = tweets(3000)
    produce_records(kafka_hook, topic, records)
    group = settings.consumer_group("drain", topic)
    progress = Progress()

    def kill_a_node_after_a_third(rows: int) -> None:
        progress.ack(rows)
        if progress.rows >= 1000 and progress.killed_at is None:
            progress.killed_at = time.monotonic()
            cluster.kill_soon("cassandra-3")

    attempts, spanning = drain_until_done(
        kafka_hook, topic, group, cluster_keyspace, first=kill_a_node_after_a_third, progress=progress
    )
    stall = progress.stall(time.monotonic())
    print(f"\n[node failover mid-drain] killed cassandra-3; attempts: {attempts}")
    cluster.report_stall("Cassandra node killed mid-drain", stall)
    # 2 of 3 replicas are a quorum: the attempt the kill hit went on writing and committed, no retry.
    assert spanning is not None, attempts
    assert attempts[spanning].startswith("ok") and len(attempts) == spanning + 1, attempts
    assert progress.rows_after_kill > 0, "no write was acknowledged after the kill"
    assert_exactly_once(kafka_hook, cassandra, cluster_keyspace, topic, group, records=records)  # at QUORUM
    down = wait_for_health(METRIC_DOWN_NODES, FAIL, [topic])
    assert down.value == 1 and "127.0.0" in down.detail, down

    restarted = cluster.restart()
    t0 = time.monotonic()
    cluster.nodetool("cassandra-1", "repair", "-full", cluster_keyspace, "tweets")
    repaired = time.monotonic() - t0
    print(f"[node failover mid-drain] cassandra-3 back in {restarted:.1f}s, repair {repaired:.1f}s")
    assert wait_for_health(METRIC_DOWN_NODES, OK, [topic]).value == 0
    distinct = {r.tweet_id for r in records}
    for host in cassandra_hosts():
        on_node = ids_on_node(host, cluster_keyspace)
        assert len(on_node) == len(set(on_node)) == len(distinct), host
        assert set(on_node) == distinct, host


def test_two_cassandra_nodes_killed_fail_the_batch_cleanly_then_one_back_is_enough(
    cluster, cluster_topic, cluster_keyspace, kafka_hook, cassandra
):
    topic = cluster_topic("fo_two_nodes")
    records = tweets(1500)
    produce_records(kafka_hook, topic, records)
    group = settings.consumer_group("drain", topic)
    progress = Progress()

    def kill_two_nodes_after_a_fifth(rows: int) -> None:
        progress.ack(rows)
        if progress.rows >= 300 and progress.killed_at is None:
            progress.killed_at = time.monotonic()
            cluster.kill_soon("cassandra-2")
            cluster.kill_soon("cassandra-3")

    with pytest.raises(DrainError, match="offsets not committed") as failure:
        drain_topic(
            topic,
            TWEETS,
            group,
            100_000,
            keyspace=cluster_keyspace,
            options=OPTIONS,
            on_rows_acknowledged=kill_two_nodes_after_a_fifth,
        )
    failed_after = time.monotonic() - progress.killed_at
    print(f"\n[two nodes down] drain failed {failed_after:.1f}s after the kill: {str(failure.value)[:200]}")
    assert all(offset < 0 for offset in committed_offsets(kafka_hook, topic, group).values())

    back = cluster.start_member("cassandra-2")
    rerun = drain_topic(topic, TWEETS, group, 100_000, keyspace=cluster_keyspace, options=OPTIONS)
    stalled = time.monotonic() - progress.killed_at
    print(f"[two nodes down] cassandra-2 back in {back:.1f}s; the retry read {rerun.messages_read}")
    cluster.report_stall("two Cassandra nodes killed (kill to the retry's commit)", stalled)
    assert rerun.messages_read == len(records)
    assert_exactly_once(kafka_hook, cassandra, cluster_keyspace, topic, group, records=records)


def test_raising_an_existing_keyspace_to_rf_3_then_repair_puts_every_row_on_every_node(cluster, cassandra):
    """The documented upgrade: bootstrap's alter_keyspace_replication (align_replication), then repair."""
    from kafkapipeline.cassandra.migrations import align_replication, apply_pending
    from kafkapipeline.cassandra.writer import ConcurrentRowWriter
    from kafkapipeline.streams.tweets import TWEETS_TABLE, tweet_row
    from tests.conftest import unique_name

    keyspace = unique_name("cluster_rf")
    apply_pending(cassandra, keyspace, replication="{'class': 'SimpleStrategy', 'replication_factor': 1}")
    try:
        records = tweets(600)
        writer = ConcurrentRowWriter(cassandra, keyspace, TWEETS_TABLE.drain_spec)
        writer.write([tweet_row(r, None) for r in records], [r.tweet_id for r in records])
        assert writer.flush().ok
        assert "now run a full repair" in align_replication(cassandra, keyspace, RF3)
        assert align_replication(cassandra, keyspace, RF3) is None  # already there: nothing to do
        cassandra.execute(f"ALTER TABLE {keyspace}.tweets WITH speculative_retry = 'NONE'", timeout=60)
        t0 = time.monotonic()
        for node in ("cassandra-1", "cassandra-2", "cassandra-3"):  # as docs/cluster.md says: every node
            cluster.nodetool(node, "repair", "-full", keyspace)
        print(f"\n[RF 1 -> 3] full repair on the three nodes took {time.monotonic() - t0:.1f}s")
        for host in cassandra_hosts():
            assert sorted(ids_on_node(host, keyspace)) == sorted(r.tweet_id for r in records), host
    finally:
        cassandra.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)


def test_bootstrap_warns_about_an_existing_topic_with_fewer_replicas(cluster, kafka_hook):
    from kafkapipeline.kafka.topics import TopicSpec, ensure_topics
    from tests.conftest import unique_name

    name = unique_name("rf_one")
    admin = kafka_hook.admin()
    ensure_topics(admin, [TopicSpec(name, 2, 3_600_000, 1)])
    try:
        report = ensure_topics(admin, [TopicSpec(name, 2, 3_600_000, 3)])
        assert report.unchanged == [name]
        assert any(f"{name} has 1 replica(s) per partition, fewer than 3" in w for w in report.warnings)
        partitions = admin.list_topics(name, timeout=10).topics[name].partitions.values()
        assert {len(p.replicas) for p in partitions} == {1}  # warned, not changed
    finally:
        for future in admin.delete_topics([name], operation_timeout=30).values():
            future.result(timeout=30)
