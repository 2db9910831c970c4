"""Dead-letter replay against the real Kafka and Cassandra, with the real drain in between.

A valid tweet that was dead-lettered (as if by a drain bug since fixed) goes back to its topic
and becomes a row; a message that is still bad returns to the DLQ once, with replay count 1,
and the next replay gives up on it instead of looping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from kafkapipeline import settings
from kafkapipeline.dead_letters.contract import HEADER_REPLAY_COUNT, DeadLetter
from kafkapipeline.dead_letters.replay import replay_dead_letters
from kafkapipeline.drain.task import drain_topic
from kafkapipeline.kafka.lag import read_lag
from kafkapipeline.streams.tweets import TWEETS, TweetRecord
from tests.conftest import unique_name

pytestmark = pytest.mark.integration

NOT_JSON = b"this is not JSON"
FIXED_REASON = "schema_version 2 is not supported (expected 1)"


def tweet(tweet_id: str, text: str) -> TweetRecord:
    return TweetRecord(
        tweet_id=tweet_id, text=text, created_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC), city="Vancouver"
    )


def produce(kafka_hook, topic: str, messages: list[tuple[bytes, bytes, list]]) -> None:
    producer = kafka_hook.producer()
    errors = []
    for key, value, headers in messages:
        producer.produce(
            topic, key=key, value=value, headers=headers, on_delivery=lambda e, _m: errors.append(e)
        )
    assert producer.flush(30) == 0
    assert [e for e in errors if e is not None] == []


def read_all(kafka_hook, topic: str, timeout: float = 30.0) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    """Every message of a one-partition topic: key, value and headers."""
    consumer = kafka_hook.consumer(unique_name("reader"))
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        found = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    return found
                raise RuntimeError(message.error().str())
            found.append((message.key(), message.value(), dict(message.headers() or [])))
        raise TimeoutError(f"{topic} never reached its end")
    finally:
        consumer.close()


def drain(topic: str):
    return drain_topic(topic, TWEETS, settings.consumer_group("drain", topic), 100)


def test_replay_moves_dead_letters_back_and_a_still_bad_one_returns_once(
    kafka_hook, make_topic, keyspace, cassandra
):
    topic = make_topic("replay", partitions=1, with_dlq=True)
    dlq = settings.dead_letter_topic(topic)
    good, fixed = tweet("1", "a good tweet"), tweet("2", "dead-lettered by a bug, now fixed")
    produce(kafka_hook, topic, [(good.key, good.to_json(), []), (b"bad", NOT_JSON, [("trace", b"abc")])])
    # A valid tweet on the DLQ, as a drain with a since-fixed bug would have left it.
    letter = DeadLetter.for_failure(FIXED_REASON, topic, 0, 41)
    produce(kafka_hook, dlq, [(fixed.key, fixed.to_json(), letter.headers())])

    first = drain(topic)
    assert (first.rows_written, first.dead_lettered) == (1, 1)

    preview = replay_dead_letters(topic, max_messages=100, dry_run=True)
    assert (preview.read, preview.replayed, preview.gave_up, preview.committed) == (2, 2, 0, False)
    assert preview.by_reason[FIXED_REASON] == {"replay": 1, "gave_up": 0}
    (not_json_reason,) = [r for r in preview.by_reason if r.startswith("value is not JSON")]
    assert preview.by_reason[not_json_reason] == {"replay": 1, "gave_up": 0}
    replay_group = settings.consumer_group("dlq-replay", topic)
    (untouched,) = read_lag(dlq, replay_group, with_age=False).partitions
    assert untouched.committed < 0  # the dry run committed nothing
    assert len(read_all(kafka_hook, topic)) == 2  # and produced nothing

    replayed = replay_dead_letters(topic, max_messages=100)
    assert (replayed.read, replayed.replayed, replayed.gave_up, replayed.committed) == (2, 2, 0, True)
    assert replayed.replayed_to == {topic: 2}
    back_on_topic = read_all(kafka_hook, topic)[2:]
    assert [(k, v) for k, v, _ in back_on_topic] == [(fixed.key, fixed.to_json()), (b"bad", NOT_JSON)]
    assert [h[HEADER_REPLAY_COUNT] for _, _, h in back_on_topic] == [b"1", b"1"]
    assert back_on_topic[1][2]["trace"] == b"abc"  # the message's own headers travel with it
    assert not any(name.startswith("dlq.") and name != HEADER_REPLAY_COUNT for name in back_on_topic[0][2])

    second = drain(topic)
    assert (second.rows_written, second.dead_lettered) == (1, 1)
    rows = cassandra.execute(
        f"SELECT tweet_id FROM {keyspace}.tweets WHERE city = 'Vancouver' AND day = '2026-11-22'"
    )
    assert sorted(row.tweet_id for row in rows) == ["1", "2"]  # the fixed tweet is a row now

    dead = read_all(kafka_hook, dlq)
    assert [(v, DeadLetter.from_headers(list(h.items())).replay_count) for _, v, h in dead] == [
        (fixed.to_json(), 0),
        (NOT_JSON, 0),
        (NOT_JSON, 1),  # the still-bad message came back once, with the count it was replayed with
    ]

    gave_up = replay_dead_letters(topic, max_messages=100)
    assert (gave_up.read, gave_up.replayed, gave_up.gave_up, gave_up.committed) == (1, 0, 1, True)
    assert gave_up.by_reason[not_json_reason] == {"replay": 0, "gave_up": 1}
    assert len(read_all(kafka_hook, topic)) == 4  # nothing re-produced: no loop

    nothing = replay_dead_letters(topic, max_messages=100)
    assert (nothing.read, nothing.replayed, nothing.gave_up) == (0, 0, 0)
    # The drain's transaction markers take DLQ offsets too; the replay committed past them.
    assert read_lag(dlq, replay_group, with_age=False).total == 0
    assert drain(topic).messages_read == 0
    assert len(read_all(kafka_hook, dlq)) == 3


def test_max_messages_bounds_a_replay_and_the_rest_waits(kafka_hook, make_topic):
    topic = make_topic("replay_cap", partitions=1, with_dlq=True)
    dlq = settings.dead_letter_topic(topic)
    letters = [
        (f"k{n}".encode(), b"{}", DeadLetter.for_failure("kind is missing", topic, 0, n).headers())
        for n in range(5)
    ]
    produce(kafka_hook, dlq, letters)

    first = replay_dead_letters(topic, max_messages=3)
    rest = replay_dead_letters(topic, max_messages=100)

    assert (first.read, first.replayed, rest.read, rest.replayed) == (3, 3, 2, 2)
    assert [k for k, _, _ in read_all(kafka_hook, topic)] == [f"k{n}".encode() for n in range(5)]


def test_replay_refuses_a_dead_letter_topic_as_source():
    with pytest.raises(ValueError, match="give the source topic"):
        replay_dead_letters("tweets.dlq", max_messages=1)


def test_replay_writes_only_to_the_topic_it_was_given(kafka_hook, make_topic):
    topic = make_topic("replay_only", partitions=1, with_dlq=True)
    elsewhere = make_topic("replay_elsewhere", partitions=1, with_dlq=False)
    dlq = settings.dead_letter_topic(topic)
    ours = DeadLetter.for_failure("kind is missing", topic, 0, 1).headers()
    # A dead letter whose header says it came from another topic: a forged or misplaced header
    # must not choose where the replay writes.
    foreign = DeadLetter.for_failure("kind is missing", elsewhere, 0, 2).headers()
    # A copy the drain cut to fit the DLQ is not the original message: not re-sent either.
    cut = [*DeadLetter.for_failure("value is not JSON", topic, 0, 3).headers(), ("dlq.truncated", b"value")]
    produce(kafka_hook, dlq, [(b"ours", b"{}", ours), (b"foreign", b"{}", foreign), (b"cut", b"{", cut)])

    summary = replay_dead_letters(topic, max_messages=100)

    assert (summary.read, summary.replayed, summary.wrong_topic, summary.truncated) == (3, 1, 1, 1)
    assert summary.committed
    assert summary.wrong_topic_offsets == [f"{dlq}[0]@1"]
    assert summary.replayed_to == {topic: 1}
    assert [k for k, _, _ in read_all(kafka_hook, topic)] == [b"ours"]
    assert read_all(kafka_hook, elsewhere) == []
    assert "1 naming another source topic and 1 cut to fit (not replayed)" in summary.describe()
    again = replay_dead_letters(topic, max_messages=100)
    assert again.read == 0  # skipped past, like an unreadable one: it stays on the DLQ for a person


@pytest.mark.parametrize("name", ["", ".", "..", "bad topic", "a/b", "x" * 246, "tweets\n"])
def test_replay_refuses_a_topic_name_kafka_would_not_accept(name):
    with pytest.raises(ValueError, match="must be a Kafka topic name"):
        replay_dead_letters(name, max_messages=1)
