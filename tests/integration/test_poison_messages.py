"""No single message stops a drain (issue 15), on the real Kafka and Cassandra.

Every input that used to stop ``drain_tweets`` / ``drain_weather`` for good (a stack-deep JSON
value, an int the driver cannot bind, a lone surrogate, a partition key Cassandra refuses, a
value whose dead-letter copy would be too large, a garbage ``dlq.replay.count`` header) and
the seven classic poison kinds are produced between valid messages. The drain run succeeds
and commits; every valid message is a row; every bad one is exactly one dead letter (read
``read_committed``) with a reason; a second run finds nothing pending.

The assertions are about outcomes: whether a value is refused by record validation or by
Cassandra at write time, it must end as one dead letter. Where the code's limits decide the
outcome, the reason is checked too: a 60,000-emoji text (240 KB, under Kafka's 1 MB) is longer
than any post (``TEXT_MAX_CHARS``) or weather description, so it is dead-lettered by validation;
a maximal one (exactly ``TEXT_MAX_CHARS`` emoji) is a row, scored by its capped prefix. A row
that passes validation yet is refused by Cassandra itself (validation's limit lifted for the
test) is dead-lettered with Cassandra's own message while its neighbours are written.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime

import pytest
from confluent_kafka import Message, TopicPartition
from msgspec.structs import replace

from kafkapipeline import settings
from kafkapipeline.dead_letters.contract import (
    HEADER_ERROR,
    HEADER_ORIGINAL_SIZE,
    HEADER_TRUNCATED,
    DeadLetter,
)
from kafkapipeline.drain import batch as drain_batch
from kafkapipeline.drain.task import drain_topic
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.kafka.transaction import BatchTransaction
from kafkapipeline.sentiment import model as sentiment_model
from kafkapipeline.streams.base import record_decoder
from kafkapipeline.streams.tweets import TEXT_MAX_CHARS, TWEETS
from kafkapipeline.streams.weather import DESCRIPTION_MAX_CHARS, WEATHER
from tests.conftest import unique_name
from tests.integration.drain_support import (
    committed_offsets,
    end_offsets,
    read_all,
    tweet_ids,
    tweets,
    weather_reports,
)

pytestmark = pytest.mark.integration

LONG_CITY = "Llanfair" * 8_750  # 70,000 characters: a partition key over Cassandra's 64 KiB
NOT_JSON_999_KB = b"x" * 999_900  # with the dead-letter headers, over message.max.bytes
NOT_JSON_900_KB = b"y" * 900_000
#: 240 KB of text, well under Kafka's 1 MB, that VADER would take most of an hour over uncapped.
EMOJI_COUNT = 60_000
EMOJI_TEXT = "\U0001f600" * EMOJI_COUNT
GARBAGE_HEADERS = [("dlq.replay.count", b"lots"), ("dlq.source.partition", b"\xff\xfe")]


def as_json(payload: dict) -> bytes:
    """JSON with non-ASCII escaped, so a lone surrogate travels as the six characters ``\\ud800``."""
    return json.dumps(payload, ensure_ascii=True).encode()


def shared_poison() -> dict[bytes, tuple[bytes | None, list]]:
    """Inputs that are bad on any topic: key -> (value, headers)."""
    return {
        b"deep-nesting": (b"[" * 100_000, []),
        b"not-json-999kb": (NOT_JSON_999_KB, []),
        b"garbage-replay-count": (b"{not json", GARBAGE_HEADERS),
        b"invalid-utf8": (b'{"schema_version": 1, "text": "\xff\xfe\xfd"}', []),
        b"json-array": (b"[1, 2, 3]", []),
        b"not-json-900kb": (NOT_JSON_900_KB, []),
        b"tombstone": (None, []),
    }


def tweet_poison() -> dict[bytes, tuple[bytes | None, list]]:
    good = tweets(1, start=datetime(2025, 3, 3, 9, 0, tzinfo=UTC))[0].to_dict()
    return shared_poison() | {
        b"like-count-3e9": (as_json({**good, "tweet_id": "p1", "like_count": 3_000_000_000}), []),
        b"lone-surrogate": (as_json({**good, "tweet_id": "p2", "text": "\ud800"}), []),
        b"city-70k": (as_json({**good, "tweet_id": "p3", "city": LONG_CITY}), []),
        b"missing-id": (as_json({k: v for k, v in good.items() if k != "tweet_id"}), []),
        b"wrong-type": (as_json({**good, "tweet_id": "p4", "like_count": "lots"}), []),
        b"unknown-version": (as_json({**good, "tweet_id": "p5", "schema_version": 99}), []),
        b"emoji-60k": (as_json({**good, "tweet_id": "p6", "text": EMOJI_TEXT}), []),
        b"like-count-fraction": (as_json({**good, "tweet_id": "p7", "like_count": 1.5}), []),
        b"like-count-negative": (as_json({**good, "tweet_id": "p8", "like_count": -5}), []),
        b"empty-text": (as_json({**good, "tweet_id": "p9", "text": ""}), []),
    }


def weather_poison() -> dict[bytes, tuple[bytes | None, list]]:
    good = weather_reports(1)[0].to_dict() | {"observed_at": "2025-03-03T09:00:00Z"}
    return shared_poison() | {
        b"pressure-3e9": (as_json({**good, "pressure_hpa": 3_000_000_000}), []),
        b"lone-surrogate": (as_json({**good, "description": "\ud800"}), []),
        b"city-70k": (as_json({**good, "city": LONG_CITY}), []),
        b"missing-city": (as_json({k: v for k, v in good.items() if k != "city"}), []),
        b"wrong-type": (as_json({**good, "temperature_c": "warm"}), []),
        b"unknown-version": (as_json({**good, "schema_version": 99}), []),
        b"emoji-60k": (as_json({**good, "description": EMOJI_TEXT}), []),
    }


def produce_between(kafka_hook, topic: str, valid: list, poison: dict) -> None:
    """Valid records with one poison message after every few of them, all acknowledged."""
    producer = kafka_hook.producer()
    errors: list[str] = []

    def on_delivery(error, _message) -> None:
        if error is not None:
            errors.append(error.str())

    bad = list(poison.items())
    step = max(1, len(valid) // (len(bad) + 1))
    for position, record in enumerate(valid):
        producer.produce(topic, key=record.key, value=record.to_json(), on_delivery=on_delivery)
        if position % step == step - 1 and bad:
            key, (value, headers) = bad.pop(0)
            producer.produce(topic, key=key, value=value, headers=headers, on_delivery=on_delivery)
        producer.poll(0)
    for key, (value, headers) in bad:
        producer.produce(topic, key=key, value=value, headers=headers, on_delivery=on_delivery)
    assert producer.flush(60) == 0
    assert errors == []


#: The reasons the code's limits fix exactly, per topic kind: the emoji text is too long to be a
#: post (tweets) or a weather description, so validation refuses it before anything is scored.
INVALID_UTF8_REASON = "value is not valid UTF-8 at byte 31 (0xff: invalid start byte)"
EXACT_REASONS = {
    "tweet": {
        b"emoji-60k": f"text: {EMOJI_COUNT} characters, more than the {TEXT_MAX_CHARS} allowed",
        b"like-count-fraction": "like_count: expected an integer or null, got 1.5",
        b"like-count-negative": (
            "like_count: -5 is outside the range of a count [0, 2147483647] (never negative)"
        ),
        b"empty-text": "text: required text is empty",
        b"invalid-utf8": INVALID_UTF8_REASON,
    },
    "weather": {
        b"emoji-60k": (
            f"description: {EMOJI_COUNT} characters, more than the {DESCRIPTION_MAX_CHARS} allowed"
        ),
        b"invalid-utf8": INVALID_UTF8_REASON,
    },
}


def assert_each_bad_message_dead_lettered_once(kafka_hook, topic: str, kind: str, poison: dict) -> None:
    letters = read_all(kafka_hook, settings.dead_letter_topic(topic))  # read_committed
    reasons = {m.key(): DeadLetter.from_headers(m.headers()).error for m in letters}
    for key, reason in EXACT_REASONS[kind].items():
        assert reasons[key] == reason
    assert Counter(m.key() for m in letters) == Counter(list(poison))
    for message in letters:
        letter = DeadLetter.from_headers(message.headers())
        headers = dict(message.headers())
        assert letter.error.strip(), message.key()
        assert letter.source_topic == topic and letter.source_offset >= 0
        assert letter.replay_count == 0  # "lots" is no count: the garbage header fell back to 0
        original, _ = poison[message.key()]
        if message.key() == b"not-json-999kb":
            # Too large for a Kafka message with the dead-letter headers: cut, and says so.
            assert headers[HEADER_TRUNCATED] == b"value"
            assert headers[HEADER_ORIGINAL_SIZE] == str(len(NOT_JSON_999_KB)).encode()
            assert 0 < len(message.value()) < len(original) and original.startswith(message.value())
        else:
            assert message.value() == original and HEADER_TRUNCATED not in headers


#: The stream of each value ``kind``.
STREAM_OF = {TWEETS.kind: TWEETS, WEATHER.kind: WEATHER}


def drain_and_check(kafka_hook, topic: str, kind: str, valid_count: int, poison: dict):
    group = settings.consumer_group("drain", topic)
    summary = drain_topic(topic, STREAM_OF[kind], group, 10_000)

    assert summary.committed
    assert (summary.messages_read, summary.dead_lettered) == (valid_count + len(poison), len(poison))
    assert summary.rows_written == valid_count
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)
    assert_each_bad_message_dead_lettered_once(kafka_hook, topic, kind, poison)
    again = drain_topic(topic, STREAM_OF[kind], group, 10_000)
    assert (again.messages_read, again.committed, again.lag_after) == (0, False, 0)
    return summary


def test_no_poison_tweet_stops_the_drain(make_topic, keyspace, kafka_hook, cassandra):
    topic = make_topic("poison_tweets", partitions=3)
    valid = tweets(150)
    poison = tweet_poison()
    produce_between(kafka_hook, topic, valid, poison)

    drain_and_check(kafka_hook, topic, "tweet", len(valid), poison)

    ids = tweet_ids(cassandra, keyspace)
    assert len(ids) == len(set(ids)) == len(valid)
    assert set(ids) == {r.tweet_id for r in valid}


def test_no_poison_weather_report_stops_the_drain(make_topic, keyspace, kafka_hook, cassandra):
    topic = make_topic("poison_weather", partitions=3)
    valid = weather_reports(60)
    poison = weather_poison()
    produce_between(kafka_hook, topic, valid, poison)

    drain_and_check(kafka_hook, topic, "weather", len(valid), poison)

    rows = {
        (row.city, row.observed_at)
        for row in cassandra.execute(f"SELECT city, observed_at FROM {keyspace}.weather_reports", timeout=60)
    }
    assert rows == {(r.city, r.observed_at.replace(tzinfo=None)) for r in valid}


def test_a_maximal_emoji_text_is_a_row_scored_on_its_capped_prefix(
    make_topic, keyspace, kafka_hook, cassandra
):
    """The longest text validation lets by, all emoji: stored whole, scored by its first MAX_CHARS only."""
    topic = make_topic("poison_emoji", partitions=1)
    valid = tweets(20)
    maximal = replace(valid[0], tweet_id="emoji", text="\U0001f600" * TEXT_MAX_CHARS)
    produce_between(kafka_hook, topic, valid, {maximal.key: (maximal.to_json(), [])})
    group = settings.consumer_group("drain", topic)

    summary = drain_topic(topic, TWEETS, group, 10_000)

    assert summary.committed and (summary.messages_read, summary.dead_lettered) == (len(valid) + 1, 0)
    assert set(tweet_ids(cassandra, keyspace)) == {r.tweet_id for r in valid} | {"emoji"}
    [row] = [
        row
        for row in cassandra.execute(
            f"SELECT tweet_id, text, sentiment_score, sentiment_label FROM {keyspace}.tweets", timeout=60
        )
        if row.tweet_id == "emoji"
    ]
    capped = sentiment_model.score_text(maximal.text[: sentiment_model.MAX_CHARS])
    assert row.text == maximal.text
    assert (row.sentiment_score, row.sentiment_label) == (pytest.approx(capped.score, abs=1e-9), capped.label)
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)


@pytest.mark.parametrize(
    "case",
    [
        ("tweet", "tweet_id"),  # a clustering key over 64 KiB, next to valid rows
        ("tweet", "city"),  # a partition key over 64 KiB
        ("weather", "city"),  # the weather partition key (and Kafka key)
    ],
    ids=["tweet-clustering-key", "tweet-partition-key", "weather-partition-key"],
)
def test_a_row_cassandra_refuses_is_dead_lettered_with_cassandras_message(
    make_topic, keyspace, kafka_hook, cassandra, *, monkeypatch, case
):
    """Validation's limit lifted (the drain's decoder lets that one value by as its record): a key
    over 64 KiB passes it, and real Cassandra refuses the row.

    The writer's fallback (its refused group written again row by row) must dead-letter that row
    alone, with Cassandra's InvalidRequest message, and commit the batch with every neighbour.
    """
    kind, field = case
    stream = STREAM_OF[kind]
    topic = make_topic(f"poison_refused_{kind}", partitions=1)
    valid = tweets(30) if kind == "tweet" else weather_reports(30)
    refused = replace(valid[0], **{field: "k" * 70_000})
    decoder = record_decoder(stream.record_type)

    class Lifted:
        def decode(self, raw: bytes) -> object:
            return refused if raw == refused.to_json() else decoder.decode(raw)

    monkeypatch.setattr(drain_batch, "record_decoder", lambda record_type: Lifted())
    produce_between(kafka_hook, topic, valid, {refused.key: (refused.to_json(), [])})
    group = settings.consumer_group("drain", topic)

    summary = drain_topic(topic, stream, group, 10_000)

    assert summary.committed
    assert (summary.messages_read, summary.rows_written) == (len(valid) + 1, len(valid))
    assert (summary.rows_rejected, summary.dead_lettered) == (1, 1)
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)
    if kind == "tweet":
        assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in valid)
    else:
        rows = cassandra.execute(f"SELECT city, observed_at FROM {keyspace}.weather_reports", timeout=60)
        assert {(r.city, r.observed_at) for r in rows} == {
            (r.city, r.observed_at.replace(tzinfo=None)) for r in valid
        }
    [letter] = read_all(kafka_hook, settings.dead_letter_topic(topic))
    assert (letter.key(), letter.value()) == (refused.key, refused.to_json())
    error = dict(letter.headers())[HEADER_ERROR].decode()
    assert error.startswith("Cassandra rejected the row: InvalidRequest: Error from server: code=2200")
    assert "Key length of 70" in error and "is longer than maximum of 65535" in error  # Cassandra's words
    assert drain_topic(topic, stream, group, 10_000).messages_read == 0


def test_dead_letters_fit_the_producer_limit_set_on_the_connection(
    make_topic, keyspace, kafka_hook, cassandra, monkeypatch
):
    topic = make_topic("poison_limit", partitions=1)
    value = b"z" * 400_000
    produce_between(kafka_hook, topic, tweets(5), {b"big": (value, [])})
    drain_conn = f"AIRFLOW_CONN_{KafkaRole.DRAIN.conn_id.upper()}"  # the drain's own login
    conn = json.loads(os.environ[drain_conn])
    conn.setdefault("extra", {})["message.max.bytes"] = 300_000
    monkeypatch.setenv(drain_conn, json.dumps(conn))

    summary = drain_topic(topic, TWEETS, settings.consumer_group("drain", topic), 100)

    assert summary.committed and (summary.rows_written, summary.dead_lettered) == (5, 1)
    [letter] = read_all(kafka_hook, settings.dead_letter_topic(topic))
    headers = dict(letter.headers())
    assert (headers[HEADER_TRUNCATED], headers[HEADER_ORIGINAL_SIZE]) == (b"value", b"400000")
    assert len(letter.value()) < 300_000 and value.startswith(letter.value())


def test_a_dead_letter_kafka_calls_too_large_is_cut_harder_and_sent(make_topic, kafka_hook):
    """The producer's real limit is below the one the transaction was told: MSG_SIZE_TOO_LARGE is retried."""
    topic = make_topic("poison_too_large", partitions=1)
    group = unique_name("group")
    consumer = kafka_hook.consumer(group)
    transaction = BatchTransaction(
        lambda **settings_: kafka_hook.producer(**settings_, **{"message.max.bytes": 200_000}),
        topic,
        unique_name("txn"),
        timeout=30,
        max_bytes=1_000_000,
    )
    value = b"w" * 500_000
    try:
        transaction.send(Message(topic=topic, partition=0, offset=0, key=b"k", value=value), "too big")
        transaction.commit(consumer, [TopicPartition(topic, 0, 1)])
    finally:
        transaction.close()
        consumer.close()

    assert transaction.truncated >= 1
    [letter] = read_all(kafka_hook, settings.dead_letter_topic(topic))
    headers = dict(letter.headers())
    assert (headers[HEADER_TRUNCATED], headers[HEADER_ORIGINAL_SIZE]) == (b"value", b"500000")
    assert DeadLetter.from_headers(letter.headers()).error == "too big"
    assert len(letter.value()) < 200_000 and value.startswith(letter.value())
