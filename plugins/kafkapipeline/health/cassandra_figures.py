"""Cassandra figures: ``rows_per_hour`` from ``drain_batches`` and ``freshness_seconds`` per table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kafkapipeline.health.report import (
    CQL_TIMEOUT_SECONDS,
    DEFAULT_HOURS,
    FAIL,
    METRIC_FRESHNESS,
    METRIC_ROWS,
    OK,
    WARN,
    HealthFigure,
    HealthThresholds,
)
from kafkapipeline.streams.registry import STREAMS
from kafkapipeline.times import utc

log = logging.getLogger(__name__)

#: Tables checked for freshness: name and the event-time column that orders their partitions.
FRESHNESS_TABLES = tuple((s.table.name, s.table.time_column) for s in STREAMS.values())


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), end.date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def rows_per_hour_figures(
    session: Any, keyspace: str, topic_tables: dict[str, str], now: datetime, hours: int = DEFAULT_HOURS
) -> list[HealthFigure]:
    """``rows_per_hour`` per table, from the ``drain_batches`` of the last ``hours``."""
    if hours < 1:
        raise ValueError(f"hours must be at least 1, got {hours}")
    since = now - timedelta(hours=hours)
    statement = session.prepare(
        f"SELECT topic, rows_written, dead_lettered FROM {keyspace}.drain_batches "
        "WHERE day = ? AND finished_at >= ? AND finished_at <= ?"
    )
    totals = {topic: [0, 0, 0] for topic in topic_tables}  # rows, batches, dead-lettered
    for day in _days(since, now):
        for row in session.execute(statement, (day, since, now), timeout=CQL_TIMEOUT_SECONDS):
            if row.topic in totals:
                totals[row.topic][0] += row.rows_written or 0
                totals[row.topic][1] += 1
                totals[row.topic][2] += row.dead_lettered or 0
    figures = []
    for topic, table in topic_tables.items():
        rows, batches, dead = totals[topic]
        detail = f"{rows} rows from {topic} in {batches} batches over the last {hours}h; {dead} dead-lettered"
        figures.append(HealthFigure(METRIC_ROWS, table, rows / hours, OK, detail))
    return figures


def newest_row(
    session: Any, keyspace: str, table: str, time_column: str, *, cities: Sequence[str], today: date
) -> tuple[datetime, str, datetime | None] | None:
    """(event time, city, ingested_at) of the newest row of today's, else yesterday's, partitions."""
    statement = session.prepare(
        f"SELECT {time_column}, ingested_at FROM {keyspace}.{table} WHERE city = ? AND day = ? LIMIT 1"
    )
    newest: tuple[datetime, str, datetime | None] | None = None
    for city in cities:
        for day in (today, today - timedelta(days=1)):
            row = session.execute(statement, (city, day), timeout=CQL_TIMEOUT_SECONDS).one()
            if row is None:
                continue
            moment = utc(row[0])
            if newest is None or moment > newest[0]:
                newest = (moment, city, utc(row[1]) if row[1] else None)
            break  # the partition of a later day holds newer rows
    return newest


def keyspace_set_up_at(session: Any, keyspace: str) -> datetime | None:
    """When the first migration was applied to ``keyspace`` (None when unknown)."""
    try:
        row = session.execute(
            f"SELECT applied_at FROM {keyspace}.schema_migrations WHERE version = 1",
            timeout=CQL_TIMEOUT_SECONDS,
        ).one()
    except Exception as err:  # only the new-install grace depends on it
        log.warning("could not read %s.schema_migrations: %s", keyspace, err)
        return None
    return utc(row.applied_at) if row is not None and row.applied_at is not None else None


def freshness_figures(
    session: Any, keyspace: str, cities: Sequence[str], now: datetime, thresholds: HealthThresholds
) -> list[HealthFigure]:
    """``freshness_seconds`` per table: the age of its newest row by event time, today's or yesterday's.

    ``fail`` above the threshold or with no row in either day, except ``warn`` ("no data yet") on an
    install younger than the threshold.
    """
    figures = []
    today = now.date()
    set_up_at = keyspace_set_up_at(session, keyspace)
    for table, time_column in FRESHNESS_TABLES:
        found = newest_row(session, keyspace, table, time_column, cities=cities, today=today)
        if found is None:
            since = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=1)
            age = (now - since).total_seconds()
            detail = f"no row for {', '.join(cities)} today or yesterday (UTC): older than {age:.0f}s"
            status = FAIL
            if (
                set_up_at is not None
                and (now - set_up_at).total_seconds() <= thresholds.max_freshness_seconds
            ):
                # A new install: no data is not stale data until the freshness threshold has passed.
                age = max(0.0, (now - set_up_at).total_seconds())
                status = WARN
                detail = (
                    f"no data yet: the keyspace was set up {age:.0f}s ago, within max_freshness_seconds "
                    f"{thresholds.max_freshness_seconds:g}"
                )
            figures.append(HealthFigure(METRIC_FRESHNESS, table, age, status, detail))
            continue
        moment, city, ingested_at = found
        age = max(0.0, (now - moment).total_seconds())
        detail = f"newest {time_column} {moment.isoformat()} ({city})"
        if ingested_at is not None:
            detail += f", ingested {ingested_at.isoformat()}"
        status = FAIL if age > thresholds.max_freshness_seconds else OK
        if status == FAIL:
            detail += f" (above max_freshness_seconds {thresholds.max_freshness_seconds:g})"
        figures.append(HealthFigure(METRIC_FRESHNESS, table, age, status, detail))
    return figures
