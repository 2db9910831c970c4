"""The lag reader and ConsumerLagTrigger against the real Kafka, run with asyncio as the triggerer would."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from confluent_kafka import TopicPartition

from kafkapipeline import settings
from kafkapipeline.drain.task import drain_topic
from kafkapipeline.kafka.lag import read_lag
from kafkapipeline.kafka.lag_trigger import ConsumerLagTrigger
from kafkapipeline.streams.tweets import TWEETS
from tests.integration.drain_support import closed_port, committed_offsets, produce_records, tweets

pytestmark = pytest.mark.integration


async def first_event(trigger: ConsumerLagTrigger, within: float):
    """The trigger's first event, or None if it stayed deferred for ``within`` seconds."""
    events = trigger.run()
    try:
        return (await asyncio.wait_for(anext(events), within)).payload
    except TimeoutError:
        return None
    finally:
        await events.aclose()


def lag_trigger(topic: str, group: str, **overrides) -> ConsumerLagTrigger:
    kwargs = {"min_batch": 10, "max_wait_seconds": 300, "poll_interval": 0.2, "kafka_timeout": 5}
    return ConsumerLagTrigger(topic, group, **(kwargs | overrides))


def test_stays_deferred_below_min_batch_and_fires_above_it(make_topic, kafka_hook):
    topic = make_topic("lag_min", partitions=2)
    group = settings.consumer_group("drain", topic)
    produce_records(kafka_hook, topic, tweets(6))

    assert asyncio.run(first_event(lag_trigger(topic, group), within=3)) is None

    produce_records(kafka_hook, topic, tweets(10)[6:])
    started = time.monotonic()
    event = asyncio.run(first_event(lag_trigger(topic, group), within=20))

    assert event is not None and time.monotonic() - started < 10
    assert (event["status"], event["reason"], event["lag"]["total_lag"]) == ("ready", "min_batch", 10)
    assert json.loads(json.dumps(event)) == event  # a TriggerEvent payload must be JSON
    # Reading the lag consumed and committed nothing: the drain still has all ten to do.
    assert all(offset < 0 for offset in committed_offsets(kafka_hook, topic, group).values())


def test_fires_after_max_wait_with_a_small_lag(make_topic, kafka_hook):
    topic = make_topic("lag_age", partitions=1)
    group = settings.consumer_group("drain", topic)
    before_producing = time.time()
    produce_records(kafka_hook, topic, tweets(3))

    event = asyncio.run(first_event(lag_trigger(topic, group, min_batch=1000, max_wait_seconds=2), within=20))

    assert event is not None
    assert (event["reason"], event["lag"]["total_lag"]) == ("max_wait", 3)
    assert event["lag"]["oldest_age_seconds"] >= 2
    assert time.time() - before_producing >= 2  # it did wait for the messages to be 2s old
    assert all(offset < 0 for offset in committed_offsets(kafka_hook, topic, group).values())


def test_stays_deferred_once_the_drain_committed_everything(make_topic, keyspace, kafka_hook):
    topic = make_topic("lag_drained", partitions=2)
    group = settings.consumer_group("drain", topic)
    produce_records(kafka_hook, topic, tweets(5))
    assert drain_topic(topic, TWEETS, group, 100).committed

    trigger = lag_trigger(topic, group, min_batch=1, max_wait_seconds=0.5)
    assert asyncio.run(first_event(trigger, within=3)) is None

    produce_records(kafka_hook, topic, tweets(6)[5:])
    event = asyncio.run(first_event(lag_trigger(topic, group, min_batch=1), within=20))
    assert event is not None and event["lag"]["total_lag"] == 1


def test_unreachable_kafka_is_an_error_event_not_a_silent_loop(make_topic, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_UNREACHABLE",
        json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": f"127.0.0.1:{closed_port()}"}}),
    )
    trigger = lag_trigger("tweets", "g", kafka_config_id="kafka_unreachable", kafka_timeout=2)

    event = asyncio.run(first_event(trigger, within=30))

    assert event is not None and event["status"] == "error"
    assert (
        "could not read the lag of group 'g' on topic 'tweets' (connection 'kafka_unreachable')"
        in event["message"]
    )


def test_unknown_topic_is_an_error_event(kafka_hook):
    event = asyncio.run(first_event(lag_trigger("no_such_topic_for_lag", "g"), within=30))
    assert event is not None and event["status"] == "error"
    assert "no_such_topic_for_lag" in event["message"]


def test_read_lag_reports_offsets_and_the_age_at_the_committed_offset(make_topic, kafka_hook):
    topic = make_topic("lag_read", partitions=1)
    group = settings.consumer_group("drain", topic)
    producer = kafka_hook.producer()
    base_ms = int(time.time() * 1000) - 60_000
    for i, record in enumerate(tweets(4)):
        producer.produce(topic, key=record.key, value=record.to_json(), timestamp=base_ms + i * 1000)
    assert producer.flush(30) == 0

    fresh = read_lag(topic, group)
    [partition] = fresh.partitions
    assert (partition.committed < 0, partition.low, partition.high, partition.lag) == (True, 0, 4, 4)
    assert partition.oldest_timestamp_ms == base_ms
    assert fresh.oldest_age_seconds() == pytest.approx(time.time() - base_ms / 1000, abs=5)

    committer = kafka_hook.consumer(group)
    try:
        committer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    finally:
        committer.close()

    after = read_lag(topic, group)
    assert (after.partitions[0].committed, after.total) == (2, 2)
    assert after.partitions[0].oldest_timestamp_ms == base_ms + 2000  # the message at the committed offset
    assert committed_offsets(kafka_hook, topic, group) == {0: 2}  # peeking committed nothing
    assert read_lag(topic, group, with_age=False).partitions[0].oldest_timestamp_ms is None


def test_a_lag_of_transaction_markers_only_has_no_age_and_is_read_without_waiting(make_topic, kafka_hook):
    """A transactional producer leaves a commit marker after its records; it takes an offset."""
    topic = make_topic("lag_markers", partitions=1)
    group = settings.consumer_group("drain", topic)
    producer = kafka_hook.producer(**{"transactional.id": f"{topic}.writer"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for record in tweets(2):
        producer.produce(topic, key=record.key, value=record.to_json())
    producer.commit_transaction(30)
    committer = kafka_hook.consumer(group)
    try:
        committer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)  # both records done
    finally:
        committer.close()

    started = time.monotonic()
    lag = read_lag(topic, group, timeout=20)

    assert (lag.partitions[0].committed, lag.partitions[0].high, lag.total) == (2, 3, 1)  # the marker
    assert lag.partitions[0].oldest_timestamp_ms is None and lag.oldest_age_seconds() is None
    assert time.monotonic() - started < 10  # end of partition seen: no wait for the 20 s timeout
