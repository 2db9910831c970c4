"""Ingest against the real Kafka: what a source yields is what lands in the topic, once.

The X API is unreachable here, so for the X tests ``responses`` serves the recorded real
response at the HTTP edge; Kafka is real.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
import responses
from confluent_kafka.admin import NewTopic

from kafkapipeline.errors import ConfigurationError
from kafkapipeline.kafka.produce import DeliveryFailed, TopicProducer
from kafkapipeline.sources.base import Interval, MalformedResponse, RecordSource, SourcePage
from kafkapipeline.sources.ingest import ingest
from kafkapipeline.sources.replay import ReplayTweetSource, ReplayWeatherSource
from kafkapipeline.sources.selection import SourceChoice
from kafkapipeline.sources.x_api import XApiTweetSource
from kafkapipeline.streams.tweets import TweetRecord
from kafkapipeline.streams.weather import WeatherRecord
from tests.conftest import unique_name
from tests.integration.kafka_reading import read_topic

pytestmark = pytest.mark.integration

SEARCH_URL = "https://api.twitter.com/2/tweets/search/recent"
INTERVAL = Interval(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), datetime(2026, 11, 20, 12, 30, tzinfo=UTC))
X_INTERVAL = Interval(datetime(2022, 10, 7, 22, 20, tzinfo=UTC), datetime(2022, 10, 7, 22, 50, tzinfo=UTC))
X_NOW = datetime(2022, 10, 7, 23, 0, tzinfo=UTC).timestamp()


def by_key(records):
    return sorted(records, key=lambda r: (r.key, r.to_json()))


def test_replayed_tweets_arrive_keyed_and_unchanged(kafka_hook, make_topic):
    topic = make_topic("ingest_tweets", partitions=3, with_dlq=False)
    source = ReplayTweetSource("Vancouver", tweets_per_10_minutes=8)
    expected = source.records(INTERVAL)

    summary = ingest(SourceChoice(source, "test"), INTERVAL, topic, kafka_hook)

    messages = read_topic(kafka_hook, topic)
    assert all(key == TweetRecord.from_json(value).key for key, value in messages)
    assert by_key(TweetRecord.from_json(value) for _, value in messages) == by_key(expected)
    assert summary["produced"] == len(expected) == len(messages) > 0
    assert (summary["source"], summary["topic"], summary["skipped"]) == ("replay", topic, 0)
    assert summary["interval_start"] == "2026-11-20T12:00:00+00:00"


def test_replayed_weather_arrives_keyed_by_city(kafka_hook, make_topic):
    topic = make_topic("ingest_weather", partitions=2, with_dlq=False)
    source = ReplayWeatherSource(["Vancouver", "Burnaby"])
    expected = source.records(INTERVAL)

    ingest(SourceChoice(source, "test"), INTERVAL, topic, kafka_hook)

    messages = read_topic(kafka_hook, topic)
    assert sorted(key for key, _ in messages) == sorted([b"Burnaby"] * 3 + [b"Vancouver"] * 3)
    assert by_key(WeatherRecord.from_json(value) for _, value in messages) == by_key(expected)


def test_ingest_into_a_missing_topic_says_to_run_bootstrap_and_creates_nothing(kafka_hook):
    topic = unique_name("not_bootstrapped")
    source = ReplayWeatherSource(["Vancouver"])

    expected = rf"Kafka topic '{topic}' does not exist\. Trigger the bootstrap DAG"
    with pytest.raises(ConfigurationError, match=expected):
        ingest(SourceChoice(source, "test"), INTERVAL, topic, kafka_hook)

    assert topic not in kafka_hook.admin().list_topics(timeout=10).topics  # not auto-created either


@pytest.fixture
def x_pages(reference_data):
    """The recorded real page (with a next_token) and a second page with other ids and no token."""
    first = json.loads((reference_data / "x_api_v2_search_recent_response.json").read_text())
    second = copy.deepcopy(first)
    for item in second["data"]:
        item["id"] = str(int(item["id"]) - (60_000 << 22))
    del second["meta"]["next_token"]
    return first, second


def x_source(sleeps: list) -> XApiTweetSource:
    return XApiTweetSource(
        "test-token", max_results=10, sleep=sleeps.append, clock=lambda: X_NOW, backoff_seconds=0.0
    )


@responses.activate
def test_rate_limited_page_is_fetched_again_and_produced_once(kafka_hook, make_topic, x_pages):
    first, second = x_pages
    page_two = [
        responses.matchers.query_param_matcher(
            {"next_token": first["meta"]["next_token"]}, strict_match=False
        )
    ]
    responses.get(SEARCH_URL, status=429, headers={"x-rate-limit-reset": str(int(X_NOW) + 5)}, match=page_two)
    responses.get(SEARCH_URL, json=second, match=page_two)
    responses.get(SEARCH_URL, json=first)
    topic = make_topic("ingest_x", partitions=3, with_dlq=False)
    sleeps: list[float] = []

    summary = ingest(SourceChoice(x_source(sleeps), "test"), X_INTERVAL, topic, kafka_hook)

    keys = [key for key, _ in read_topic(kafka_hook, topic)]
    expected = {item["id"].encode() for item in first["data"] + second["data"]}
    assert len(keys) == len(set(keys)) == 20 and set(keys) == expected
    assert len(responses.calls) == 3 and sleeps == [6.0]
    assert (summary["pages"], summary["produced"], summary["source"]) == (2, 20, "x_api")


@responses.activate
def test_a_page_of_garbage_fails_the_run_after_the_good_pages_were_produced(kafka_hook, make_topic, x_pages):
    first, _ = x_pages
    garbage = {"data": [{"text": "no id"}, {"id": "abc"}], "meta": {"result_count": 2}}
    page_two = [
        responses.matchers.query_param_matcher(
            {"next_token": first["meta"]["next_token"]}, strict_match=False
        )
    ]
    responses.get(SEARCH_URL, json=garbage, match=page_two)
    responses.get(SEARCH_URL, json=first)
    topic = make_topic("ingest_x", partitions=1, with_dlq=False)

    with pytest.raises(MalformedResponse, match=r"page 2: none of the 2 tweets.*10 records from the other"):
        ingest(SourceChoice(x_source([]), "test"), X_INTERVAL, topic, kafka_hook)

    assert len(read_topic(kafka_hook, topic)) == 10


def test_producing_to_a_missing_topic_fails_with_the_count(kafka_hook):
    topic = unique_name("missing")
    admin = kafka_hook.admin()
    records = ReplayTweetSource(tweets_per_10_minutes=5).records(INTERVAL)
    try:
        with pytest.raises(DeliveryFailed) as raised:
            overrides = {"allow.auto.create.topics": False, "message.timeout.ms": 3000}
            with TopicProducer(kafka_hook.producer(**overrides), topic, flush_timeout=30) as producer:
                producer.send(records)
        assert str(raised.value).startswith(f"{len(records)} of {len(records)} records to topic '{topic}'")
        # librdkafka holds records for an unknown topic until message.timeout.ms, then fails them.
        assert "Message timed out" in str(raised.value)
        assert topic not in admin.list_topics(timeout=10).topics  # nothing auto-created
    finally:
        admin.delete_topics([topic])


def test_only_the_records_the_broker_refused_are_counted(kafka_hook):
    """A topic that accepts at most 2 KiB per batch: small tweets go in, the large ones are refused."""
    topic = unique_name("small_messages")
    admin = kafka_hook.admin()  # keep the client alive until its futures are done
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, config={"max.message.bytes": "2048"})])
    futures[topic].result(timeout=30)
    created = datetime(2026, 11, 20, 12, tzinfo=UTC)
    small = [TweetRecord(str(i), "short", created + timedelta(seconds=i), "Vancouver") for i in range(3)]
    # Digits of a deterministic irrational-looking sequence: lz4 cannot shrink them below 2 KiB.
    noise = "".join(str((i * 7919) % 104729) for i in range(3000))
    large = [TweetRecord(str(10 + i), noise, created, "Vancouver") for i in range(2)]
    try:
        producer = TopicProducer(kafka_hook.producer(), topic, flush_timeout=30)
        producer.send(small)
        assert producer.confirm().delivered == 3
        with pytest.raises(DeliveryFailed, match=r"^2 of 5 records .*MSG_SIZE_TOO_LARGE"):
            producer.send(large)
            producer.confirm()
        assert len(read_topic(kafka_hook, topic)) == 3
    finally:
        admin.delete_topics([topic])


class _ListSource(RecordSource):
    """A source that yields the given records as one page (what a buggy upstream could return)."""

    name = "list"

    def __init__(self, records):
        self._records = records

    def pages(self, interval):
        yield SourcePage("page 1", records=list(self._records))


def test_items_a_drain_would_refuse_are_skipped_with_their_reason_and_the_rest_produced(
    kafka_hook, make_topic
):
    topic = make_topic("ingest_checked", partitions=1, with_dlq=False)
    created = datetime(2026, 11, 20, 12, 5, tzinfo=UTC)
    good = [TweetRecord(str(i), f"fine {i}", created, "Vancouver") for i in (1, 5)]
    bad = [
        TweetRecord("2", "\ud800", created, "Vancouver"),  # lone surrogate: to_json() raises
        TweetRecord("3", "many likes", created, "Vancouver", like_count=3_000_000_000),
        TweetRecord("4", "huge city", created, "x" * 70_000),
    ]
    source = _ListSource([good[0], *bad, good[1]])

    summary = ingest(SourceChoice(source, "test"), INTERVAL, topic, kafka_hook)

    messages = read_topic(kafka_hook, topic)
    assert sorted(key for key, _ in messages) == [b"1", b"5"]
    assert (summary["produced"], summary["skipped"]) == (2, 3)
    reasons = summary["skip_reasons"]
    assert reasons[0].startswith("'2': ") and "surrogates not allowed" in reasons[0]
    assert (
        reasons[1].startswith("'3': ")
        and "like_count: 3000000000 is outside the range of a count" in reasons[1]
    )
    assert reasons[2].startswith("'4': ") and "city: 70000 characters" in reasons[2]
