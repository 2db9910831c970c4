"""Property-based tests of the decode -> row path: whatever a message holds, it ends as a
row that Cassandra accepts, or as an :class:`InvalidRecord` with a reason; never as another
exception (which would stop a drain on that offset).

Hypothesis throws random bytes, random JSON and near-valid records (a valid record with one
field replaced by a random JSON value, a huge integer, a lone surrogate, a long string or
deep nesting) at both kinds.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkapipeline.streams.base import (
    CITY_MAX_CHARS,
    INT32_MAX,
    INT32_MIN,
    LABEL_MAX_CHARS,
    SET_MAX_ITEMS,
    InvalidRecord,
)
from kafkapipeline.streams.tweets import TEXT_MAX_CHARS, TWEET_ID_MAX_CHARS, TWEETS, TweetRecord
from kafkapipeline.streams.weather import WEATHER, WeatherRecord

PROPERTIES = settings(
    max_examples=300,
    database=None,  # no .hypothesis folder in the checkout; failures print their example
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INGESTED_AT = datetime(2026, 12, 1, tzinfo=UTC)
KINDS = ("tweet", "weather")
STREAM_OF = {"tweet": TWEETS, "weather": WEATHER}
COLUMNS = {kind: stream.table.drain_spec.columns for kind, stream in STREAM_OF.items()}
#: Counts are never negative; pressure and humidity are measurements within Cassandra's int.
COUNT_COLUMNS = {"retweet_count", "reply_count", "like_count", "quote_count"}
INT_COLUMNS = COUNT_COLUMNS | {"pressure_hpa", "humidity_pct"}
#: Cassandra refuses a partition or clustering key component of 64 KiB or more.
KEY_LIMIT_BYTES = 65_535
#: Reasons become dead-letter headers: they must stay short whatever the value was.
REASON_MAX_CHARS = 1_000

BASE = {
    "tweet": TweetRecord(
        tweet_id="1578516068309794817",
        text="What a lovely sunny afternoon in Vancouver!",
        created_at=datetime(2024, 5, 1, 23, 59, 58, 123000, tzinfo=UTC),
        city="Vancouver",
        lang="en",
        author_id="42",
        retweet_count=3,
        reply_count=1,
        like_count=10,
        quote_count=0,
        place_id="abc",
        source="x_api",
    ).to_dict(),
    "weather": WeatherRecord(
        city="Vancouver",
        observed_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        description="broken clouds",
        temperature_c=12.5,
        feels_like_c=11.0,
        temp_min_c=10.0,
        temp_max_c=14.0,
        pressure_hpa=1013,
        humidity_pct=80,
        wind_speed_ms=3.5,
        sunrise=datetime(2024, 5, 1, 12, 50, tzinfo=UTC),
        sunset=datetime(2024, 5, 2, 3, 30, tzinfo=UTC),
        provider="openweathermap",
    ).to_dict(),
}


def to_row_or_reason(kind_name: str, value: bytes | None) -> tuple[Any, ...] | None:
    """The row of ``value``, or None when it was refused with a reason; anything else raises."""
    stream = STREAM_OF[kind_name]
    try:
        [row] = stream.rows([stream.decode(value)], INGESTED_AT)
    except InvalidRecord as err:
        reason = str(err)
        assert reason and len(reason) <= REASON_MAX_CHARS, reason[:200]
        return None
    assert_within_cassandra_limits(kind_name, row)
    return row


def assert_within_cassandra_limits(kind_name: str, row: tuple[Any, ...]) -> None:
    columns = COLUMNS[kind_name]
    assert len(row) == len(columns)
    values = dict(zip(columns, row, strict=True))
    for name, value in values.items():
        if value is None:
            continue
        if name in INT_COLUMNS:
            lowest = 0 if name in COUNT_COLUMNS else INT32_MIN
            assert type(value) is int and lowest <= value <= INT32_MAX, (name, value)
        elif isinstance(value, str):
            value.encode("utf-8")  # raises on a lone surrogate: the bind would too
            assert len(value) <= TEXT_MAX_CHARS, name
        elif isinstance(value, float):
            assert math.isfinite(value), (name, value)
        elif isinstance(value, frozenset):  # set<text>: labels that bind
            assert 0 < len(value) <= SET_MAX_ITEMS, (name, len(value))
            for item in value:
                assert 0 < len(item) <= LABEL_MAX_CHARS and item.encode("utf-8"), (name, item)
        elif isinstance(value, datetime):
            assert value.tzinfo is not None and value.utcoffset().total_seconds() == 0, (name, value)
        else:
            assert isinstance(value, date), (name, value)
    assert 0 < len(values["city"]) <= CITY_MAX_CHARS
    assert len(values["city"].encode("utf-8")) < KEY_LIMIT_BYTES
    assert values["day"] == values["created_at" if kind_name == "tweet" else "observed_at"].date()
    if kind_name == "tweet":
        assert re.search(r"\S", values["text"]), "a post's text is never empty or only whitespace"
        assert 0 < len(values["tweet_id"]) <= TWEET_ID_MAX_CHARS
        assert len(values["tweet_id"].encode("utf-8")) < KEY_LIMIT_BYTES
        assert -1.0 <= values["sentiment_score"] <= 1.0
        for name in ("author_id", "place_id", "source"):
            assert values[name] is None or len(values[name]) <= LABEL_MAX_CHARS


# --- random bytes and random JSON -------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=15,
)


@PROPERTIES
@given(kind=st.sampled_from(KINDS), value=st.binary(max_size=2_000))
def test_random_bytes_end_as_a_row_or_a_reason(kind, value):
    to_row_or_reason(kind, value)


@PROPERTIES
@given(kind=st.sampled_from(KINDS), value=json_values, ascii_only=st.booleans())
def test_random_json_ends_as_a_row_or_a_reason(kind, value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    to_row_or_reason(kind, text.encode("utf-8", "surrogatepass"))


@PROPERTIES
@given(
    kind=st.sampled_from(KINDS),
    payload=st.dictionaries(
        st.sampled_from([*BASE["tweet"], *BASE["weather"], "extra"]), json_values, max_size=16
    ),
)
def test_random_objects_with_the_right_schema_version_end_as_a_row_or_a_reason(kind, payload):
    value = json.dumps({**payload, "schema_version": 1}).encode()
    to_row_or_reason(kind, value)


# --- near-valid records: one field replaced ----------------------------------------------

PLACEHOLDER = "__replaced_by_raw_json__"

#: JSON text Python's encoder would not write (huge numbers, deep nesting), spliced in as is.
raw_fragments = st.one_of(
    st.integers(300, 5_000).map(lambda digits: "9" * digits),  # beyond float; beyond int() limit
    st.integers(300, 5_000).map(lambda digits: "-" + "1" * digits),
    st.sampled_from(
        ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1e-400", "2147483648", "-2147483649"]
    ),
    st.integers(1, 5_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 5_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.sampled_from(['"\\ud800"', '"a\\udfffb"', '"\\ud83d"', '"\\u0000"', '"2024-05-01T00:00:00\\ud800Z"']),
    st.sampled_from(['"0001-01-01T00:00:00+05:00"', '"9999-12-31T23:00:00-05:00"', '"9999-12-31T23:59:59Z"']),
)
long_strings = st.tuples(st.sampled_from(["x", "😀", "é", " ", "ab c"]), st.integers(50, 80_000)).map(
    lambda unit_count: unit_count[0] * unit_count[1]
)
replacements = st.one_of(
    json_values,
    st.lists(st.text(max_size=LABEL_MAX_CHARS + 2), max_size=SET_MAX_ITEMS + 2),  # a hashtags-like list
    long_strings,
    st.integers(min_value=-(2**63), max_value=2**63),
    st.integers(min_value=INT32_MAX - 2, max_value=INT32_MAX + 2),
    st.integers(min_value=INT32_MIN - 2, max_value=INT32_MIN + 2),
    st.integers(min_value=-2, max_value=2),  # around a count's lower bound
    st.sampled_from(["", " ", "\n\t", "\u3000"]),  # empty and whitespace-only texts
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "So", "Zs"]), max_size=40),
    st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda moment: moment.isoformat()),
)


@st.composite
def near_valid_values(draw: st.DrawFn, kind: str) -> bytes:
    payload = dict(BASE[kind])
    name = draw(st.sampled_from([*payload, "extra"]))
    how = draw(st.sampled_from(["value", "raw", "delete"]))
    if how == "delete":
        payload.pop(name, None)
        return json.dumps(payload).encode()
    if how == "value":
        payload[name] = draw(replacements)
        return json.dumps(payload, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    payload[name] = PLACEHOLDER
    return json.dumps(payload).replace(f'"{PLACEHOLDER}"', draw(raw_fragments)).encode()


@PROPERTIES
@given(value=near_valid_values("tweet"))
def test_near_valid_tweets_end_as_a_row_or_a_reason(value):
    to_row_or_reason("tweet", value)


@PROPERTIES
@given(value=near_valid_values("weather"))
def test_near_valid_weather_ends_as_a_row_or_a_reason(value):
    to_row_or_reason("weather", value)


# --- valid records are not refused --------------------------------------------------------

printable = st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"])
label = st.text(printable, min_size=1, max_size=20)
counts = st.none() | st.integers(0, INT32_MAX)
measures = st.none() | st.integers(INT32_MIN, INT32_MAX)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
)
finite = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64)

valid_tweets = st.builds(
    TweetRecord,
    tweet_id=st.text(
        st.characters(codec="ascii", categories=["Nd", "Ll"]), min_size=1, max_size=TWEET_ID_MAX_CHARS
    ),
    text=(st.text(printable, min_size=1, max_size=400) | long_strings)
    .filter(lambda text: len(text) <= TEXT_MAX_CHARS)
    .filter(lambda text: re.search(r"\S", text)),
    created_at=moments,
    city=st.text(printable, min_size=1, max_size=CITY_MAX_CHARS),
    lang=st.none() | label,
    author_id=st.none() | label,
    retweet_count=counts,
    reply_count=counts,
    like_count=counts,
    quote_count=counts,
    place_id=st.none() | label,
    source=label,
)
valid_weather = st.builds(
    WeatherRecord,
    city=st.text(printable, min_size=1, max_size=CITY_MAX_CHARS),
    observed_at=moments,
    description=st.none() | label,
    temperature_c=st.floats(-100.0, 70.0),
    feels_like_c=finite,
    temp_min_c=finite,
    temp_max_c=finite,
    pressure_hpa=measures,
    humidity_pct=measures,
    wind_speed_ms=finite,
    sunrise=st.none() | moments,
    sunset=st.none() | moments,
    provider=label,
)


@PROPERTIES
@given(record=valid_tweets | valid_weather)
def test_a_valid_record_decodes_to_itself_and_becomes_a_row(record):
    kind = record.kind
    assert STREAM_OF[kind].decode(record.to_json()) == record
    assert to_row_or_reason(kind, record.to_json()) is not None
