"""The formats ``import_csv`` reads (``kind``) and how a file's format is chosen.

``tweets`` / ``weather`` are the export format (columns matched by header name, rows restored as
written; a missing sentiment comes from VADER, a missing ``ingested_at`` is the import time);
``seed_tweets`` / ``seed_weather`` are the 2021 seed files (:mod:`kafkapipeline.csvio.seed`);
``auto`` decides per file from its first record: an export header, else 4 fields (seed tweets) or 12
(seed weather).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kafkapipeline.csvio.export import COLUMN_TYPES, EXPORT_TABLES
from kafkapipeline.csvio.seed import SEED_TWEET_FIELDS, SEED_WEATHER_FIELDS, seed_tweet_row, seed_weather_row
from kafkapipeline.sentiment.vader import Sentiment
from kafkapipeline.streams.base import InvalidRecord, Stream, TableSpec, parse_utc
from kafkapipeline.streams.registry import STREAMS
from kafkapipeline.streams.tweets import TWEETS, TWEETS_TABLE, TweetRecord, tweet_row
from kafkapipeline.streams.weather import WEATHER, WEATHER_TABLE, WeatherRecord, weather_row

KIND_AUTO = "auto"
KIND_TWEETS = TWEETS.name
KIND_WEATHER = WEATHER.name
KIND_SEED_TWEETS = "seed_tweets"
KIND_SEED_WEATHER = "seed_weather"
#: The stream each kind of file fills: a stream's own export format, or its 2021 seed file.
KIND_STREAMS: dict[str, Stream] = {
    **STREAMS,
    KIND_SEED_TWEETS: TWEETS,
    KIND_SEED_WEATHER: WEATHER,
}
KINDS = (KIND_AUTO, *KIND_STREAMS)


class CsvImportError(RuntimeError):
    """A file cannot be imported at all (unknown format, unreadable) or its rows could not be written."""


def _finite(cell: str) -> float:
    number = float(cell)
    if not math.isfinite(number):
        raise ValueError(cell)
    return number


def _text_set(cell: str) -> frozenset[str]:
    """A ``set<text>`` cell: a JSON array of texts (see :mod:`kafkapipeline.csvio.export`)."""
    items = json.loads(cell)
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError(cell)
    return frozenset(items)


#: How a non-empty cell of each CQL type (:data:`kafkapipeline.streams.base.CQL_TYPES`) is read;
#: the ``timestamp`` case is :func:`parse_cell`'s own (its reason names the column).
CELL_PARSERS: dict[str, Callable[[str], Any]] = {
    "text": str,
    "date": date.fromisoformat,
    "int": int,
    "double": _finite,
    "set<text>": _text_set,
}


def parse_cell(value: str, column: str, cql_type: str | None = None) -> Any:
    """One export-format cell as the column's Python value; empty is null.

    :param cql_type: the column's CQL type; by default the type of the streams' column of that name
    """
    if value == "":
        return None
    kind = cql_type or COLUMN_TYPES[column]
    if kind == "timestamp":
        return parse_utc(value, column)
    try:
        return CELL_PARSERS[kind](value)
    except (ValueError, OverflowError, RecursionError):
        raise InvalidRecord(f"{column}: {value[:40]!r} is not a valid {kind}") from None


@dataclass(frozen=True)
class ExportHeader:
    """The header of an export file: which table it holds and where each column is."""

    kind: str
    columns: tuple[str, ...]

    @property
    def spec(self) -> TableSpec:
        return EXPORT_TABLES[table_of(self.kind)]


#: Columns an export file must have, per kind.
REQUIRED_COLUMNS = {stream.name: stream.csv_required for stream in STREAMS.values()}


def export_header(fields: Sequence[str]) -> ExportHeader | None:
    """The header of an export file, or None when ``fields`` is not one.

    :raises CsvImportError: a header naming columns the table does not have, or missing required ones
    """
    names = tuple(name.strip() for name in fields)
    # A stream's file names its partition key's first column and its event-time column.
    kind = next(
        (
            stream.name
            for stream in STREAMS.values()
            if stream.table.partition_key[0] in names and stream.table.time_column in names
        ),
        None,
    )
    if kind is None:
        return None
    spec = EXPORT_TABLES[table_of(kind)]
    unknown = [name for name in names if name not in spec.columns]
    if unknown:
        raise CsvImportError(f"the header names columns that {spec.table} does not have: {unknown}")
    if len(set(names)) != len(names):
        raise CsvImportError(f"the header names a column twice: {list(names)}")
    missing = [name for name in REQUIRED_COLUMNS[kind] if name not in names]
    if missing:
        raise CsvImportError(f"the header lacks the required columns {missing} of {spec.table}")
    return ExportHeader(kind=kind, columns=names)


def _export_values(header: ExportHeader, fields: Sequence[str]) -> dict[str, Any]:
    if len(fields) != len(header.columns):
        raise InvalidRecord(f"expected {len(header.columns)} fields as in the header, got {len(fields)}")
    return {column: parse_cell(value, column) for column, value in zip(header.columns, fields, strict=True)}


def _check_day(values: dict[str, Any], record_day: date) -> None:
    day = values.get("day")
    if day is not None and day != record_day:
        raise InvalidRecord(f"day {day} is not the UTC day of the row's timestamp ({record_day})")


def export_tweet_row(header: ExportHeader, fields: Sequence[str], imported_at: datetime) -> tuple[Any, ...]:
    """An export-format tweet line as a ``tweets`` row (with ``source_label``), restored as written."""
    values = _export_values(header, fields)
    if values.get("text") is None:
        values["text"] = ""  # an empty cell is an empty text, which the record refuses by name
    record = TweetRecord.from_dict(values)
    _check_day(values, record.day)
    score, label = values.get("sentiment_score"), values.get("sentiment_label")
    sentiment = Sentiment(score, label) if score is not None and label is not None else None
    model = None
    if sentiment is not None and values.get("sentiment_model"):
        model = (values["sentiment_model"], values.get("sentiment_model_version") or "")
    ingested_at = values.get("ingested_at") or imported_at
    row = tweet_row(record, ingested_at, sentiment=sentiment, model=model)
    return (*row, *TWEETS_TABLE.later_values(values))


def export_weather_row(header: ExportHeader, fields: Sequence[str], imported_at: datetime) -> tuple[Any, ...]:
    """An export-format weather line as a ``weather_reports`` row, restored as written."""
    values = _export_values(header, fields)
    record = WeatherRecord.from_dict(values)
    _check_day(values, record.day)
    row = weather_row(record, values.get("ingested_at") or imported_at)
    return (*row, *WEATHER_TABLE.later_values(values))


#: How an export-format line of each stream becomes a row of its table.
EXPORT_ROWS: dict[str, Callable[[ExportHeader, Sequence[str], datetime], tuple[Any, ...]]] = {
    KIND_TWEETS: export_tweet_row,
    KIND_WEATHER: export_weather_row,
}
#: How a line of each seed file becomes a row (no header: the fields are in the file's order).
SEED_ROWS: dict[str, Callable[[Sequence[str], datetime], tuple[Any, ...]]] = {
    KIND_SEED_TWEETS: seed_tweet_row,
    KIND_SEED_WEATHER: seed_weather_row,
}


# -- choosing the format of a file --------------------------------------------------------------


@dataclass(frozen=True)
class FileFormat:
    """How the records of one file become rows."""

    kind: str
    spec: TableSpec
    to_row: Callable[[Sequence[str], datetime], tuple[Any, ...]]
    #: True when the first record is a header (not a row).
    has_header: bool


def file_format(kind: str, first_fields: Sequence[str] | None) -> FileFormat:
    """The format of a file from the requested ``kind`` and its first record.

    :raises CsvImportError: the kind is unknown, or the file does not look like the kind asked for
    """
    if kind not in KINDS:
        raise CsvImportError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    header = export_header(first_fields) if first_fields else None
    if header is not None:
        if kind not in (KIND_AUTO, header.kind):
            raise CsvImportError(
                f"the file has the export header of {header.kind}, but kind={kind} was asked"
            )
        to_row = EXPORT_ROWS[header.kind]
        return FileFormat(header.kind, header.spec, lambda f, at: to_row(header, f, at), has_header=True)
    if kind in STREAMS:
        raise CsvImportError(
            f"kind={kind} expects the export format, whose first line is a header naming the columns "
            f"({', '.join(EXPORT_TABLES[table_of(kind)].columns[:4])}, ...); "
            "for the seed files use kind=seed_tweets or seed_weather"
        )
    if kind == KIND_AUTO:
        count = len(first_fields or [])
        if count == len(SEED_TWEET_FIELDS):
            kind = KIND_SEED_TWEETS
        elif count == len(SEED_WEATHER_FIELDS):
            kind = KIND_SEED_WEATHER
        else:
            raise CsvImportError(
                f"cannot tell the format: the first record has {count} fields (seed tweets have "
                f"{len(SEED_TWEET_FIELDS)}, seed weather {len(SEED_WEATHER_FIELDS)}, exports a header); "
                "set kind explicitly"
            )
    return FileFormat(kind, EXPORT_TABLES[table_of(kind)], SEED_ROWS[kind], has_header=False)


def table_of(kind: str) -> str:
    """The table a kind of file fills (the seed files fill their stream's table).

    :raises CsvImportError: ``kind`` is ``auto`` (decided per file) or unknown
    """
    try:
        return KIND_STREAMS[kind].table.name
    except KeyError:
        raise CsvImportError(
            f"no table for kind {kind!r}: one of {', '.join(KIND_STREAMS)} fills a table"
        ) from None
