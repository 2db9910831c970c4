"""The drain on the real Kafka and Cassandra: every message lands exactly once, bad ones go to the DLQ."""

from __future__ import annotations

import json
import threading
from collections import Counter
from contextlib import contextmanager

import pytest

from kafkapipeline import settings
from kafkapipeline.cassandra.writer import DEFAULT_MAX_BATCH_ROWS
from kafkapipeline.drain import drainer as drainer_module
from kafkapipeline.drain.drainer import TopicDrainer
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.task import drain_topic
from kafkapipeline.sentiment.scorers import default_scorer
from kafkapipeline.streams.tweets import TWEETS
from kafkapipeline.streams.weather import WEATHER
from tests.integration.drain_support import (
    committed_offsets,
    dead_letters,
    end_offsets,
    produce,
    produce_records,
    tweet_ids,
    tweets,
    weather_reports,
)

pytestmark = pytest.mark.integration


def as_stored(moment):
    """Cassandra keeps milliseconds and returns naive UTC datetimes."""
    return moment.replace(tzinfo=None, microsecond=moment.microsecond // 1000 * 1000)


def test_every_message_becomes_exactly_one_row_with_sentiment(make_topic, keyspace, kafka_hook, cassandra):
    topic = make_topic("drain", partitions=3)
    records = tweets(300)
    produce_records(kafka_hook, topic, records)
    group = settings.consumer_group("drain", topic)

    summary = drain_topic(topic, TWEETS, group, 10_000)

    assert (summary.messages_read, summary.rows_written, summary.dead_lettered) == (300, 300, 0)
    assert summary.committed and summary.lag_after == 0
    # Full single-partition batches, whatever Kafka partition each row came from.
    per_partition = Counter((r.city, r.day) for r in records)
    assert summary.write_requests == sum(-(-n // DEFAULT_MAX_BATCH_ROWS) for n in per_partition.values())
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)
    assert sum(p.messages for p in summary.partitions) == 300
    stored = {row.tweet_id: row for row in cassandra.execute(f"SELECT * FROM {keyspace}.tweets", timeout=60)}
    assert len(stored) == 300
    model = default_scorer()
    for record in records:
        row = stored[record.tweet_id]
        sentiment = model.score_batch([record.text])[0]
        assert (row.city, row.day.date(), row.created_at) == (
            record.city,
            record.day,
            as_stored(record.created_at),
        )
        assert (row.text, row.author_id, row.like_count, row.quote_count) == (
            record.text,
            record.author_id,
            record.like_count,
            None,
        )
        assert row.sentiment_score == pytest.approx(sentiment.score, abs=1e-9)  # batch sums
        assert row.sentiment_label == sentiment.label
        assert row.hashtags == (sorted(record.hashtags) if record.hashtags else None)
        assert (row.sentiment_model, row.sentiment_model_version) == (model.name, model.version)
        assert row.ingested_at is not None
    assert {row.sentiment_label for row in stored.values()} == {"Positive", "Negative", "Neutral"}

    batches = list(cassandra.execute(f"SELECT * FROM {keyspace}.drain_batches", timeout=60))
    assert [(b.topic, b.batch_id, b.messages_read, b.rows_written, b.lag_after) for b in batches] == [
        (topic, summary.batch_id, 300, 300, 0)
    ]
    assert json.loads(json.dumps(summary.to_dict()))["rows_written"] == 300

    again = drain_topic(topic, TWEETS, group, 10_000)
    assert (again.messages_read, again.committed, again.lag_after) == (0, False, 0)
    assert len(tweet_ids(cassandra, keyspace)) == 300


def test_replaying_the_same_messages_rewrites_the_same_rows(make_topic, keyspace, kafka_hook, cassandra):
    topic = make_topic("drain_replay", partitions=2)
    records = tweets(120)
    produce_records(kafka_hook, topic, records)
    produce_records(kafka_hook, topic, records[:50])  # the producer retried / a replay re-sent them

    first = drain_topic(topic, TWEETS, settings.consumer_group("drain", f"{topic}.first"), 10_000)
    # Another group of the drain's: a full re-read from scratch.
    other_group = drain_topic(topic, TWEETS, settings.consumer_group("drain", f"{topic}.second"), 10_000)

    assert first.messages_read == other_group.messages_read == 170
    ids = tweet_ids(cassandra, keyspace)
    assert len(ids) == len(set(ids)) == 120


def test_max_messages_bounds_a_batch_and_the_next_one_continues(make_topic, keyspace, kafka_hook, cassandra):
    topic = make_topic("drain_cap", partitions=3)
    produce_records(kafka_hook, topic, tweets(250))
    group = settings.consumer_group("drain", topic)

    sizes, lags = [], []
    for _ in range(4):
        summary = drain_topic(topic, TWEETS, group, 100)
        sizes.append(summary.messages_read)
        lags.append(summary.lag_after)

    assert sizes == [100, 100, 50, 0]
    assert lags == [150, 50, 0, 0]
    assert len(tweet_ids(cassandra, keyspace)) == 250
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)


def test_messages_produced_during_a_drain_wait_for_the_next_batch(
    make_topic, keyspace, kafka_hook, cassandra
):
    topic = make_topic("drain_snapshot", partitions=1)
    first, late = tweets(60)[:40], tweets(60)[40:]
    produce_records(kafka_hook, topic, first)
    group = settings.consumer_group("drain", topic)
    produced_late = threading.Event()

    def produce_late_once(_rows: int) -> None:
        # Runs on the first acknowledged write, while the drain is still reading (one request in
        # flight, ten messages per consume): the new messages land behind the batch's end snapshot.
        if not produced_late.is_set():
            produced_late.set()
            produce_records(kafka_hook, topic, late)

    summary = drain_topic(
        topic,
        TWEETS,
        group,
        10_000,
        options=DrainOptions(concurrency=1, consume_batch=10, max_batch_rows=1),
        on_rows_acknowledged=produce_late_once,
    )

    assert produced_late.is_set()
    assert summary.messages_read == 40 and summary.lag_after == 20
    assert summary.partitions[0].end_offset == 40 and summary.partitions[0].last_offset == 39
    assert committed_offsets(kafka_hook, topic, group) == {0: 40}
    nxt = drain_topic(topic, TWEETS, group, 10_000)
    assert nxt.messages_read == 20 and nxt.partitions[0].first_offset == 40
    assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in first + late)


def test_malformed_messages_go_to_the_dead_letter_topic_and_the_rest_lands(
    make_topic, keyspace, kafka_hook, cassandra
):
    topic = make_topic("drain_dlq", partitions=3)
    valid = tweets(495)
    good = valid[0].to_dict()
    bad = [
        (b"bad-json", b'{"tweet_id": "1", "text": '),
        (b"bad-version", json.dumps({**good, "tweet_id": "9001", "schema_version": 7}).encode()),
        (
            b"missing-city",
            json.dumps({k: v for k, v in good.items() if k != "city"} | {"tweet_id": "9002"}).encode(),
        ),
        (b"wrong-type", json.dumps({**good, "tweet_id": "9003", "like_count": "lots"}).encode()),
        (b"null-value", None),
    ]
    reasons = {
        b"bad-json": "value is not JSON",
        b"bad-version": "schema_version 7 is not supported",
        b"missing-city": "city: required field is missing",
        b"wrong-type": "like_count: expected an integer or null, got 'lots'",
        b"null-value": "value is empty (null message)",
    }
    items = [(r.key, r.to_json()) for r in valid]
    for position, item in zip((3, 100, 222, 350, 480), bad, strict=True):
        items.insert(position, item)  # 1% of the messages, spread over the batch
    placed = produce(kafka_hook, topic, items)
    group = settings.consumer_group("drain", topic)

    summary = drain_topic(topic, TWEETS, group, 10_000)

    assert (summary.messages_read, summary.rows_written, summary.dead_lettered) == (500, 495, 5)
    assert summary.committed
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)
    assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in valid)
    letters = {key: (value, letter) for key, value, letter in dead_letters(kafka_hook, topic)}
    assert set(letters) == set(reasons)
    for key, value in bad:
        stored_value, letter = letters[key]
        assert stored_value == value  # the original bytes, untouched, so a replay re-sends them
        assert reasons[key] in letter.error
        assert letter.source_topic == topic
        if value is not None:
            assert (letter.source_partition, letter.source_offset) == placed[value]
        assert letter.replay_count == 0 and letter.failed_at


def test_one_drainer_drains_batch_after_batch_on_the_same_connections(
    make_topic, keyspace, kafka_hook, cassandra, monkeypatch
):
    topic = make_topic("drain_again", partitions=2)
    group = settings.consumer_group("drain", topic)
    opened = {"sessions": 0, "transactions": 0}
    real_session, real_transaction = drainer_module.cassandra_session, drainer_module.BatchTransaction

    @contextmanager
    def counted_session(*args, **kwargs):
        opened["sessions"] += 1
        with real_session(*args, **kwargs) as session:
            # The drain's session reads no schema into the driver (a faster connect).
            opened["keyspaces_read"] = len(session.cluster.metadata.keyspaces)
            yield session

    def counted_transaction(*args, **kwargs):
        opened["transactions"] += 1
        return real_transaction(*args, **kwargs)

    monkeypatch.setattr(drainer_module, "cassandra_session", counted_session)
    monkeypatch.setattr(drainer_module, "BatchTransaction", counted_transaction)
    records = tweets(40)
    first = [(r.key, r.to_json()) for r in records[:20]] + [(b"bad-1", b"{not json")]
    second = [(r.key, r.to_json()) for r in records[20:]] + [(b"bad-2", b"[]"), (b"bad-3", b"{")]

    with TopicDrainer(topic, TWEETS, group) as drainer:
        produce(kafka_hook, topic, first)
        one = drainer.drain(10_000)
        nothing = drainer.drain(10_000)  # nothing pending: an empty batch, nothing moves
        produce(kafka_hook, topic, second)
        two = drainer.drain(10_000)

    assert opened == {"sessions": 1, "keyspaces_read": 0, "transactions": 1}
    assert (one.messages_read, one.rows_written, one.dead_lettered, one.committed) == (21, 20, 1, True)
    assert (nothing.messages_read, nothing.committed) == (0, False)
    # The second batch counts its own dead letters and reads from where the first committed.
    assert (two.messages_read, two.rows_written, two.dead_lettered, two.committed) == (22, 20, 2, True)
    assert two.lag_after == 0
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)
    assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in records)
    assert sorted(key for key, _, _ in dead_letters(kafka_hook, topic)) == [b"bad-1", b"bad-2", b"bad-3"]


def test_weather_is_written_as_it_is(make_topic, keyspace, kafka_hook, cassandra):
    topic = make_topic("drain_weather", partitions=1)
    reports = weather_reports(12)
    produce_records(kafka_hook, topic, reports)
    tweet = tweets(1)[0]
    produce(kafka_hook, topic, [(tweet.key, tweet.to_json())])  # the wrong kind for this topic

    summary = drain_topic(topic, WEATHER, settings.consumer_group("drain", topic), 1000)

    assert (summary.rows_written, summary.dead_lettered) == (12, 1)
    rows = {
        (row.city, row.observed_at): row
        for row in cassandra.execute(f"SELECT * FROM {keyspace}.weather_reports", timeout=60)
    }
    assert len(rows) == 12
    for report in reports:
        row = rows[(report.city, as_stored(report.observed_at))]
        assert (row.temperature_c, row.description, row.humidity_pct, row.provider) == (
            report.temperature_c,
            report.description,
            report.humidity_pct,
            report.provider,
        )
        assert row.sunrise == as_stored(report.sunrise)
    [(_, _, letter)] = dead_letters(kafka_hook, topic)
    assert "kind 'tweet' does not belong on this topic" in letter.error


def test_a_missing_dead_letter_topic_blocks_the_commit(
    make_topic, keyspace, kafka_hook, cassandra, monkeypatch
):
    # With topic auto-creation on, the broker would create <topic>.dlq on the fly; point the
    # dead letters at a name Kafka refuses instead, so the delivery fails for real.
    monkeypatch.setattr(settings, "DEAD_LETTER_SUFFIX", ".dlq/invalid")
    topic = make_topic("drain_nodlq", partitions=1, with_dlq=False)
    produce_records(kafka_hook, topic, tweets(5))
    produce(kafka_hook, topic, [(b"k", b"not json")])
    group = settings.consumer_group("drain", topic)

    with pytest.raises(Exception, match="dead letters") as failure:
        drain_topic(topic, TWEETS, group, 100, options=DrainOptions(kafka_timeout=10))

    assert "offsets not committed" in str(failure.value)
    assert all(offset < 0 for offset in committed_offsets(kafka_hook, topic, group).values())


def test_a_drain_limited_to_some_partitions_leaves_the_others_alone(
    make_topic, keyspace, kafka_hook, cassandra
):
    topic = make_topic("drain_parts", partitions=3)
    placed = produce_records(kafka_hook, topic, tweets(90))
    group = settings.consumer_group("drain", topic)
    on_partition_1 = sum(1 for partition, _ in placed.values() if partition == 1)

    summary = drain_topic(topic, TWEETS, group, 1000, partitions=[1])

    assert summary.messages_read == summary.rows_written == on_partition_1
    assert [p.partition for p in summary.partitions] == [1]
    committed = committed_offsets(kafka_hook, topic, group)
    assert committed[1] == end_offsets(kafka_hook, topic)[1]
    assert committed[0] < 0 and committed[2] < 0
    with pytest.raises(Exception, match=r"has no partitions \[7\]"):
        drain_topic(topic, TWEETS, group, 1000, partitions=[7])
