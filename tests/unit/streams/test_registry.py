"""The streams' invariants, and that every reader takes its facts from the registry (no services).

The live schema check (registry against ``system_schema``) is tests/integration/test_streams_schema.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kafkapipeline.csvio import export as csv_export
from kafkapipeline.csvio import formats as csv_formats
from kafkapipeline.csvio.seed import seed_tweet_row, seed_weather_row
from kafkapipeline.health.cassandra_figures import FRESHNESS_TABLES
from kafkapipeline.maintenance import bootstrap, retention
from kafkapipeline.sentiment.rescore import SENTIMENT_COLUMNS
from kafkapipeline.sentiment.scorers import default_scorer
from kafkapipeline.sentiment.vader import Sentiment
from kafkapipeline.streams import tweets, weather
from kafkapipeline.streams.base import DERIVED, DRAIN, LATER, Column, Stream, Table
from kafkapipeline.streams.registry import STREAMS, by_name, by_table, topic_tables
from kafkapipeline.streams.tweets import TWEETS, TWEETS_TABLE, TweetRecord, tweet_row
from kafkapipeline.streams.weather import WEATHER_TABLE, WeatherRecord, weather_row

TWEETS_SPEC = TWEETS_TABLE.drain_spec
WEATHER_SPEC = WEATHER_TABLE.drain_spec

INGESTED_AT = datetime(2024, 5, 2, 3, 4, 5, tzinfo=UTC)
#: Every field set, each to a value no other field has, so a column out of place shows.
TWEET = TweetRecord(
    tweet_id="t-1",
    text="A bright and lovely day",
    created_at=datetime(2024, 5, 1, 23, 59, 58, tzinfo=UTC),
    city="Vancouver",
    lang="en",
    author_id="a-42",
    retweet_count=1,
    reply_count=2,
    like_count=3,
    quote_count=4,
    place_id="p-7",
    source="x_api",
    hashtags=frozenset({"h-5", "h-6"}),
)
WEATHER = WeatherRecord(
    city="Vancouver",
    observed_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    description="broken clouds",
    temperature_c=12.5,
    feels_like_c=11.25,
    temp_min_c=10.5,
    temp_max_c=14.75,
    pressure_hpa=1013,
    humidity_pct=80,
    wind_speed_ms=3.5,
    sunrise=datetime(2024, 5, 1, 12, 40, tzinfo=UTC),
    sunset=datetime(2024, 5, 2, 3, 30, tzinfo=UTC),
    provider="openweathermap",
)


@pytest.mark.parametrize("record", [TWEET, WEATHER], ids=["tweet", "weather"])
def test_the_samples_set_every_field(record):
    """A field added to a record type must be set here, or the row tests below cannot see it misplaced."""
    assert [name for name in type(record).__struct_fields__ if getattr(record, name) is None] == []


@pytest.mark.parametrize("stream", STREAMS.values(), ids=list(STREAMS))
def test_keys_are_columns_with_the_partition_key_first(stream):
    table = stream.table
    assert set(table.key) <= set(table.names)
    assert table.names[: len(table.partition_key)] == table.partition_key
    assert table.drain_spec.columns[: table.drain_spec.partition_key_width] == table.partition_key
    assert table.time_column == table.clustering_key[0]
    assert set(table.key) <= set(table.drain_columns)  # the drain always writes the whole key


@pytest.mark.parametrize("stream", STREAMS.values(), ids=list(STREAMS))
def test_every_record_field_is_a_column_filled_from_the_record(stream):
    table = stream.table
    record_fields = set(stream.record_type.__struct_fields__) - {"kind"}  # kind: wire data only
    assert record_fields <= set(table.columns_filled_by("record"))
    for name in table.columns_filled_by(DERIVED):  # derived ones (day) are properties of the record
        assert isinstance(getattr(stream.record_type, name), property)
    assert set(table.drain_columns) == set(table.record_columns) | set(table.computed_columns)


@pytest.mark.parametrize("stream", STREAMS.values(), ids=list(STREAMS))
def test_csv_columns_and_types_are_the_table_columns(stream):
    table = stream.table
    exported = csv_export.EXPORT_TABLES[table.name]
    assert exported.columns == table.names
    assert exported.partition_key_width == len(table.partition_key)
    assert {name: csv_export.COLUMN_TYPES[name] for name in table.names} == table.types
    assert set(csv_formats.REQUIRED_COLUMNS[stream.name]) <= set(table.names)
    assert csv_formats.export_header(list(table.names)).spec == exported


@pytest.mark.parametrize("stream", STREAMS.values(), ids=list(STREAMS))
def test_the_drain_leaves_later_columns_out_and_the_csv_keeps_them(stream):
    table = stream.table
    assert not set(table.later_columns) & set(table.drain_spec.columns)
    assert table.drain_spec.columns + table.later_columns == csv_export.EXPORT_TABLES[table.name].columns
    assert "source_label" in TWEETS_TABLE.later_columns
    assert TWEETS_TABLE.full_spec == csv_export.TWEETS_WITH_SOURCE_LABEL


def test_dead_letter_topics_are_the_topic_with_dlq(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", "posts")
    monkeypatch.setenv("KAFKAPIPELINE_WEATHER_TOPIC", "wx")
    assert (TWEETS.topic(), TWEETS.dlq_topic()) == ("posts", "posts.dlq")
    assert (weather.WEATHER.topic(), weather.WEATHER.dlq_topic()) == ("wx", "wx.dlq")
    specs = {
        spec.name: spec.partitions
        for spec in bootstrap.pipeline_topic_specs({"tweets": 6, "weather": 2}, 1, 1)
    }
    assert specs == {"posts": 6, "posts.dlq": 1, "wx": 2, "wx.dlq": 1}
    assert topic_tables() == {"posts": "tweets", "wx": "weather_reports"}
    assert (by_name("tweets").topic(), by_name("weather").topic()) == ("posts", "wx")


def test_streams_are_found_by_name_and_table():
    for stream in STREAMS.values():
        assert by_name(stream.name) is by_table(stream.table.name) is stream
    with pytest.raises(ValueError, match="stream must be one of tweets, weather, got 'tweet'"):
        by_name("tweet")
    with pytest.raises(ValueError, match="no stream writes table 'drain_batches'"):
        by_table("drain_batches")
    assert (tweets.TWEETS.kind, weather.WEATHER.kind) == ("tweet", "weather")  # the values' wire kind


def test_readers_take_tables_and_retention_from_the_registry():
    for stream in STREAMS.values():
        assert retention.RETENTION_ENV[stream.table.name] == stream.retention_env
    assert FRESHNESS_TABLES == (("tweets", "created_at"), ("weather_reports", "observed_at"))
    assert SENTIMENT_COLUMNS.columns[:4] == TWEETS_TABLE.key


def test_retention_reads_each_streams_setting(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_RETENTION_DAYS_TWEETS", "30")
    monkeypatch.setenv("KAFKAPIPELINE_RETENTION_DAYS_WEATHER_REPORTS", "7")
    assert retention.retention_days("tweets") == 30
    assert retention.retention_days("weather_reports") == 7
    with pytest.raises(ValueError, match="no day-partition retention"):
        retention.retention_days("drain_batches")


def _by_column(columns, row):
    assert len(row) == len(columns)
    return dict(zip(columns, row, strict=True))


def test_tweet_row_builders_yield_the_registry_columns_in_order():
    scorer = default_scorer()
    sentiment = scorer.score_batch([TWEET.text])[0]
    computed = {
        "sentiment_score": sentiment.score,
        "sentiment_label": sentiment.label,
        "sentiment_model": scorer.name,
        "sentiment_model_version": scorer.version,
        "ingested_at": INGESTED_AT,
    }
    expected = {name: getattr(TWEET, name) for name in TWEETS_TABLE.record_columns} | computed
    assert set(expected) == set(TWEETS_SPEC.columns)
    assert _by_column(TWEETS_SPEC.columns, tweet_row(TWEET, INGESTED_AT)) == expected
    assert [_by_column(TWEETS_SPEC.columns, row) for row in tweets.rows([TWEET], INGESTED_AT)] == [expected]
    given = tweet_row(TWEET, INGESTED_AT, sentiment=Sentiment(0.5, "Mixed"), model=("m", "v"))
    scored = {
        "sentiment_score": 0.5,
        "sentiment_label": "Mixed",
        "sentiment_model": "m",
        "sentiment_model_version": "v",
    }
    assert _by_column(TWEETS_SPEC.columns, given) == expected | scored


def test_weather_row_builders_yield_the_registry_columns_in_order():
    expected = {name: getattr(WEATHER, name) for name in WEATHER_TABLE.record_columns}
    expected["ingested_at"] = INGESTED_AT
    assert set(expected) == set(WEATHER_SPEC.columns)
    assert _by_column(WEATHER_SPEC.columns, weather_row(WEATHER, INGESTED_AT)) == expected
    assert [_by_column(WEATHER_SPEC.columns, r) for r in weather.rows([WEATHER], INGESTED_AT)] == [expected]


def test_the_row_builder_follows_the_table_order_whoever_fills_each_column():
    table = Table(
        name="t",
        columns=(
            Column("city", "text"),
            Column("score", "double", DRAIN),
            Column("day", "date", DERIVED),
            Column("late", "text", LATER),
            Column("text", "text"),
        ),
        partition_key=("city",),
        clustering=(("day", "asc"),),
    )
    assert table.drain_columns == ("city", "score", "day", "text")
    assert table.computed_columns == ("score",)
    row = table.row_builder(TWEET, 0.5)
    assert row == ("Vancouver", 0.5, TWEET.day, TWEET.text)


#: A value of each CQL type, for the columns the drain does not fill.
SAMPLE = {
    "text": "a label",
    "int": 7,
    "double": 0.25,
    "date": INGESTED_AT.date(),
    "timestamp": INGESTED_AT,
}


def test_export_rows_restore_every_column_and_the_drained_ones_as_the_drain_wrote_them():
    for table, record, to_row, restore in (
        (TWEETS_TABLE, TWEET, tweet_row, csv_formats.export_tweet_row),
        (WEATHER_TABLE, WEATHER, weather_row, csv_formats.export_weather_row),
    ):
        later = {name: SAMPLE[table.types[name]] for name in table.later_columns}
        drained = to_row(record, INGESTED_AT)
        line = [csv_export.format_value(value) for value in (*drained, *later.values())]
        restored = _by_column(table.names, restore(csv_formats.export_header(list(table.names)), line, None))
        assert restored == _by_column(table.drain_columns, drained) | later


def test_seed_rows_have_every_table_column():
    seed_fields = ["Vancouver rocks", "2021-02-09 17:32:49", "Vancouver", "Positive"]
    seed = _by_column(TWEETS_TABLE.names, seed_tweet_row(seed_fields, INGESTED_AT))
    assert (seed["text"], seed["source_label"], seed["ingested_at"]) == (
        "Vancouver rocks",
        "Positive",
        INGESTED_AT,
    )
    assert {seed[name] for name in TWEETS_TABLE.later_columns if name != "source_label"} <= {None}
    seed_line = (
        "clouds,270.75,265.23,269.82,271.48,1023,59,3.6,1612884667,1612920145,Vancouver,2021-02-09 17:33"
    )
    seed_weather = _by_column(WEATHER_TABLE.names, seed_weather_row(seed_line.split(","), INGESTED_AT))
    assert (seed_weather["city"], seed_weather["provider"], seed_weather["temperature_c"]) == (
        "Vancouver",
        "seed-csv",
        -2.4,
    )


def _table(**changes):
    base = {
        "name": "t",
        "columns": (Column("city", "text"), Column("day", "date"), Column("at", "timestamp")),
        "partition_key": ("city", "day"),
        "clustering": (("at", "desc"),),
    }
    return Table(**(base | changes))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"partition_key": ("day", "city")}, "must be the first columns"),
        ({"clustering": (("when", "desc"),)}, "is not a column"),
        ({"clustering": (("at", "down"),)}, "asc/desc"),
        ({"columns": (Column("city", "text"), Column("day", "date"), Column("at", "uuid"))}, "cql_type"),
        ({"columns": (Column("city", "text"), Column("city", "date"))}, "listed twice"),
        (
            {"columns": (Column("city", "text"), Column("day", "date"), Column("at-1", "timestamp"))},
            "identifier",
        ),
        (
            {"size_column": "day", "columns": (Column("city", "text"), Column("day", "date", LATER))},
            "size column",
        ),
    ],
)
def test_a_wrong_table_line_fails_at_import_with_the_reason(changes, reason):
    with pytest.raises(ValueError, match=reason):
        _table(**changes)


def test_a_stream_naming_an_unknown_setting_or_column_fails():
    good = {
        "name": "s",
        "record_type": TweetRecord,
        "topic_setting": "tweets_topic",
        "table": _table(
            columns=(
                Column("city", "text"),
                Column("day", "date", DERIVED),
                Column("created_at", "timestamp"),
            ),
            clustering=(("created_at", "desc"),),
        ),
        "rows": tweets.rows,
        "retention_setting": "retention_days_tweets",
        "retention_param": "p",
        "partitions_param": "q",
        "csv_required": ("city",),
    }
    assert Stream(**good).topic() == TWEETS.topic()
    with pytest.raises(ValueError, match="no setting"):
        Stream(**(good | {"topic_setting": "posts_topic"}))
    with pytest.raises(ValueError, match="csv_required names no column"):
        Stream(**(good | {"csv_required": ("city", "text")}))
    with pytest.raises(ValueError, match=r"TweetRecord has no \['at'\]"):
        Stream(**(good | {"table": _table()}))
    with pytest.raises(ValueError, match="default_partitions"):
        Stream(**(good | {"default_partitions": 0}))


def test_bootstrap_wants_one_partition_count_per_stream(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", "posts")
    monkeypatch.setenv("KAFKAPIPELINE_WEATHER_TOPIC", "wx")
    with pytest.raises(ValueError, match=r"name every stream \(tweets, weather\).*\['tweets'\]"):
        bootstrap.pipeline_topic_specs({"tweets": 3}, 1, 1)
    with pytest.raises(ValueError, match="no other"):
        bootstrap.pipeline_topic_specs({"tweets": 3, "weather": 3, "posts": 3}, 1, 1)


@pytest.mark.parametrize(
    ("kind", "table"),
    [
        ("tweets", "tweets"),
        ("seed_tweets", "tweets"),
        ("weather", "weather_reports"),
        ("seed_weather", "weather_reports"),
    ],
)
def test_each_csv_kind_fills_its_streams_table(kind, table):
    assert csv_formats.table_of(kind) == table


@pytest.mark.parametrize("kind", ["auto", "posts", ""])
def test_a_csv_kind_without_a_table_is_a_clear_error(kind):
    with pytest.raises(csv_formats.CsvImportError, match=f"no table for kind {kind!r}"):
        csv_formats.table_of(kind)


def test_every_csv_kind_has_a_row_builder():
    """A new stream needs its export-format row builder in csv_formats.EXPORT_ROWS."""
    assert set(csv_formats.EXPORT_ROWS) == set(STREAMS)
    assert set(csv_formats.KINDS) == {csv_formats.KIND_AUTO, *csv_formats.EXPORT_ROWS, *csv_formats.SEED_ROWS}
