"""Validation knows Cassandra's limits: each value the issue found stopping a drain is refused
with a reason (the dead-letter's ``dlq.error``) instead of failing the bind or the parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kafkapipeline.streams.base import CITY_MAX_CHARS, INT32_MAX, INT32_MIN, SHOWN_CHARS, InvalidRecord, decode_record
from kafkapipeline.streams.tweets import TEXT_MAX_CHARS, TWEET_ID_MAX_CHARS, TweetRecord
from kafkapipeline.streams.weather import WeatherRecord

TWEET = TweetRecord("1578516068309794817", "sunny", datetime(2024, 5, 1, 12, tzinfo=UTC), "Vancouver")
WEATHER = WeatherRecord("Vancouver", datetime(2024, 5, 1, 12, tzinfo=UTC), "clear", 12.5, pressure_hpa=1013)


def tweet_with(**fields) -> bytes:
    return json.dumps({**TWEET.to_dict(), **fields}).encode()


def weather_with(**fields) -> bytes:
    return json.dumps({**WEATHER.to_dict(), **fields}).encode()


def with_raw(record_json: bytes, field: str, raw: str) -> bytes:
    """``record_json`` with ``field`` set to JSON text Python's encoder would not write."""
    payload = json.loads(record_json)
    payload[field] = "__raw__"
    return json.dumps(payload).replace('"__raw__"', raw).encode()


@pytest.mark.parametrize(
    ("record_type", "value", "reason"),
    [
        (TweetRecord, b"[" * 100_000, "value is not usable JSON: nested too deeply to parse"),
        (TweetRecord, b'{"a":' * 50_000, "nested too deeply"),
        (
            TweetRecord,
            with_raw(tweet_with(), "like_count", "9" * 5_000),
            "value is not usable JSON: ValueError",
        ),
        (
            TweetRecord,
            with_raw(tweet_with(), "like_count", "9" * 400),
            "like_count: expected a finite number",
        ),
        (TweetRecord, with_raw(tweet_with(), "like_count", "1e400"), "like_count: expected a finite number"),
        (
            TweetRecord,
            tweet_with(like_count=3_000_000_000),
            f"outside Cassandra's int range [{INT32_MIN}, {INT32_MAX}]",
        ),
        (TweetRecord, tweet_with(retweet_count=INT32_MIN - 1), "retweet_count: -2147483649 is outside"),
        (WeatherRecord, weather_with(humidity_pct=2**31), "humidity_pct: 2147483648 is outside"),
        (TweetRecord, tweet_with(text="\ud800"), "text: not encodable as UTF-8 (surrogates not allowed"),
        (TweetRecord, tweet_with(author_id="a\udfffb"), "author_id: not encodable as UTF-8"),
        (WeatherRecord, weather_with(description="\ud83d"), "description: not encodable as UTF-8"),
        (
            TweetRecord,
            tweet_with(city="x" * 70_000),
            f"city: 70000 characters, more than the {CITY_MAX_CHARS}",
        ),
        (WeatherRecord, weather_with(city="x" * 70_000), "city: 70000 characters"),
        (TweetRecord, tweet_with(tweet_id="9" * 200), f"more than the {TWEET_ID_MAX_CHARS} allowed"),
        (
            TweetRecord,
            with_raw(tweet_with(), "tweet_id", "9" * 200),
            f"more than {TWEET_ID_MAX_CHARS} digits",
        ),
        (
            TweetRecord,
            tweet_with(text="😀" * 60_000),
            f"text: 60000 characters, more than the {TEXT_MAX_CHARS}",
        ),
        (TweetRecord, tweet_with(lang="en" * 40), "lang: 80 characters"),
        (TweetRecord, tweet_with(created_at="0001-01-01T00:00:00+05:00"), "created_at: not an ISO-8601"),
        (WeatherRecord, weather_with(sunset="9999-12-31T23:00:00-05:00"), "sunset: not an ISO-8601"),
        (
            TweetRecord,
            tweet_with(kind=["tweet"] * 10_000),
            "kind: expected a record kind (tweet, weather), got a list",
        ),
        (TweetRecord, tweet_with(schema_version=True), "schema_version True is not supported"),
        (TweetRecord, 12345, "value is not usable JSON: TypeError"),
    ],
)
def test_a_value_beyond_cassandras_limits_is_refused_with_a_reason(record_type, value, reason):
    with pytest.raises(InvalidRecord) as refused:
        decode_record(record_type, value)
    assert reason in str(refused.value)
    assert len(str(refused.value)) < 300  # a dead-letter header, never a copy of the value


def test_the_values_at_the_limits_are_accepted():
    at_limits = tweet_with(
        tweet_id="9" * TWEET_ID_MAX_CHARS,
        text="😀" * TEXT_MAX_CHARS,
        city="x" * CITY_MAX_CHARS,
        like_count=INT32_MAX,
        reply_count=INT32_MIN,
    )
    record = decode_record(TweetRecord, at_limits)
    assert (record.like_count, record.reply_count, len(record.city)) == (INT32_MAX, INT32_MIN, CITY_MAX_CHARS)
    assert decode_record(WeatherRecord, WEATHER.to_json()) == WEATHER


def test_a_bad_value_is_quoted_short():
    with pytest.raises(InvalidRecord) as refused:
        decode_record(TweetRecord, tweet_with(created_at="y" * 10_000))
    assert str(refused.value).startswith("created_at: not an ISO-8601 timestamp: 'yyy")
    assert "(10002 characters)" in str(refused.value)
    assert len(str(refused.value)) < SHOWN_CHARS + 100


def test_a_record_that_cannot_be_encoded_cannot_be_produced():
    """``to_json`` of a lone surrogate raises: the ingest skips such an item (see test_ingest)."""
    with pytest.raises(UnicodeEncodeError):
        TweetRecord("1", "\ud800", TWEET.created_at, "Vancouver").to_json()
