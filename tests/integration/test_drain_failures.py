"""The drain under failure, for real: a SIGKILLed drain, Cassandra vanishing or refusing writes mid-batch.

In every case nothing is committed, and the next drain lands exactly the produced rows: none
lost, none duplicated, the committed offsets at the end of the log. Where the failed batch had
already dead-lettered malformed messages, the dead-letter topic still holds each of them once:
the failed batch's Kafka transaction was aborted.

Cassandra "going away" is done with a TCP proxy between the drain and the shared Cassandra
(on 127.0.0.2, with the driver white-listed to it): killing the proxy resets every
connection and refuses new ones, which is what the driver sees when the Cassandra process
dies. Stopping the shared Cassandra itself
(``scripts/services down cassandra``) would do the same but fail every other test running
against it, and takes a minute to come back on the 2-core machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from msgspec.structs import replace

from kafkapipeline import settings
from kafkapipeline.cassandra.migrations import discover
from kafkapipeline.cassandra.writer import ConcurrentRowWriter
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.task import drain_topic
from kafkapipeline.kafka.transaction import DrainError
from kafkapipeline.streams.tweets import TWEETS, TWEETS_TABLE, tweet_row
from tests.integration.drain_support import (
    TcpProxy,
    cassandra_conn_through,
    closed_port,
    committed_offsets,
    dead_letters,
    end_offsets,
    produce,
    produce_records,
    tweet_ids,
    tweets,
)

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]

KILLABLE_DRAIN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from kafkapipeline.drain.options import DrainOptions
    from kafkapipeline.drain.task import drain_topic
    from kafkapipeline.streams.tweets import TWEETS

    topic, group, marker, half = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    acknowledged = 0

    def stall_after_half(rows):
        global acknowledged
        acknowledged += rows
        if acknowledged >= half and not marker.exists():
            marker.write_text(str(acknowledged))
            time.sleep(600)  # stuck mid-batch, rows written, nothing committed: wait for SIGKILL

    drain_topic(topic, TWEETS, group, 100_000, options=DrainOptions(concurrency=4, max_batch_rows=4),
                on_rows_acknowledged=stall_after_half)
    """
)


DROP_TWEETS = (
    "import sys\n"
    "from kafkapipeline.cassandra.session import cassandra_session\n"
    "with cassandra_session() as session:\n"
    "    session.execute(f'DROP TABLE {sys.argv[1]}.tweets', timeout=60)\n"
)


def plugin_env() -> dict[str, str]:
    """This test's environment (its keyspace included) for a child Python process."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT / "plugins")}


def assert_nothing_committed(kafka_hook, topic: str, group: str) -> None:
    committed = committed_offsets(kafka_hook, topic, group)
    assert all(offset < 0 for offset in committed.values()), f"offsets were committed: {committed}"


def produce_malformed(kafka_hook, topic: str, count: int) -> set[bytes]:
    """``count`` values that cannot become rows, keyed so each lands on a known partition."""
    keys = {f"malformed-{n}".encode() for n in range(count)}
    produce(kafka_hook, topic, [(key, b"{not json " + key) for key in sorted(keys)])
    return keys


def assert_dead_lettered_once(kafka_hook, topic: str, keys: set[bytes]) -> None:
    """Read as the replay DAG reads (``read_committed``): each malformed message exactly once."""
    letters = dead_letters(kafka_hook, topic)
    assert sorted(key for key, _, _ in letters) == sorted(keys), [key for key, _, _ in letters]
    sources = [(letter.source_partition, letter.source_offset) for _, _, letter in letters]
    assert len(set(sources)) == len(keys)


def assert_exactly_once(kafka_hook, cassandra, keyspace: str, topic: str, group: str, *, records) -> None:
    ids = tweet_ids(cassandra, keyspace)
    assert len(ids) == len(set(ids)) == len(records)
    assert set(ids) == {r.tweet_id for r in records}
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)


def test_a_drain_killed_mid_batch_loses_and_duplicates_nothing(
    make_topic, keyspace, kafka_hook, cassandra, tmp_path
):
    topic = make_topic("drain_kill", partitions=3)
    malformed = produce_malformed(kafka_hook, topic, 6)  # read, and dead-lettered, before the kill
    records = tweets(600)
    produce_records(kafka_hook, topic, records)
    group = settings.consumer_group("drain", topic)
    marker = tmp_path / "half-written"

    drain = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_DRAIN, topic, group, str(marker), "300"],
        env=plugin_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert drain.poll() is None, drain.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the drain never wrote half of the batch"
            time.sleep(0.1)
        os.kill(drain.pid, signal.SIGKILL)
        assert drain.wait(timeout=30) == -signal.SIGKILL
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait(timeout=30)

    written_before_kill = len(tweet_ids(cassandra, keyspace))
    assert 300 <= written_before_kill < 600, written_before_kill
    assert_nothing_committed(kafka_hook, topic, group)

    rerun = drain_topic(topic, TWEETS, group, 100_000)

    # The whole batch again, upserted; the killed drain's open transaction (its dead letters) was
    # aborted by this drain's init_transactions.
    assert (rerun.messages_read, rerun.rows_written, rerun.dead_lettered) == (606, 600, 6)
    assert_exactly_once(kafka_hook, cassandra, keyspace, topic, group, records=records)
    assert_dead_lettered_once(kafka_hook, topic, malformed)


def test_cassandra_vanishing_mid_batch_fails_the_drain_and_commits_nothing(
    make_topic, keyspace, kafka_hook, cassandra, monkeypatch
):
    topic = make_topic("drain_cass_down", partitions=2)
    records = tweets(900)
    produce_records(kafka_hook, topic, records)
    group = settings.consumer_group("drain", topic)
    proxy = TcpProxy(int(os.environ.get("CASSANDRA_PORT", "9042")))
    acknowledged = 0

    def kill_cassandra_after_a_third(rows: int) -> None:
        nonlocal acknowledged
        acknowledged += rows
        if acknowledged >= 300 and not proxy.killed.is_set():
            proxy.kill()

    # Only the connection is changed, and only for this drain (the keyspace stays the test's).
    with monkeypatch.context() as patched, pytest.raises(DrainError) as failure:
        patched.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", cassandra_conn_through(proxy.port, proxy.host))
        try:
            drain_topic(
                topic,
                TWEETS,
                group,
                100_000,
                keyspace=keyspace,
                options=DrainOptions(concurrency=8, max_batch_rows=4, consume_batch=100),
                on_rows_acknowledged=kill_cassandra_after_a_third,
            )
        finally:
            proxy.kill()

    message = str(failure.value)
    assert message.startswith("Cassandra write failed for "), message
    assert "offsets not committed, the batch will be re-read on retry" in message
    assert proxy.killed.is_set()
    assert_nothing_committed(kafka_hook, topic, group)
    assert 300 <= len(tweet_ids(cassandra, keyspace)) < 900

    rerun = drain_topic(topic, TWEETS, group, 100_000, keyspace=keyspace)  # Cassandra is back

    assert rerun.messages_read == 900
    assert_exactly_once(kafka_hook, cassandra, keyspace, topic, group, records=records)


def test_cassandra_unreachable_at_start_reads_and_commits_nothing(
    make_topic, keyspace, kafka_hook, monkeypatch
):
    topic = make_topic("drain_cass_closed", partitions=1)
    produce_records(kafka_hook, topic, tweets(10))
    group = settings.consumer_group("drain", topic)
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", cassandra_conn_through(closed_port()))

    with pytest.raises(
        DrainError, match=r"could not connect to Cassandra \(connection 'cassandra_default'\)"
    ):
        drain_topic(topic, TWEETS, group, 100)

    assert_nothing_committed(kafka_hook, topic, group)


def test_writes_refused_mid_batch_fail_the_drain_and_commit_nothing(
    make_topic, keyspace, kafka_hook, cassandra
):
    """A server-side error mid-batch (the table disappears under the drain) instead of a lost connection."""
    topic = make_topic("drain_table_gone", partitions=1)
    malformed = produce_malformed(kafka_hook, topic, 3)  # dead-lettered before the writes fail
    records = tweets(200)
    produce_records(kafka_hook, topic, records)
    group = settings.consumer_group("drain", topic)
    acknowledged = 0

    def drop_after_fifty(rows: int) -> None:
        # One request in flight at a time, and this callback holds the driver's I/O thread: nothing
        # else is written until the table is gone. The driver's event loop is shared by every
        # Cluster in this process, so the DROP runs in a process of its own.
        nonlocal acknowledged
        acknowledged += rows
        if acknowledged >= 50 and not dropped:
            dropped.append(True)
            subprocess.run(
                [sys.executable, "-c", DROP_TWEETS, keyspace], env=plugin_env(), check=True, timeout=120
            )

    dropped: list[bool] = []
    with pytest.raises(DrainError, match=r"Cassandra write failed for \d+ of \d+ rows") as failure:
        drain_topic(
            topic,
            TWEETS,
            group,
            1000,
            options=DrainOptions(concurrency=1, max_batch_rows=1, consume_batch=20),
            on_rows_acknowledged=drop_after_fifty,
        )

    assert dropped and "offsets not committed" in str(failure.value)
    assert_nothing_committed(kafka_hook, topic, group)
    # Recreate the table as the migrations shaped it: its CREATE and every later ALTER of it.
    for migration in discover():
        for statement in migration.statements(keyspace):
            if f"{keyspace}.tweets " in statement or f"{keyspace}.tweets\n" in statement:
                cassandra.execute(statement, timeout=60)

    rerun = drain_topic(topic, TWEETS, group, 1000)

    assert (rerun.messages_read, rerun.dead_lettered) == (203, 3)
    assert_exactly_once(kafka_hook, cassandra, keyspace, topic, group, records=records)
    assert_dead_lettered_once(kafka_hook, topic, malformed)  # the failed batch's copies were aborted


def test_rows_cassandra_refuses_are_reported_alone_and_the_rest_of_their_batch_is_written(
    keyspace, cassandra
):
    """The writer's own fallback, below record validation: it must hold whatever validation lets by."""
    good = tweets(12)  # three cities, so several multi-row single-partition batches
    vancouver = next(r for r in good if r.city == "Vancouver")
    bad = {
        "like_count": replace(vancouver, tweet_id="bad-int", like_count=3_000_000_000),  # int32 bind
        "surrogate": replace(vancouver, tweet_id="bad-text", text="\ud800"),  # UTF-8 encode in bind
        "city": replace(vancouver, tweet_id="bad-city", city="c" * 70_000),  # partition key > 64 KiB
        # A clustering value over 64 KiB: only the server refuses it, and it refuses its whole batch.
        "clustering": replace(vancouver, tweet_id="t" * 70_000),
    }
    records = [*good[:6], *bad.values(), *good[6:]]
    acknowledged: list[int] = []
    writer = ConcurrentRowWriter(
        cassandra, keyspace, TWEETS_TABLE.drain_spec, on_rows_acknowledged=acknowledged.append
    )

    writer.write([tweet_row(r, None) for r in records], [r.tweet_id[:20] for r in records])
    outcome = writer.flush()

    assert outcome.complete and not outcome.ok
    assert sorted(r.source for r in outcome.rejected) == sorted(r.tweet_id[:20] for r in bad.values())
    reasons = {r.source: r.reason for r in outcome.rejected}
    assert "Cassandra rejected the row: InvalidRequest" in reasons["t" * 20]
    assert "could not encode the row" in reasons["bad-int"]
    assert outcome.rows_written == sum(acknowledged) == len(good)
    assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in good)
