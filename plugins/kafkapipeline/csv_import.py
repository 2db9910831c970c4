"""Load CSV files into Cassandra: the project's own exports and the original seed files.

Formats (``kind``):

* ``tweets`` / ``weather``: the export format of :mod:`kafkapipeline.csv_export` (a header row
  naming the columns; ISO-8601 UTC timestamps; empty field = null). Columns are matched by
  name, so their order does not matter. A row keeps what the file says, ``ingested_at`` and the
  sentiment included: importing an export restores the rows exactly. A tweet row without a
  sentiment gets one from VADER; a row without ``ingested_at`` gets the import time.
* ``seed_tweets``: the 2021 seed, no header, ``text, timestamp, location, label``.
* ``seed_weather``: the 2021 seed, no header, ``description, temp, feels_like, temp_min,
  temp_max`` (Kelvin), ``pressure, humidity, wind speed, sunrise, sunset`` (epoch seconds),
  ``city, report time``.
* ``auto``: decided per file from its first record: the export header says tweets or weather,
  otherwise 4 fields mean seed tweets and 12 fields seed weather.

How the seed maps to the tables:

* Timestamps carry no zone; they are **UTC** (the weather file's sunrise/sunset epochs fall on
  the UTC report time's Vancouver day for every row, not on the local one).
* Seed tweets have no id, so the id is derived from the row: ``seed-`` + the first 24 hex digits
  of SHA-256 over the raw timestamp, text and location fields (as written in the file, before
  any decoding). The same line always maps to the same row, so importing a file twice writes the
  same rows again (upserts), and two different lines never collide in practice (96 bits).
* Location ``MetroVancouver`` becomes city ``Vancouver`` (:data:`SEED_LOCATION_CITIES`); another
  location is used as the city name as written.
* The seed's text is escaped the way Python prints strings: ``\\n`` for a newline, ``\\xe3`` for
  Latin-1 characters, ``\\u2026``, and emojis as UTF-16 surrogate pairs (``\\ud83e\\udd2a``).
  These are decoded into the real characters (a pair becomes one emoji; a lone half of a pair,
  which no UTF-8 text can hold, becomes U+FFFD). Other backslashes are kept as they are.
* Sentiment: ``sentiment_score`` and ``sentiment_label`` are computed with VADER
  (:mod:`kafkapipeline.sentiment`), exactly as the drain does for live tweets, so seed and live
  tweets are comparable. The seed's own label (from another model, Positive / Negative only)
  is kept, unchanged, in ``source_label`` (migration 0008). ``source`` is ``seed-csv``.
* Weather: Kelvin becomes Celsius with :func:`kafkapipeline.records.kelvin_to_celsius`;
  provider ``seed-csv``; pressure and humidity are whole numbers.

Robustness: files are read as a stream (``csv.reader`` over the lines of the file) and rows are
written in chunks of ``chunk_size`` through :class:`~kafkapipeline.cassandra_writer.ConcurrentRowWriter`
(prepared statements, bounded requests in flight), so memory stays constant whatever the file's
size. A row that cannot be read or validated is a *bad row*: it is counted, logged with its line
number(s) and the reason, listed (capped) in the summary, and the rest of the file goes on. Quoted
fields may span lines; a bad row's lines are the range the CSV record spans. Invalid UTF-8 is a
bad row too, not a failure of the file.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cassandra import InvalidRequest

from kafkapipeline import settings
from kafkapipeline.cassandra_writer import (
    DEFAULT_CONCURRENCY,
    WEATHER_REPORTS,
    ConcurrentRowWriter,
    TableSpec,
    tweet_row,
    weather_row,
)
from kafkapipeline.csv_export import (
    COLUMN_TYPES,
    EXPORT_TABLES,
    TWEETS_WITH_SOURCE_LABEL,
    default_export_dir,
    schema_hint,
)
from kafkapipeline.records import InvalidRecord, TweetRecord, WeatherRecord, kelvin_to_celsius, parse_utc
from kafkapipeline.sentiment import LABELS, Sentiment

log = logging.getLogger(__name__)

KIND_AUTO = "auto"
KIND_TWEETS = "tweets"
KIND_WEATHER = "weather"
KIND_SEED_TWEETS = "seed_tweets"
KIND_SEED_WEATHER = "seed_weather"
KINDS = (KIND_AUTO, KIND_TWEETS, KIND_WEATHER, KIND_SEED_TWEETS, KIND_SEED_WEATHER)

SEED_SOURCE = "seed-csv"
#: Seed locations that are not city names, and the city their rows are filed under.
SEED_LOCATION_CITIES = {"MetroVancouver": "Vancouver"}
SEED_TWEET_FIELDS = ("text", "timestamp", "location", "label")
SEED_WEATHER_FIELDS = (
    "description",
    "temp",
    "feels_like",
    "temp_min",
    "temp_max",
    "pressure",
    "humidity",
    "wind_speed",
    "sunrise",
    "sunset",
    "city",
    "report_time",
)
SEED_ID_PREFIX = "seed-"
SEED_ID_HEX_DIGITS = 24

DEFAULT_CHUNK_SIZE = 1_000
#: Bad rows listed per file in the summary (XCom); all of them are counted.
MAX_BAD_ROWS_LISTED = 20
#: Bad rows logged per file (one line each); past this only the count is logged.
MAX_BAD_ROWS_LOGGED = 200
MAX_REASON_LENGTH = 300


class CsvImportError(RuntimeError):
    """A file cannot be imported at all (unknown format, unreadable) or its rows could not be written."""


@dataclass(frozen=True)
class BadRow:
    """A CSV record that did not become a row: where it is (first and last line) and why."""

    line: int
    end_line: int
    reason: str

    @property
    def lines(self) -> str:
        return str(self.line) if self.end_line <= self.line else f"{self.line}-{self.end_line}"

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "reason": self.reason}


@dataclass
class FileImport:
    """What the import of one file did."""

    path: str
    kind: str
    table: str
    records: int = 0
    rows_written: int = 0
    bad_rows: int = 0
    blank_lines: int = 0
    lines: int = 0
    bad_row_examples: list[BadRow] = field(default_factory=list)

    def add_bad_row(self, bad: BadRow) -> None:
        self.bad_rows += 1
        if len(self.bad_row_examples) < MAX_BAD_ROWS_LISTED:
            self.bad_row_examples.append(bad)
        if self.bad_rows <= MAX_BAD_ROWS_LOGGED:
            log.warning("%s: bad row at line %s: %s", self.path, bad.lines, bad.reason)
        elif self.bad_rows == MAX_BAD_ROWS_LOGGED + 1:
            log.warning("%s: more bad rows; only their count is reported from here on", self.path)

    def describe(self) -> str:
        return (
            f"{self.path} ({self.kind} -> {self.table}): {self.lines} lines, {self.records} valid rows, "
            f"{self.rows_written} written, {self.bad_rows} bad rows, {self.blank_lines} blank lines"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "table": self.table,
            "lines": self.lines,
            "records": self.records,
            "rows_written": self.rows_written,
            "bad_rows": self.bad_rows,
            "blank_lines": self.blank_lines,
            "bad_row_examples": [bad.as_dict() for bad in self.bad_row_examples],
        }


# -- reading CSV records with line numbers ------------------------------------------------------


def decoded_lines(stream: BinaryIO) -> Iterator[str]:
    """The lines of a binary stream as text; bytes that are not UTF-8 survive as lone surrogates.

    Decoding line by line with ``surrogateescape`` means one bad byte spoils one row (which
    :func:`check_utf8` then reports) instead of stopping the whole file. A UTF-8 byte-order mark
    at the start is dropped.
    """
    first = True
    for raw in stream:
        line = raw.decode("utf-8", "surrogateescape")
        if first:
            line = line.removeprefix("\ufeff")
            first = False
        yield line


@dataclass(frozen=True)
class CsvRecord:
    """One CSV record: its fields (None when the CSV itself could not be parsed) and its lines."""

    line: int
    end_line: int
    fields: list[str] | None
    error: str | None = None


def csv_records(lines: Iterable[str]) -> Iterator[CsvRecord]:
    """Parse ``lines`` as CSV, yielding every record with the first and last line it spans.

    A record the ``csv`` module rejects is yielded with its error and parsing goes on with the
    next line, so one broken record does not end the file.
    """
    reader = csv.reader(lines)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield CsvRecord(start, max(start, reader.line_num), None, f"unreadable CSV: {err}")
            if reader.line_num < start:  # no progress: nothing more can be read
                return
            continue
        yield CsvRecord(start, max(start, reader.line_num), fields)


def check_utf8(fields: Sequence[str]) -> None:
    for position, value in enumerate(fields, start=1):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InvalidRecord(
                f"field {position} is not valid UTF-8 (byte at position {err.start})"
            ) from None


# -- the seed formats ---------------------------------------------------------------------------

_ESCAPE = re.compile(
    r"\\(?:"
    r"u(?P<high>[dD][89abAB][0-9a-fA-F]{2})\\u(?P<low>[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|u(?P<u4>[0-9a-fA-F]{4})"
    r"|U(?P<u8>[0-9a-fA-F]{8})"
    r"|x(?P<x2>[0-9a-fA-F]{2})"
    r"|(?P<simple>[nrt\\'\"])"
    r")"
)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"'}
REPLACEMENT_CHARACTER = "\ufffd"


def _unescape_match(match: re.Match[str]) -> str:
    if match["high"]:
        high, low = int(match["high"], 16), int(match["low"], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    if match["u4"]:
        code = int(match["u4"], 16)
        return REPLACEMENT_CHARACTER if 0xD800 <= code <= 0xDFFF else chr(code)
    if match["u8"]:
        code = int(match["u8"], 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return REPLACEMENT_CHARACTER
        return chr(code)
    if match["x2"]:
        return chr(int(match["x2"], 16))
    return _SIMPLE_ESCAPES[match["simple"]]


def decode_seed_text(text: str) -> str:
    """Decode the seed's Python-style escapes (see the module docstring); other text is unchanged."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(_unescape_match, text)


def seed_tweet_id(raw_timestamp: str, raw_text: str, raw_location: str) -> str:
    """A stable id for a seed tweet: the same raw fields always give the same id."""
    digest = hashlib.sha256("\x1f".join((raw_timestamp, raw_text, raw_location)).encode("utf-8"))
    return SEED_ID_PREFIX + digest.hexdigest()[:SEED_ID_HEX_DIGITS]


def seed_city(location: str) -> str:
    name = location.strip()
    if not name:
        raise InvalidRecord("location: required text is missing")
    return SEED_LOCATION_CITIES.get(name, name)


def _naive_utc(value: str, name: str) -> datetime:
    text = value.strip()
    if not text:
        raise InvalidRecord(f"{name}: required timestamp is missing")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRecord(f"{name}: not a timestamp: {text[:40]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _expect_fields(fields: Sequence[str], names: Sequence[str]) -> None:
    if len(fields) != len(names):
        raise InvalidRecord(f"expected {len(names)} fields ({', '.join(names)}), got {len(fields)}")


def _seed_label(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    for label in LABELS:
        if text.lower() == label.lower():
            return label
    raise InvalidRecord(f"label: {text[:40]!r} is not one of {', '.join(LABELS)}")


def parse_seed_tweet(fields: Sequence[str]) -> tuple[TweetRecord, str | None]:
    """A seed tweet line as a record and the seed's label; :class:`InvalidRecord` says what is wrong."""
    _expect_fields(fields, SEED_TWEET_FIELDS)
    raw_text, raw_timestamp, raw_location, raw_label = fields
    record = TweetRecord(
        tweet_id=seed_tweet_id(raw_timestamp, raw_text, raw_location),
        text=decode_seed_text(raw_text),
        created_at=_naive_utc(raw_timestamp, "timestamp"),
        city=seed_city(raw_location),
        source=SEED_SOURCE,
    )
    return record, _seed_label(raw_label)


def _seed_number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InvalidRecord(f"{name}: not a number: {value[:40]!r}") from None
    if not math.isfinite(number):
        raise InvalidRecord(f"{name}: not a finite number: {value[:40]!r}")
    return number


def _epoch(value: str, name: str) -> datetime:
    seconds = _seed_number(value, name)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidRecord(f"{name}: {value[:40]!r} is not a usable epoch time") from None


def parse_seed_weather(fields: Sequence[str]) -> WeatherRecord:
    """A seed weather line as a record in Celsius; :class:`InvalidRecord` says what is wrong."""
    _expect_fields(fields, SEED_WEATHER_FIELDS)
    values = dict(zip(SEED_WEATHER_FIELDS, fields, strict=True))
    kelvin = {
        name: _seed_number(values[name], name) for name in ("temp", "feels_like", "temp_min", "temp_max")
    }
    return WeatherRecord.from_dict(
        {
            "city": seed_city(values["city"]),
            "observed_at": _naive_utc(values["report_time"], "report_time"),
            "description": values["description"].strip() or None,
            "temperature_c": kelvin_to_celsius(kelvin["temp"]),
            "feels_like_c": kelvin_to_celsius(kelvin["feels_like"]),
            "temp_min_c": kelvin_to_celsius(kelvin["temp_min"]),
            "temp_max_c": kelvin_to_celsius(kelvin["temp_max"]),
            "pressure_hpa": round(_seed_number(values["pressure"], "pressure")),
            "humidity_pct": round(_seed_number(values["humidity"], "humidity")),
            "wind_speed_ms": _seed_number(values["wind_speed"], "wind_speed"),
            "sunrise": _epoch(values["sunrise"], "sunrise"),
            "sunset": _epoch(values["sunset"], "sunset"),
            "provider": SEED_SOURCE,
        }
    )


# -- the export format --------------------------------------------------------------------------


def parse_cell(value: str, column: str) -> Any:
    """One export-format cell as the column's Python value; empty is null."""
    if value == "":
        return None
    kind = COLUMN_TYPES[column]
    try:
        if kind == "timestamp":
            return parse_utc(value, column)
        if kind == "date":
            return date.fromisoformat(value)
        if kind == "int":
            return int(value)
        if kind == "double":
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            return number
    except (ValueError, OverflowError):
        raise InvalidRecord(f"{column}: {value[:40]!r} is not a valid {kind}") from None
    return value


@dataclass(frozen=True)
class ExportHeader:
    """The header of an export file: which table it holds and where each column is."""

    kind: str
    columns: tuple[str, ...]

    @property
    def spec(self) -> TableSpec:
        return EXPORT_TABLES[_table_of(self.kind)]


#: Columns an export file must have, per kind.
REQUIRED_COLUMNS = {
    KIND_TWEETS: ("city", "created_at", "tweet_id", "text"),
    KIND_WEATHER: ("city", "observed_at", "temperature_c"),
}


def export_header(fields: Sequence[str]) -> ExportHeader | None:
    """The header of an export file, or None when ``fields`` is not one.

    :raises CsvImportError: a header naming columns the table does not have, or missing required ones
    """
    names = tuple(name.strip() for name in fields)
    if "city" not in names or not ("created_at" in names or "observed_at" in names):
        return None
    kind = KIND_TWEETS if "created_at" in names else KIND_WEATHER
    spec = EXPORT_TABLES[_table_of(kind)]
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
        values["text"] = ""  # an empty tweet text is a text, not a missing one
    record = TweetRecord.from_dict(values)
    _check_day(values, record.day)
    score, label = values.get("sentiment_score"), values.get("sentiment_label")
    sentiment = Sentiment(score, label) if score is not None and label is not None else None
    ingested_at = values.get("ingested_at") or imported_at
    return (*tweet_row(record, ingested_at, sentiment=sentiment), values.get("source_label"))


def export_weather_row(header: ExportHeader, fields: Sequence[str], imported_at: datetime) -> tuple[Any, ...]:
    """An export-format weather line as a ``weather_reports`` row, restored as written."""
    values = _export_values(header, fields)
    record = WeatherRecord.from_dict(values)
    _check_day(values, record.day)
    return weather_row(record, values.get("ingested_at") or imported_at)


def seed_tweet_row(fields: Sequence[str], imported_at: datetime) -> tuple[Any, ...]:
    record, label = parse_seed_tweet(fields)
    return (*tweet_row(record, imported_at), label)


def seed_weather_row(fields: Sequence[str], imported_at: datetime) -> tuple[Any, ...]:
    return weather_row(parse_seed_weather(fields), imported_at)


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
        to_row = export_tweet_row if header.kind == KIND_TWEETS else export_weather_row
        return FileFormat(header.kind, header.spec, lambda f, at: to_row(header, f, at), has_header=True)
    if kind in (KIND_TWEETS, KIND_WEATHER):
        raise CsvImportError(
            f"kind={kind} expects the export format, whose first line is a header naming the columns "
            f"({', '.join(EXPORT_TABLES[_table_of(kind)].columns[:4])}, ...); "
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
    if kind == KIND_SEED_TWEETS:
        return FileFormat(kind, TWEETS_WITH_SOURCE_LABEL, seed_tweet_row, has_header=False)
    return FileFormat(kind, WEATHER_REPORTS, seed_weather_row, has_header=False)


def _table_of(kind: str) -> str:
    return (
        TWEETS_WITH_SOURCE_LABEL.table if kind in (KIND_TWEETS, KIND_SEED_TWEETS) else WEATHER_REPORTS.table
    )


# -- importing ----------------------------------------------------------------------------------

#: What :func:`rows_of` catches as a bad row: validation errors and conversions gone wrong.
ROW_ERRORS = (InvalidRecord, ValueError, TypeError, OverflowError)


def _reason(err: BaseException) -> str:
    text = str(err) if isinstance(err, InvalidRecord) else f"{type(err).__name__}: {err}"
    return text[:MAX_REASON_LENGTH]


def rows_of(
    records: Iterable[CsvRecord], kind: str, report: FileImport, imported_at: datetime
) -> Iterator[tuple[FileFormat, tuple[Any, ...]]]:
    """Turn CSV records into rows, counting bad rows and blank lines in ``report``.

    The format is decided from the first non-blank record; the first yielded item carries it.
    """
    chosen: FileFormat | None = None
    for record in records:
        report.lines = record.end_line
        if record.fields is not None and not any(value.strip() for value in record.fields):
            report.blank_lines += record.end_line - record.line + 1
            continue
        if chosen is None:
            chosen = file_format(kind, record.fields)
            report.kind, report.table = chosen.kind, chosen.spec.table
            if chosen.has_header:
                continue
        if record.fields is None:
            report.add_bad_row(BadRow(record.line, record.end_line, record.error or "unreadable CSV"))
            continue
        try:
            check_utf8(record.fields)
            row = chosen.to_row(record.fields, imported_at)
        except ROW_ERRORS as err:
            report.add_bad_row(BadRow(record.line, record.end_line, _reason(err)))
            continue
        report.records += 1
        yield chosen, row


def import_file(
    session: Any,
    keyspace: str,
    path: Path,
    kind: str = KIND_AUTO,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    imported_at: datetime | None = None,
) -> FileImport:
    """Stream one file into its table; see the module docstring.

    :raises CsvImportError: the file's format is not what ``kind`` says or cannot be told, or
        rows could not be written (importing the file again is safe: rows are upserts)
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    imported_at = imported_at or datetime.now(UTC)
    report = FileImport(path=str(path), kind=kind, table="")
    writer: ConcurrentRowWriter | None = None
    chunk: list[tuple[Any, ...]] = []
    try:
        with path.open("rb") as stream:
            for chosen, row in rows_of(csv_records(decoded_lines(stream)), kind, report, imported_at):
                if writer is None:  # prepared once the file's format (and so its table) is known
                    try:
                        writer = ConcurrentRowWriter(session, keyspace, chosen.spec, concurrency=concurrency)
                    except InvalidRequest as err:
                        raise schema_hint(err, keyspace) from err
                chunk.append(row)
                if len(chunk) >= chunk_size:
                    _write_chunk(writer, chunk, report)
                    chunk = []
            if chunk and writer is not None:
                _write_chunk(writer, chunk, report)
    except CsvImportError as err:
        raise CsvImportError(f"{path}: {err}") from err
    finally:
        outcome = writer.flush() if writer is not None else None
    if outcome is not None:
        report.rows_written = outcome.rows_written
        if not outcome.ok:
            raise CsvImportError(
                f"{path}: Cassandra write failed for {outcome.describe_failure()}. The file is unchanged and "
                "importing it again is safe: rows are upserts keyed by their natural ids"
            )
    if not report.table:
        report.table = _table_of(kind) if kind != KIND_AUTO else ""
    log.info("%s", report.describe())
    return report


def _write_chunk(writer: ConcurrentRowWriter, chunk: list[tuple[Any, ...]], report: FileImport) -> None:
    writer.write(chunk)
    if writer.outcome.first_error is not None:
        raise CsvImportError(
            f"Cassandra write failed after {report.records} rows: "
            f"{type(writer.outcome.first_error).__name__}: {writer.outcome.first_error}"
        )


def csv_files(path: Path) -> list[Path]:
    """``path`` itself, or every ``*.csv`` under the folder ``path`` (sorted; hidden temp files skipped)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        found = []
        for candidate in path.rglob("*.csv"):
            hidden = any(part.startswith(".") for part in candidate.relative_to(path).parts)
            if candidate.is_file() and not hidden:  # skips the export's temporary files
                found.append(candidate)
        return sorted(found)
    raise CsvImportError(f"{path} does not exist (relative paths are taken from the export dir)")


def resolve_import_path(path: str) -> Path:
    """An absolute ``path`` as it is; a relative one from the export dir (where the export writes)."""
    if not path or not path.strip():
        raise CsvImportError("path must name a CSV file or a folder of CSV files")
    candidate = Path(path.strip()).expanduser()
    return candidate if candidate.is_absolute() else default_export_dir() / candidate


@dataclass
class ImportSummary:
    path: str
    files: list[FileImport] = field(default_factory=list)

    @property
    def bad_rows(self) -> int:
        return sum(f.bad_rows for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "files": [f.as_dict() for f in self.files],
            "records": sum(f.records for f in self.files),
            "rows_written": sum(f.rows_written for f in self.files),
            "bad_rows": self.bad_rows,
        }


def import_path(
    path: Path,
    kind: str = KIND_AUTO,
    *,
    keyspace: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
) -> ImportSummary:
    """Import a file or every CSV file of a folder, one after the other."""
    from kafkapipeline.cassandra_session import cassandra_session

    if kind not in KINDS:
        raise CsvImportError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    files = csv_files(path)
    if not files:
        raise CsvImportError(f"{path} holds no .csv files")
    keyspace = keyspace or settings.keyspace()
    summary = ImportSummary(path=str(path))
    with cassandra_session(cassandra_conn_id) as session:
        for file in files:
            summary.files.append(
                import_file(session, keyspace, file, kind, chunk_size=chunk_size, concurrency=concurrency)
            )
    return summary


def import_csv_task() -> dict[str, Any]:
    """The ``import_csv`` DAG's task: import the ``path`` Param and return the summary (XCom).

    Params (see ``dags/import_csv.py``): ``path``, ``kind``, ``fail_on_bad_rows``, ``chunk_size``.
    Bad rows never stop an import; with ``fail_on_bad_rows`` the task fails *after* every
    valid row is written, so the UI shows red while nothing valid is left out.
    """
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    params = get_current_context()["params"]
    summary = import_path(
        resolve_import_path(str(params.get("path") or "")),
        str(params.get("kind") or KIND_AUTO),
        chunk_size=int(params.get("chunk_size") or DEFAULT_CHUNK_SIZE),
    )
    result = summary.as_dict()
    log.info(
        "imported %d rows from %d files (%d bad rows) under %s",
        result["rows_written"],
        len(summary.files),
        result["bad_rows"],
        summary.path,
    )
    if summary.bad_rows and params.get("fail_on_bad_rows"):
        raise AirflowFailException(
            f"{summary.bad_rows} bad rows (listed in the log with their line numbers); "
            "every valid row was imported"
        )
    return result
