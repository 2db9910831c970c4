"""RowEncoder gives the bytes the driver's bind gives, or None (the driver then binds): no services.

The prepared statements are built from the migrations' column types (include/cql), so a column
added by a later migration is covered without editing this file.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cassandra import cqltypes
from cassandra.query import UNSET_VALUE, PreparedStatement

from kafkapipeline.cassandra.bind import RowEncoder
from kafkapipeline.cassandra.writer import unset_nulls
from kafkapipeline.streams import tweets
from kafkapipeline.streams.base import TableSpec
from kafkapipeline.streams.tweets import TWEETS_TABLE, TweetRecord
from kafkapipeline.streams.weather import WEATHER_TABLE, WeatherRecord, weather_row
from tests.conftest import REFERENCE_DATA

REPO = Path(__file__).resolve().parents[3]
CQL_TYPES = {
    "text": "UTF8Type",
    "date": "SimpleDateType",
    "timestamp": "TimestampType",
    "int": "Int32Type",
    "double": "DoubleType",
    "set<text>": "SetType(UTF8Type)",
}


KS = re.escape("${keyspace}")


def column_types(table: str) -> dict[str, str]:
    """Column -> CQL type of ``table`` after every migration."""
    types: dict[str, str] = {}
    for path in sorted((REPO / "include" / "cql").glob("*.cql")):
        text = path.read_text(encoding="utf-8")
        create = re.search(
            rf"CREATE TABLE IF NOT EXISTS \$\{{keyspace\}}\.{table} \((.*?)PRIMARY KEY", text, re.S
        )
        if create:
            types.update(re.findall(r"^\s*(\w+)\s+([\w<>]+),", create.group(1), re.M))
        types.update(
            re.findall(rf"ALTER TABLE \$\{{keyspace\}}\.{table} ADD IF NOT EXISTS (\w+) ([\w<>]+)", text)
        )
    return types


class Column:
    def __init__(self, table: str, name: str, cql_type: str) -> None:
        self.keyspace_name, self.table_name, self.name = "ks", table, name
        self.type = cqltypes.lookup_casstype(CQL_TYPES[cql_type])


def prepared(spec: TableSpec, protocol_version: int = 5) -> PreparedStatement:
    types = column_types(spec.table)
    columns = [Column(spec.table, name, types[name]) for name in spec.columns]
    return PreparedStatement(
        columns,
        b"0123456789abcdef",
        list(range(spec.partition_key_width)),
        spec.insert_cql("ks"),
        "ks",
        protocol_version,
        [],
        None,
    )


def driver_values(statement: PreparedStatement, row: tuple[Any, ...]) -> list[Any]:
    return statement.bind(unset_nulls(row)).values


def assert_same(statement: PreparedStatement, rows: list[tuple[Any, ...]]) -> None:
    encoder = RowEncoder(statement)
    assert encoder.usable
    for row in rows:
        assert encoder.values(row) == driver_values(statement, row), row


def reference_texts() -> list[str]:
    seed = REFERENCE_DATA / "seed_tweets_vancouver_2021.csv"
    if not seed.is_file():
        pytest.skip(f"reference data not found at {REFERENCE_DATA}")
    with seed.open(encoding="utf-8", newline="") as handle:
        return [row[0] for row in csv.reader(handle) if row and row[0].strip()]


def tweet(i: int, text: str, created_at: datetime, **extra: Any) -> TweetRecord:
    return TweetRecord(tweet_id=str(10**18 + i), text=text, created_at=created_at, city="Vancouver", **extra)


def test_real_tweets_encode_as_the_driver_binds_them() -> None:
    texts = reference_texts()[:3000]
    start = datetime(2021, 3, 1, tzinfo=UTC)
    records = [
        tweet(
            i,
            text,
            start + timedelta(seconds=i * 37, microseconds=i * 7919 % 1_000_000),
            lang="en" if i % 3 else None,
            author_id=str(i) if i % 2 else None,
            retweet_count=i % 50 if i % 5 else None,
            like_count=0 if i == 7 else 2**31 - 1 if i == 8 else i,  # a count's bounds
        )
        for i, text in enumerate(texts)
    ]
    assert_same(prepared(TWEETS_TABLE.drain_spec), tweets.rows(records, datetime.now(UTC)))


def test_edge_timestamps_and_days_encode_as_the_driver() -> None:
    moments = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 8, 500, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 0, 0, 123_456),  # naive: the driver's own serialiser
        datetime(2024, 5, 1, 12, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=-7))),
        datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=5, microseconds=3))),
    ]
    rows = []
    for i, moment in enumerate(moments):
        record = tweet(i, "ok", moment)
        row = tweets.rows([record], moment)[0]
        rows.append(row)
        day = row[1]
        rows.append((*row[:1], date(day.year, day.month, day.day), *row[2:]))  # another date object
    assert_same(prepared(TWEETS_TABLE.drain_spec), rows)


def test_weather_rows_encode_as_the_driver() -> None:
    observed = datetime(2021, 7, 1, 12, tzinfo=UTC)
    records = [
        WeatherRecord(
            city="Vancouver",
            observed_at=observed + timedelta(hours=i),
            description="light rain" if i % 2 else None,
            temperature_c=-0.0 if i == 3 else 12.5 + i / 7,
            feels_like_c=None if i % 3 else 1e308,
            pressure_hpa=-(2**31) if i == 1 else 1013 + i,  # int's lower bound
            humidity_pct=None if i == 2 else 80,
            wind_speed_ms=5e-324 if i == 4 else 3.3,
            sunrise=observed.replace(hour=5) if i % 2 else None,
            sunset=observed.replace(hour=21, microsecond=999_999),
            provider="openweathermap",
        )
        for i in range(12)
    ]
    ingested = datetime.now(UTC)
    assert_same(prepared(WEATHER_TABLE.drain_spec), [weather_row(r, ingested) for r in records])


ROW = tweets.rows([tweet(1, "fine", datetime(2024, 5, 1, tzinfo=UTC))], datetime(2024, 5, 2, tzinfo=UTC))[0]


def replaced(column: int | str, value: Any) -> tuple[Any, ...]:
    """ROW with one value replaced, the column given by its index or its name."""
    index = TWEETS_TABLE.drain_columns.index(column) if isinstance(column, str) else column
    return (*ROW[:index], value, *ROW[index + 1 :])


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(replaced(0, None), id="null city (routing key)"),
        pytest.param(replaced(1, None), id="null day (routing key)"),
        pytest.param(replaced(7, 2**31), id="int over int32"),
        pytest.param(replaced(7, 1.5), id="float for an int"),
        pytest.param(replaced(7, "3"), id="text for an int"),
        pytest.param(replaced(4, "lone \udc80 surrogate"), id="unencodable text"),
        pytest.param(replaced(4, 42), id="int for a text"),
        pytest.param(replaced(2, "2024-05-01"), id="text for a timestamp"),
        pytest.param(replaced(1, object()), id="object for a date"),
        pytest.param((*ROW, "extra"), id="too many values"),
        pytest.param(ROW[:-1], id="too few values"),
    ],
)
def test_values_the_driver_must_judge_are_left_to_it(row: tuple[Any, ...]) -> None:
    """None: the writer binds with the driver, which raises its own error (the dead-letter reason)."""
    statement = prepared(TWEETS_TABLE.drain_spec)
    assert RowEncoder(statement).values(row) is None
    if len(row) >= len(ROW):  # the driver pads short rows with unset values itself
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises, it raises
            driver_values(statement, row)


def test_values_the_driver_accepts_in_other_types_match_too() -> None:
    rows = [
        replaced(1, 19844 + 2**31),  # a date as the driver's offset int
        replaced(2, 1_714_521_600_000),  # a timestamp as epoch milliseconds
        replaced(2, date(2024, 5, 1)),  # a date in a timestamp column
        replaced(7, True),
        replaced("sentiment_score", 1),  # an int in a double column
        replaced("hashtags", ["yvr", "rain"]),  # a list in a set column
    ]
    assert_same(prepared(TWEETS_TABLE.drain_spec), rows)


def test_unset_values_and_old_protocols() -> None:
    statement = prepared(TWEETS_TABLE.drain_spec)
    values = RowEncoder(statement).values(replaced(5, UNSET_VALUE))
    assert values is not None and values[5] is UNSET_VALUE
    assert not RowEncoder(prepared(TWEETS_TABLE.drain_spec, protocol_version=3)).usable
    assert RowEncoder(prepared(TWEETS_TABLE.drain_spec, protocol_version=3)).values(ROW) is None


def text_set_statement() -> PreparedStatement:
    """A statement with a ``set<text>`` column: (city text, tags set<text>), keyed by city."""
    columns = [Column("t", "city", "text"), Column("t", "tags", "set<text>")]
    return PreparedStatement(
        columns, b"0123456789abcdef", [0], "INSERT INTO ks.t (city, tags) VALUES (?, ?)", "ks", 5, [], None
    )


@pytest.mark.parametrize(
    "tags",
    [
        frozenset({"rain", "yvr", "é😀", ""}),
        {"one"},
        frozenset(str(n) for n in range(300)),
        frozenset(),
        None,
    ],
)
def test_a_text_set_encodes_as_the_driver_binds_it(tags: Any) -> None:
    """An int32 count, then each element's int32 length and UTF-8 bytes, in the set's own order."""
    statement = text_set_statement()
    assert_same(statement, [("Vancouver", tags)])
    if tags:
        encoded = RowEncoder(statement).values(("Vancouver", tags))
        assert encoded is not None and encoded[1][:4] == len(tags).to_bytes(4, "big")


@pytest.mark.parametrize("tags", [frozenset({"a", 1}), ["a", "b"], "ab", frozenset({"lone \udc80"})])
def test_a_text_set_the_driver_must_judge_is_left_to_it(tags: Any) -> None:
    encoded = RowEncoder(text_set_statement()).values(("Vancouver", tags))
    if encoded is not None:  # a list is a sequence the driver also takes: then the bytes must agree
        assert encoded == driver_values(text_set_statement(), ("Vancouver", tags))
