"""Decoding and validating a Kafka value (no services).

Validation knows Cassandra's limits: each value the issue found stopping a drain is refused with a
reason (the dead-letter's ``dlq.error``), the field name first, instead of failing the bind or the
parser; a valid value becomes its record, normalised (UTC times, a stripped id, empty labels unset).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from msgspec.structs import replace

from kafkapipeline.streams.base import (
    CITY_MAX_CHARS,
    INT32_MAX,
    INT32_MIN,
    LABEL_MAX_CHARS,
    SET_MAX_ITEMS,
    SHOWN_CHARS,
    City,
    InvalidRecord,
    Kind,
    Record,
    TextSet,
    decode_record,
)
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
        (TweetRecord, b"[" * 100_000, "value is JSON array, expected an object"),  # refused at once
        (TweetRecord, b'{"a":' * 50_000, "nested too deeply"),
        (
            TweetRecord,
            with_raw(tweet_with(), "like_count", "9" * 5_000),
            "like_count: a huge int is outside the range of a count",
        ),
        (
            TweetRecord,
            with_raw(tweet_with(), "like_count", "9" * 400),
            "like_count: a huge int is outside the range of a count",
        ),
        (
            TweetRecord,
            with_raw(tweet_with(), "like_count", "1e400"),
            "like_count: inf is outside the range of a count",
        ),
        (
            TweetRecord,
            tweet_with(like_count=3_000_000_000),
            f"outside the range of a count [0, {INT32_MAX}] (never negative)",
        ),
        (TweetRecord, tweet_with(retweet_count=INT32_MIN - 1), "retweet_count: -2147483649 is outside"),
        (WeatherRecord, weather_with(humidity_pct=2**31), "humidity_pct: 2147483648 is outside"),
        (WeatherRecord, weather_with(pressure_hpa=INT32_MIN - 1), "pressure_hpa: -2147483649 is outside"),
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
            "kind: expected a record kind, got a list of 10000 items",
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
        city="x" * CITY_MAX_CHARS,
        like_count=INT32_MAX,
        reply_count=0,  # counts start at 0
    )
    record = decode_record(TweetRecord, at_limits)
    assert (record.like_count, record.reply_count, len(record.city)) == (INT32_MAX, 0, CITY_MAX_CHARS)
    assert decode_record(TweetRecord, tweet_with(text="😀" * TEXT_MAX_CHARS)).text == "😀" * TEXT_MAX_CHARS
    assert decode_record(WeatherRecord, WEATHER.to_json()) == WEATHER
    # pressure and humidity are measurements, not counts: Cassandra's whole int range.
    weather = decode_record(WeatherRecord, weather_with(pressure_hpa=INT32_MIN, humidity_pct=INT32_MAX))
    assert (weather.pressure_hpa, weather.humidity_pct) == (INT32_MIN, INT32_MAX)


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


BASE = {"tweet": TWEET.to_dict(), "weather": WEATHER.to_dict()}
TYPES = {"tweet": TweetRecord, "weather": WeatherRecord}


def value_with(kind: str, /, **changes) -> bytes:
    """The base value of ``kind`` with ``changes`` (``...`` removes a field)."""
    payload = {**BASE[kind], **changes}
    return json.dumps({key: value for key, value in payload.items() if value is not ...}).encode()


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        ("tweet", b"", "value is not JSON: Input data was truncated"),
        ("tweet", b"{not json", "value is not JSON: JSON is malformed: object keys must be strings (byte 1)"),
        (
            "tweet",
            b'{"schema_version": 1, "text": "\xff\xfe"}',
            "value is not valid UTF-8 at byte 31 (0xff: invalid start byte)",
        ),
        (
            "tweet",
            b'\xff\xfe{\x00"\x00',
            "value is not valid UTF-8 at byte 0 (0xff: invalid start byte)",
        ),  # UTF-16 with its BOM
        (
            "tweet",
            b'{"text": "caf\xe9", "schema_version": 1}',
            "value is not valid UTF-8 at byte 13 (0xe9: invalid continuation byte)",
        ),  # Latin-1, before the schema_version
        (
            "tweet",
            b"\xef\xbb\xbf{}",
            "value starts with a UTF-8 byte-order mark (BOM): Kafka values must be JSON without one",
        ),
        ("tweet", None, "value is empty (null message)"),
        ("tweet", b"[1]", "value is JSON array, expected an object"),
        ("tweet", b'"text"', "value is JSON str, expected an object"),
        ("tweet", value_with("tweet", schema_version=2), "schema_version 2 is not supported (expected 1)"),
        ("tweet", value_with("tweet", schema_version=0), "schema_version 0 is not supported (expected 1)"),
        (
            "tweet",
            value_with("tweet", schema_version=...),
            "schema_version None is not supported (expected 1)",
        ),
        (
            "tweet",
            value_with("tweet", schema_version=True),
            "schema_version True is not supported (expected 1)",
        ),
        (
            "tweet",
            value_with("tweet", schema_version=1.0),
            "schema_version 1.0 is not supported (expected 1)",
        ),
        (
            "tweet",
            value_with("tweet", kind="weather"),
            "kind 'weather' does not belong on this topic (expected 'tweet')",
        ),
        (
            "weather",
            value_with("weather", kind="x" * 21),
            f"kind {'x' * 21!r} does not belong on this topic (expected 'weather')",
        ),
        ("tweet", value_with("weather", city=...), "kind 'weather' does not belong on this topic"),  # first
        ("weather", value_with("weather", kind=7), "kind: expected a record kind, got 7"),
        ("tweet", value_with("tweet", tweet_id="  "), "tweet_id: required id is missing or not text: '  '"),
        ("tweet", value_with("tweet", tweet_id=...), "tweet_id: required field is missing"),
        (
            "tweet",
            value_with("tweet", tweet_id="9" * 129),
            "tweet_id: 129 characters, more than the 128 allowed",
        ),
        ("tweet", value_with("tweet", text=...), "text: required field is missing"),
        ("tweet", value_with("tweet", text=None), "text: expected text, got None"),
        ("tweet", value_with("tweet", city=""), "city: required text is empty"),
        (
            "tweet",
            value_with("tweet", like_count=2**31),
            "like_count: 2147483648 is outside the range of a count [0, 2147483647] (never negative)",
        ),
        (
            "tweet",
            value_with("tweet", like_count="lots"),
            "like_count: expected an integer or null, got 'lots'",
        ),
        ("tweet", value_with("tweet", like_count=True), "like_count: expected an integer or null, got True"),
        # Counts are whole and never negative; a post has a text that is not only whitespace.
        ("tweet", value_with("tweet", like_count=1.5), "like_count: expected an integer or null, got 1.5"),
        (
            "tweet",
            value_with("tweet", like_count=-5),
            "like_count: -5 is outside the range of a count [0, 2147483647] (never negative)",
        ),
        ("tweet", value_with("tweet", quote_count=-1), "quote_count: -1 is outside the range of a count"),
        ("tweet", value_with("tweet", retweet_count=-(2**40)), "retweet_count: -1099511627776 is outside"),
        ("tweet", value_with("tweet", text=""), "text: required text is empty"),
        (
            "tweet",
            value_with("tweet", text=" \n\t "),
            "text: expected text with a character other than whitespace, got ' \\n\\t '",
        ),
        # A float for a count: once rounded, now refused (msgspec's int is a whole JSON number).
        ("tweet", value_with("tweet", like_count=2.5), "like_count: expected an integer or null, got 2.5"),
        ("tweet", value_with("tweet", reply_count=3.0), "reply_count: expected an integer or null, got 3.0"),
        ("tweet", value_with("tweet", lang="x" * 36), "lang: 36 characters, more than the 35 allowed"),
        (
            "tweet",
            value_with("tweet", created_at="yesterday"),
            "created_at: not an ISO-8601 timestamp: 'yesterday'",
        ),
        # RFC 3339 only: a date alone was a midnight for fromisoformat, now it is refused.
        (
            "tweet",
            value_with("tweet", created_at="2024-05-01"),
            "created_at: not an ISO-8601 timestamp: '2024-05-01'",
        ),
        (
            "tweet",
            value_with("tweet", text="a\ud800"),
            "text: not encodable as UTF-8 (surrogates not allowed at character 1, '\\ud800')",
        ),
        (
            "weather",
            value_with("weather", temperature_c=70.5),
            "temperature_c: 70.5 is outside the plausible Celsius temperatures [-100, 70]",
        ),
        (
            "weather",
            value_with("weather", temperature_c="warm"),
            "temperature_c: expected a number, got 'warm'",
        ),
        ("weather", value_with("weather", temperature_c=...), "temperature_c: required field is missing"),
        (
            "weather",
            value_with("weather", humidity_pct=1.5e10),
            "humidity_pct: expected an integer or null, got 15000000000.0",
        ),
        (
            "weather",
            with_raw(value_with("weather"), "wind_speed_ms", "NaN"),
            "value is not JSON: JSON is malformed: invalid character",
        ),
        (
            "weather",
            value_with("weather", sunrise=5),
            "sunrise: expected an ISO-8601 timestamp or null, got 5",
        ),
    ],
)
def test_an_invalid_value_is_refused_with_its_reason(kind, raw, reason):
    with pytest.raises(InvalidRecord) as refused:
        decode_record(TYPES[kind], raw)
    assert str(refused.value).startswith(reason)


@pytest.mark.parametrize(
    ("kind", "changes", "expected"),
    [
        ("tweet", {"tweet_id": 1578516068309794817}, {"tweet_id": "1578516068309794817"}),
        ("tweet", {"tweet_id": " 42\n"}, {"tweet_id": "42"}),
        ("tweet", {"tweet_id": "\u00a042"}, {"tweet_id": "42"}),
        (
            "tweet",
            {"lang": "", "author_id": "", "place_id": "", "source": "", "kind": ...},
            {"lang": None, "author_id": None, "place_id": None, "source": "unknown"},
        ),
        ("tweet", {"kind": None, "author_id": None}, {}),
        (
            "tweet",
            {"created_at": "2024-05-01T23:00:00-02:00"},
            {"created_at": datetime(2024, 5, 2, 1, tzinfo=UTC)},
        ),
        (
            "tweet",
            {"created_at": "2024-05-01T23:00:00"},
            {"created_at": datetime(2024, 5, 1, 23, tzinfo=UTC)},
        ),
        ("tweet", {"extra": [1, {"a": 2}]}, {}),  # unknown fields are ignored
        (
            "weather",
            {"temperature_c": 70, "pressure_hpa": None, "sunset": None, "description": ""},
            {"temperature_c": 70.0, "pressure_hpa": None, "sunset": None, "description": None},
        ),
    ],
)
def test_a_valid_value_becomes_its_normalised_record(kind, changes, expected):
    record = decode_record(TYPES[kind], value_with(kind, **changes))
    base = decode_record(TYPES[kind], value_with(kind))
    assert record == replace(base, **expected)
    for name in ("created_at", "observed_at", "sunset"):
        moment = getattr(record, name, None)
        assert moment is None or moment.tzinfo is UTC


def test_the_wire_carries_schema_version_and_kind_and_round_trips():
    assert json.loads(TWEET.to_json())["schema_version"] == 1
    assert (TWEET.to_dict()["kind"], WEATHER.to_dict()["kind"]) == ("tweet", "weather")
    assert TweetRecord.from_json(TWEET.to_json()) == TWEET
    assert WeatherRecord.from_dict(WEATHER.to_dict()) == WEATHER
    assert TWEET.created_at.tzinfo is UTC  # the naive-free constructor normalised it


def test_a_record_from_python_values_is_checked_as_a_decoded_one():
    with pytest.raises(InvalidRecord, match="city: 101 characters, more than the 100 allowed"):
        TweetRecord.from_dict({**BASE["tweet"], "city": "x" * 101})
    with pytest.raises(InvalidRecord, match="tweet_id: required field is missing"):
        TweetRecord.from_dict({"text": "t", "created_at": datetime(2024, 1, 1), "city": "c"})
    made = TweetRecord.from_dict(
        {"tweet_id": 7, "text": "t", "created_at": datetime(2024, 1, 1), "city": "c"}
    )
    assert (made.tweet_id, made.created_at, made.source) == ("7", datetime(2024, 1, 1, tzinfo=UTC), "unknown")


class Tagged(Record, frozen=True, tag=1):
    """A record with a ``set<text>`` field, as a stream would declare ``hashtags``."""

    KIND: ClassVar[str] = "tagged"

    city: City
    hashtags: TextSet | None = None
    kind: Kind | None = "tagged"


def test_a_text_set_field_decodes_a_json_array_and_round_trips():
    record = decode_record(Tagged, b'{"schema_version": 1, "city": "c", "hashtags": ["rain", "yvr", "rain"]}')
    assert record.hashtags == frozenset({"rain", "yvr"})
    assert decode_record(Tagged, record.to_json()) == record
    assert decode_record(Tagged, b'{"schema_version": 1, "city": "c"}').hashtags is None


@pytest.mark.parametrize(
    ("hashtags", "reason"),
    [
        (["ok", ""], "hashtags[1]: required text is empty"),
        (["ok", 7], "hashtags[1]: expected text, got 7"),
        (["x" * (LABEL_MAX_CHARS + 1)], f"hashtags[0]: {LABEL_MAX_CHARS + 1} characters, more than the"),
        ([str(n) for n in range(SET_MAX_ITEMS + 1)], f"hashtags: {SET_MAX_ITEMS + 1} items, more than the"),
        ("rain", "hashtags: expected "),
    ],
)
def test_a_bad_text_set_is_refused_with_the_item_named(hashtags, reason):
    value = json.dumps({"schema_version": 1, "city": "c", "hashtags": hashtags}).encode()
    with pytest.raises(InvalidRecord) as refused:
        decode_record(Tagged, value)
    assert str(refused.value).startswith(reason), str(refused.value)
