"""Export a day of each table to CSV: one file per table per UTC day, streamed, written atomically.

Cells are what :mod:`kafkapipeline.csvio.load` reads back: ISO-8601 UTC timestamps with milliseconds,
``YYYY-MM-DD`` dates, shortest round-tripping doubles, a ``set<text>`` as a sorted JSON array, empty for
null. A file goes to
``<export dir>/<table>/<YYYY-MM-DD>.csv`` inside the data root (:mod:`kafkapipeline.csvio.paths`), under a
temporary name renamed over the final one, so a reader never sees half a file. Only the configured
cities' partitions are read (listing partitions is a full scan), page by page, so memory stays constant.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cassandra import InvalidRequest
from cassandra.util import Date as CassandraDate
from cassandra.util import SortedSet

from kafkapipeline import settings
from kafkapipeline.assets.tasks import changed_days
from kafkapipeline.csvio.paths import PathOutsideDataRoot, confine
from kafkapipeline.settings import PipelineSettings
from kafkapipeline.streams.base import TableSpec
from kafkapipeline.streams.registry import STREAMS, column_types
from kafkapipeline.streams.tweets import TWEETS_TABLE

log = logging.getLogger(__name__)

EXPORT_DIR_ENV = settings.env_name("export_dir")
#: The export dir when neither the Param nor ``KAFKAPIPELINE_EXPORT_DIR`` names one, in the data root.
DEFAULT_EXPORT_SUBDIR = PipelineSettings.model_fields["export_dir"].default
#: Limits of the ``cities`` Param: how many cities one run exports, and how long a name may be.
MAX_CITIES = 100
MAX_CITY_LENGTH = 100
#: Rows per page read from Cassandra.
DEFAULT_FETCH_SIZE = 1_000
READ_TIMEOUT_SECONDS = 60.0

#: The tweets table as exported and imported: every column, the drain's and those it leaves to
#: others (``source_label``, migration 0008).
TWEETS_WITH_SOURCE_LABEL = TWEETS_TABLE.full_spec

#: Tables the export writes, by name: every column of each stream's table, in the registry's order.
EXPORT_TABLES: dict[str, TableSpec] = {s.table.name: s.table.full_spec for s in STREAMS.values()}

#: CQL type of every exported column: how a value is written to and parsed from CSV.
COLUMN_TYPES: dict[str, str] = column_types()


def default_export_dir() -> Path:
    """``KAFKAPIPELINE_EXPORT_DIR``, else ``exports``, inside the data root (see :func:`export_dir_of`)."""
    configured = settings.is_set("export_dir")
    return confine(settings.current().export_dir, what=EXPORT_DIR_ENV if configured else "export dir")


def export_dir_of(export_dir: str | Path | None) -> Path:
    """The folder an export writes to: ``export_dir`` (relative: from the data root) or the default.

    :raises PathOutsideDataRoot: the folder is not inside the data root
    """
    if export_dir is None or not str(export_dir).strip():
        return default_export_dir()
    return confine(export_dir, what="export_dir")


def export_path(export_dir: Path, table: str, day: date) -> Path:
    """Where the export of ``table`` for ``day`` goes."""
    return export_dir / table / f"{day.isoformat()}.csv"


def format_value(value: Any) -> str:
    """One cell of the export format (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, datetime):  # before date: a datetime is a date
        text = _timestamp_text(value)
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, CassandraDate):
        text = value.date().isoformat()  # the driver's type for CQL date values
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (set, frozenset, SortedSet)):  # set<text>: a JSON array, sorted
        text = json.dumps(sorted(value), ensure_ascii=False)
    else:
        text = str(value)
    return text


def _timestamp_text(moment: datetime) -> str:
    """ISO-8601 UTC with exactly three fraction digits (Cassandra timestamps are milliseconds)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def days_of(start: datetime, end: datetime) -> list[date]:
    """UTC days that ``[start, end)`` touches; a zero-length interval gives the day of ``start``."""
    first = start.astimezone(UTC).date()
    last_moment = end.astimezone(UTC) - timedelta(microseconds=1)
    last = max(first, last_moment.date())
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass
class FileExport:
    """One file written: which table and day, where, how many rows."""

    table: str
    day: str
    path: str
    rows: int
    cities: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "day": self.day,
            "path": self.path,
            "rows": self.rows,
            "cities": self.cities,
        }


@dataclass
class ExportSummary:
    export_dir: str
    days: list[str]
    files: list[FileExport] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_dir": self.export_dir,
            "days": self.days,
            "rows": self.rows,
            "files": [f.as_dict() for f in self.files],
        }


def write_csv_atomically(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write ``header`` and ``rows`` to ``path`` through a temporary file and a rename; return the row count.

    The temporary file lives in the same folder (a rename within one file system is atomic) and
    is removed if writing fails, so ``path`` is either the old file or the complete new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    count = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow([format_value(value) for value in row])
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return count


class SchemaOutOfDate(RuntimeError):
    """The keyspace lacks a table or column this code needs: the migrations have not all been applied."""


def schema_hint(err: Exception, keyspace: str) -> SchemaOutOfDate:
    return SchemaOutOfDate(
        f"Cassandra refused a statement on keyspace {keyspace!r}: {err}. Is its schema up to date? "
        "Run the bootstrap DAG to apply the pending migrations of include/cql (e.g. 0008 adds "
        "tweets.source_label)"
    )


def select_day_cql(keyspace: str, spec: TableSpec) -> str:
    return f"SELECT {', '.join(spec.columns)} FROM {keyspace}.{spec.table} WHERE city = ? AND day = ?"


def iter_day_rows(
    session: Any,
    keyspace: str,
    spec: TableSpec,
    cities: Sequence[str],
    day: date,
    *,
    fetch_size: int = DEFAULT_FETCH_SIZE,
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``spec.table`` for ``day`` and each city in turn, read page by page.

    Rows come as the session's named tuples, in ``spec.columns`` order.
    """
    try:
        statement = session.prepare(select_day_cql(keyspace, spec))
    except InvalidRequest as err:
        raise schema_hint(err, keyspace) from err
    for city in cities:
        bound = statement.bind((city, day))
        bound.fetch_size = fetch_size
        # The driver fetches the next page only when iteration reaches the end of the current one.
        yield from session.execute(bound, timeout=READ_TIMEOUT_SECONDS)


def export_day(
    session: Any,
    keyspace: str,
    export_dir: Path,
    day: date,
    *,
    cities: Sequence[str],
    tables: Sequence[str] | None = None,
    fetch_size: int = DEFAULT_FETCH_SIZE,
) -> list[FileExport]:
    """Write one file per table for ``day`` (see the module docstring); return what was written."""
    written = []
    for table in tables or list(EXPORT_TABLES):
        spec = EXPORT_TABLES[table]
        # Checked again per file: a table folder that is a symlink out of the root is refused.
        path = confine(export_path(export_dir, table, day), what="export file")
        rows = write_csv_atomically(
            path, spec.columns, iter_day_rows(session, keyspace, spec, cities, day, fetch_size=fetch_size)
        )
        log.info("exported %d rows of %s.%s for %s (%s) to %s", rows, keyspace, table, day, cities, path)
        written.append(
            FileExport(table=table, day=day.isoformat(), path=str(path), rows=rows, cities=list(cities))
        )
    return written


def _clean_cities(cities: Sequence[str] | None) -> list[str]:
    names = [str(city).strip() for city in (cities or []) if str(city).strip()]
    return list(dict.fromkeys(names)) or settings.cities()


def export_interval(
    start: datetime,
    end: datetime,
    *,
    export_dir: str | Path | None = None,
    cities: Sequence[str] | None = None,
    tables: Sequence[str] | None = None,
    keyspace: str | None = None,
    fetch_size: int = DEFAULT_FETCH_SIZE,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
) -> ExportSummary:
    """Export every UTC day of ``[start, end)``: one file per table per day."""
    from kafkapipeline.cassandra.session import cassandra_session

    if fetch_size < 1:
        raise ValueError(f"fetch_size must be at least 1, got {fetch_size}")
    unknown = sorted(set(tables or []) - set(EXPORT_TABLES))
    if unknown:
        raise ValueError(f"unknown tables {unknown}; the export knows {sorted(EXPORT_TABLES)}")
    folder = export_dir_of(export_dir)
    keyspace = keyspace or settings.keyspace()
    chosen = _clean_cities(cities)
    days = days_of(start, end)
    summary = ExportSummary(export_dir=str(folder), days=[d.isoformat() for d in days])
    with cassandra_session(cassandra_conn_id) as session:
        for day in days:
            files = export_day(
                session, keyspace, folder, day, cities=chosen, tables=tables, fetch_size=fetch_size
            )
            summary.files.extend(files)
    return summary


def export_days(
    days_by_table: Mapping[str, Sequence[date]],
    *,
    export_dir: str | Path | None = None,
    cities: Sequence[str] | None = None,
    keyspace: str | None = None,
    fetch_size: int = DEFAULT_FETCH_SIZE,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
) -> ExportSummary:
    """Export the given days of each table (one file each): the days whose rows changed after their export."""
    from kafkapipeline.cassandra.session import cassandra_session

    unknown = sorted(set(days_by_table) - set(EXPORT_TABLES))
    if unknown:
        raise ValueError(f"unknown tables {unknown}; the export knows {sorted(EXPORT_TABLES)}")
    folder = export_dir_of(export_dir)
    keyspace = keyspace or settings.keyspace()
    chosen = _clean_cities(cities)
    every_day = sorted({day for days in days_by_table.values() for day in days})
    summary = ExportSummary(export_dir=str(folder), days=[d.isoformat() for d in every_day])
    with cassandra_session(cassandra_conn_id) as session:
        for table, days in days_by_table.items():
            for day in days:
                summary.files.extend(
                    export_day(
                        session, keyspace, folder, day, cities=chosen, tables=[table], fetch_size=fetch_size
                    )
                )
    return summary


def changed_days_of_run(
    triggering_asset_events: Mapping[Any, Sequence[Any]], tables: Sequence[str], today: date
) -> dict[str, list[date]]:
    """The finished days of ``tables`` whose rows the run's triggering asset events changed."""
    extras = {
        asset.uri: [event.extra for event in events]
        for asset, events in triggering_asset_events.items()
        if getattr(asset, "uri", None)
    }
    chosen = set(tables or EXPORT_TABLES)
    return {table: days for table, days in changed_days(extras, before=today).items() if table in chosen}


def export_csv_task(
    *,
    export_dir: str | None,
    cities: list[str],
    tables: list[str],
    day: str | None,
    fetch_size: int,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    triggering_asset_events: Mapping[Any, Sequence[Any]] | None = None,
) -> dict[str, Any]:
    """The ``export_csv`` DAG's task: export the run's data interval (or the ``day`` Param) to CSV.

    Scheduled, backfill and manual runs each export the day(s) they cover. A run the tables' asset
    events triggered (it has no data interval) exports again the finished days those events changed,
    and ends skipped, having read nothing, when they changed only today. The XCom names the files
    and rows.
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    start: datetime | None
    end: datetime | None
    if not day and triggering_asset_events:
        today = datetime.now(UTC).date()
        changed = changed_days_of_run(triggering_asset_events, tables, today)
        if not changed:
            raise AirflowSkipException(
                f"the tables' new rows are all of today ({today}, exported tomorrow): nothing to export again"
            )
        try:
            return _logged(
                export_days(changed, export_dir=export_dir, cities=cities, fetch_size=fetch_size)
            ).as_dict()
        except PathOutsideDataRoot as err:
            raise AirflowFailException(str(err)) from err
    if day:
        chosen = date.fromisoformat(day)
        start = datetime(chosen.year, chosen.month, chosen.day, tzinfo=UTC)
        end = start + timedelta(days=1)
    else:
        start, end = data_interval_start, data_interval_end
        if start is None or end is None:
            raise ValueError(
                "this run has no data interval; trigger it with a logical date, or set the 'day' Param"
            )
    try:
        folder = export_dir_of(export_dir)
    except PathOutsideDataRoot as err:
        raise AirflowFailException(str(err)) from err  # a retry would be refused the same way
    summary = export_interval(
        start,
        end,
        export_dir=folder,
        cities=cities,
        tables=tables or None,
        fetch_size=fetch_size,
    )
    return _logged(summary).as_dict()


def _logged(summary: ExportSummary) -> ExportSummary:
    for written in summary.files:
        log.info("%-16s %s  %7d rows  %s", written.table, written.day, written.rows, written.path)
    return summary
