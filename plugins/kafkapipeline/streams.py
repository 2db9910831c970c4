"""The stream registry: one definition per stream (tweets, weather), read by every module that needs it.

A :class:`Stream` holds once what used to be copied across the package: its Kafka topic (the
setting naming it) and dead-letter topic, its record type and the drain's kind name, its
Cassandra table (columns in insert order with their CQL types, partition and clustering key,
the column that sizes batches), and its retention setting. The writer's :class:`TableSpec`, the
CSV columns and types, the purge, the health figures and the topics bootstrap creates are all
derived from :data:`STREAMS`.

The CQL migrations (``include/cql``) stay the schema's source of truth: a migration changes the
table, then one :class:`Column` line here follows it, and ``tests/integration/test_streams_schema.py``
fails while the two disagree (it compares this module with the live ``system_schema``).

Who fills a column (:attr:`Column.filled_by`):

* ``record``: the record's attribute of the same name (the row builders of
  :mod:`kafkapipeline.cassandra_rows` write them out one by one, the fastest way;
  ``tests/unit/streams/test_streams.py`` checks them against this order);
* ``drain``: computed when the row is built (sentiment, ``ingested_at``);
* ``later``: never written by the drain, so a replayed message cannot clear it; the CSV export
  and import carry it (``source_label``: the label a seed tweet came with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafkapipeline import settings
from kafkapipeline.records import TweetRecord, WeatherRecord

RECORD = "record"
DRAIN = "drain"
LATER = "later"
FILLED_BY = (RECORD, DRAIN, LATER)
#: The CQL types a column may have: those the CSV export writes and the import parses
#: (:func:`kafkapipeline.csvio.formats.parse_cell`); another type needs its case there first.
CQL_TYPES = ("text", "date", "timestamp", "int", "double")


@dataclass(frozen=True)
class TableSpec:
    """What a writer needs of a table: its columns in insert order and the partition key's width."""

    table: str
    columns: tuple[str, ...]
    partition_key_width: int
    #: Index of the text column whose length dominates the row size (for batch sizing).
    size_column: int | None = None

    def insert_cql(self, keyspace: str) -> str:
        names = ", ".join(self.columns)
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {keyspace}.{self.table} ({names}) VALUES ({marks})"


@dataclass(frozen=True)
class Column:
    """One column of a stream's table: its name, CQL type and who fills it (see the module doc)."""

    name: str
    cql_type: str
    filled_by: str = RECORD


@dataclass(frozen=True)
class Table:
    """A stream's Cassandra table, as the migrations leave it.

    :param columns: every column, in insert (and CSV) order; the partition key comes first
    :param partition_key: the partition key's columns, in key order
    :param clustering: the clustering columns with their order (``asc``/``desc``), in key order;
        the first is the event time (health freshness, the dashboard's reads)
    :param size_column: the text column whose length dominates a row's size (batch sizing)
    """

    name: str
    columns: tuple[Column, ...]
    partition_key: tuple[str, ...]
    clustering: tuple[tuple[str, str], ...]
    size_column: str | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        problems = []
        if len(set(names)) != len(names):
            problems.append(f"a column is listed twice: {names}")
        if tuple(names[: len(self.partition_key)]) != self.partition_key:
            problems.append(f"the partition key {self.partition_key} must be the first columns")
        for name, order in self.clustering:
            if name not in names or order not in ("asc", "desc"):
                problems.append(f"clustering ({name}, {order}) is not a column with asc/desc")
        if self.size_column is not None and self.size_column not in self.drain_columns:
            problems.append(f"size column {self.size_column} is not written by the drain")
        for column in self.columns:
            if column.filled_by not in FILLED_BY or column.cql_type not in CQL_TYPES:
                problems.append(f"{column}: filled_by must be in {FILLED_BY}, cql_type in {CQL_TYPES}")
        written = [c.filled_by for c in self.columns if c.filled_by in (RECORD, DRAIN)]
        if written != sorted(written, key=(RECORD, DRAIN).index):
            problems.append("record columns must come before drain columns (the row builders rely on it)")
        if problems:
            raise ValueError(f"table {self.name}: " + "; ".join(problems))

    @property
    def names(self) -> tuple[str, ...]:
        """Every column, in insert order: the CSV export's header."""
        return tuple(c.name for c in self.columns)

    @property
    def types(self) -> dict[str, str]:
        return {c.name: c.cql_type for c in self.columns}

    @property
    def clustering_key(self) -> tuple[str, ...]:
        return tuple(name for name, _order in self.clustering)

    @property
    def key(self) -> tuple[str, ...]:
        """The primary key's columns: partition key, then clustering columns."""
        return self.partition_key + self.clustering_key

    @property
    def time_column(self) -> str:
        """The event-time column: the first clustering column (newest first in a partition)."""
        return self.clustering[0][0]

    def columns_filled_by(self, *who: str) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.filled_by in who)

    @property
    def record_columns(self) -> tuple[str, ...]:
        return self.columns_filled_by(RECORD)

    @property
    def drain_columns(self) -> tuple[str, ...]:
        """The columns a drained row has, in order: the record's, then the computed ones."""
        return self.columns_filled_by(RECORD, DRAIN)

    @property
    def later_columns(self) -> tuple[str, ...]:
        return self.columns_filled_by(LATER)

    def later_values(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The ``later`` columns' values (None when absent): what follows a drained row in a full row."""
        return tuple(values.get(name) for name in self.later_columns)

    def spec(self, columns: tuple[str, ...]) -> TableSpec:
        size = columns.index(self.size_column) if self.size_column in columns else None
        return TableSpec(self.name, columns, len(self.partition_key), size)

    @property
    def drain_spec(self) -> TableSpec:
        """What the drain writes (``later`` columns left out: a replay leaves them alone)."""
        return self.spec(self.drain_columns)

    @property
    def full_spec(self) -> TableSpec:
        """Every column: what the CSV export reads and the CSV import writes."""
        return self.spec(self.names)


@dataclass(frozen=True)
class Stream:
    """One source stream: Kafka topic -> record type -> Cassandra table.

    :param name: the registry key, also the CSV import's ``kind`` of its export files
    :param kind: the drain's record kind (the ``kind`` of its JSON values)
    :param topic_setting: the settings field naming its topic (read at call time)
    :param retention_setting: the settings field with the days ``purge_expired`` keeps
    :param retention_param: the ``purge_expired`` Param overriding that setting
    :param partitions_param: the ``bootstrap`` Param choosing its topic's partition count
    :param csv_required: the columns a CSV export file of it must have (the rest may be missing)
    :param default_partitions: that Param's default
    """

    name: str
    kind: str
    record_type: type[TweetRecord] | type[WeatherRecord]
    topic_setting: str
    table: Table
    retention_setting: str
    retention_param: str
    partitions_param: str
    csv_required: tuple[str, ...]
    default_partitions: int = 3

    def __post_init__(self) -> None:
        missing = set(self.csv_required) - set(self.table.names)
        if missing:
            raise ValueError(f"stream {self.name}: csv_required names no column: {sorted(missing)}")
        for field_name in (self.topic_setting, self.retention_setting):
            settings.env_name(field_name)  # raises for a setting that does not exist
        if self.default_partitions < 1:
            raise ValueError(f"stream {self.name}: default_partitions must be >= 1")
        if self.record_type.kind != self.kind:
            raise ValueError(
                f"stream {self.name}: kind {self.kind!r} but {self.record_type.__name__} is "
                f"{self.record_type.kind!r}"
            )

    def topic(self) -> str:
        """Its Kafka topic, from the environment now (run time, not parse time)."""
        return str(getattr(settings.current(), self.topic_setting))

    def dlq_topic(self) -> str:
        """Its dead-letter topic, ``<topic>.dlq``."""
        return settings.dead_letter_topic(self.topic())

    @property
    def retention_env(self) -> str:
        return settings.env_name(self.retention_setting)


TWEETS_TABLE = Table(
    name="tweets",
    columns=(
        Column("city", "text"),
        Column("day", "date"),
        Column("created_at", "timestamp"),
        Column("tweet_id", "text"),
        Column("text", "text"),
        Column("lang", "text"),
        Column("author_id", "text"),
        Column("retweet_count", "int"),
        Column("reply_count", "int"),
        Column("like_count", "int"),
        Column("quote_count", "int"),
        Column("place_id", "text"),
        Column("source", "text"),
        Column("sentiment_score", "double", DRAIN),
        Column("sentiment_label", "text", DRAIN),
        Column("sentiment_model", "text", DRAIN),  # 0009
        Column("sentiment_model_version", "text", DRAIN),  # 0009
        Column("ingested_at", "timestamp", DRAIN),
        Column("source_label", "text", LATER),  # 0008
    ),
    partition_key=("city", "day"),
    clustering=(("created_at", "desc"), ("tweet_id", "asc")),
    size_column="text",
)

WEATHER_TABLE = Table(
    name="weather_reports",
    columns=(
        Column("city", "text"),
        Column("day", "date"),
        Column("observed_at", "timestamp"),
        Column("description", "text"),
        Column("temperature_c", "double"),
        Column("feels_like_c", "double"),
        Column("temp_min_c", "double"),
        Column("temp_max_c", "double"),
        Column("pressure_hpa", "int"),
        Column("humidity_pct", "int"),
        Column("wind_speed_ms", "double"),
        Column("sunrise", "timestamp"),
        Column("sunset", "timestamp"),
        Column("provider", "text"),
        Column("ingested_at", "timestamp", DRAIN),
    ),
    partition_key=("city", "day"),
    clustering=(("observed_at", "desc"),),
)

TWEETS = Stream(
    name="tweets",
    kind=TweetRecord.kind,
    record_type=TweetRecord,
    topic_setting="tweets_topic",
    table=TWEETS_TABLE,
    retention_setting="retention_days_tweets",
    retention_param="tweets_retention_days",
    partitions_param="tweets_partitions",
    csv_required=("city", "created_at", "tweet_id", "text"),
)

WEATHER = Stream(
    name="weather",
    kind=WeatherRecord.kind,
    record_type=WeatherRecord,
    topic_setting="weather_topic",
    table=WEATHER_TABLE,
    retention_setting="retention_days_weather_reports",
    retention_param="weather_retention_days",
    partitions_param="weather_partitions",
    csv_required=("city", "observed_at", "temperature_c"),
)

#: Every stream, by name.
STREAMS: dict[str, Stream] = {stream.name: stream for stream in (TWEETS, WEATHER)}
#: Every stream, by the drain's record kind.
BY_KIND: dict[str, Stream] = {stream.kind: stream for stream in STREAMS.values()}
#: Every stream, by table name.
BY_TABLE: dict[str, Stream] = {stream.table.name: stream for stream in STREAMS.values()}


def by_kind(kind: str) -> Stream:
    try:
        return BY_KIND[kind]
    except KeyError:
        raise ValueError(f"kind must be one of {', '.join(BY_KIND)}, got {kind!r}") from None


def by_table(table: str) -> Stream:
    try:
        return BY_TABLE[table]
    except KeyError:
        raise ValueError(f"no stream writes table {table!r}; known: {sorted(BY_TABLE)}") from None


def topic_tables() -> dict[str, str]:
    """Each stream's topic (read from the environment now) and the table it fills."""
    return {stream.topic(): stream.table.name for stream in STREAMS.values()}


def column_types() -> dict[str, str]:
    """CQL type of every column of every stream's table (a name has one type across tables)."""
    types: dict[str, str] = {}
    for stream in STREAMS.values():
        for name, cql_type in stream.table.types.items():
            if types.setdefault(name, cql_type) != cql_type:
                raise ValueError(f"column {name} has two types: {types[name]} and {cql_type}")
    return types
