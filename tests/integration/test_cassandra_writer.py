"""The batched writer on the real Cassandra: partial batches wait for the next write, and nothing is lost."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from cassandra import ConsistencyLevel
from msgspec.structs import replace

from kafkapipeline.cassandra.writer import HELD_BATCHES, ConcurrentRowWriter
from kafkapipeline.streams.tweets import TWEETS_TABLE, tweet_row
from tests.integration.drain_support import tweet_ids, tweets

pytestmark = pytest.mark.integration

#: All on 2024-05-01, three cities: three partitions of the tweets table.
ONE_DAY = datetime(2024, 5, 1, tzinfo=UTC)


def test_partial_batches_are_filled_by_later_writes(keyspace, cassandra):
    records = tweets(1500, start=ONE_DAY)  # 500 rows in each of three partitions
    acknowledged: list[int] = []
    writer = ConcurrentRowWriter(
        cassandra, keyspace, TWEETS_TABLE.drain_spec, on_rows_acknowledged=acknowledged.append
    )

    rows = [tweet_row(r, None) for r in records]
    for start in range(0, len(rows), 50):  # about 17 rows of each partition per write
        writer.write(rows[start : start + 50])
    outcome = writer.flush()

    assert outcome.ok and outcome.rows_written == sum(acknowledged) == 1500
    # Full batches of 64 and one remnant per partition: 8 requests each, not one remnant per write.
    assert outcome.requests == 3 * 8
    assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in records)


def test_held_rows_are_sent_at_flush(keyspace, cassandra):
    records = tweets(10, start=ONE_DAY)
    writer = ConcurrentRowWriter(cassandra, keyspace, TWEETS_TABLE.drain_spec)

    writer.write([tweet_row(r, None) for r in records])

    assert writer.outcome.requests == 0 and tweet_ids(cassandra, keyspace) == []
    outcome = writer.flush()
    assert outcome.ok and outcome.requests == 3
    assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in records)


def test_rows_of_many_partitions_are_not_held_past_the_cap(keyspace, cassandra):
    max_batch_rows = 2
    count = max_batch_rows * HELD_BATCHES + 10
    base = tweets(1, start=ONE_DAY)[0]
    records = [
        replace(base, tweet_id=str(int(base.tweet_id) + i), created_at=ONE_DAY + timedelta(days=i))
        for i in range(count)
    ]  # one row a day: every row its own partition
    writer = ConcurrentRowWriter(cassandra, keyspace, TWEETS_TABLE.drain_spec, max_batch_rows=max_batch_rows)

    writer.write([tweet_row(r, None) for r in records])

    assert writer.outcome.requests == count  # sent by the write, not left for the flush
    outcome = writer.flush()
    assert outcome.ok and outcome.rows_written == count and outcome.requests == count


def test_held_rows_are_not_sent_after_a_failure_and_count_as_not_attempted(keyspace, cassandra):
    if len(cassandra.cluster.metadata.all_hosts()) >= 3:
        pytest.skip("needs a node short of three replicas (consistency THREE must fail)")
    records = tweets(300, start=ONE_DAY)
    vancouver = [r for r in records if r.city == "Vancouver"][:100]
    # One node cannot give three replicas: every request fails with Unavailable (not the rows' fault).
    writer = ConcurrentRowWriter(
        cassandra, keyspace, TWEETS_TABLE.drain_spec, consistency_level=ConsistencyLevel.THREE
    )

    writer.write([tweet_row(r, None) for r in vancouver])  # one batch of 64 sent, 36 rows held
    deadline = time.monotonic() + 60
    while writer.outcome.first_error is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert writer.outcome.first_error is not None, "the batch sent at consistency THREE did not fail"
    outcome = writer.flush()

    assert not outcome.complete
    assert (outcome.rows_written, outcome.rows_failed, outcome.rows_not_attempted) == (0, 64, 36)
    assert outcome.requests == 1
    assert "100 of 100 rows (36 not attempted after the first failure)" in outcome.describe_failure()
    assert tweet_ids(cassandra, keyspace) == []
