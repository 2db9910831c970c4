"""What one dashboard request may cost: its time range, its hour slices and the rows it may read.

Every bound is a named constant here, so the API, its OpenAPI and the page state the same limits. A range
outside them is an ``InvalidTimeRange`` (a 422), never an overflow deep in a query; each hour gets an even
share of ``MAX_ROWS[table]``, so a request holds about that many rows at most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kafkapipeline.streams.tweets import TWEETS_TABLE
from kafkapipeline.streams.weather import WEATHER_TABLE
from kafkapipeline.times import utc

HOUR = timedelta(hours=1)
DEFAULT_RANGE = timedelta(hours=24)
#: The widest range a request may ask for: 14 days, i.e. at most 337 hour slices per table.
MAX_RANGE_DAYS = 14
MAX_RANGE = timedelta(days=MAX_RANGE_DAYS)
#: The earliest and latest instants a range may touch (UTC). Nothing the pipeline stores lies
#: outside, and keeping to them means no date arithmetic on the range can overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
#: The drain's log of micro-batches (no stream's table: the drain writes it, the dashboard reads it).
DRAIN_BATCHES_TABLE = "drain_batches"
#: Rows one request may read per table, spread evenly over its hours; every stream's table has one
#: (tests/unit/dashboard/test_dashboard_aggregation.py checks).
MAX_ROWS = {TWEETS_TABLE.name: 50_000, WEATHER_TABLE.name: 20_000, DRAIN_BATCHES_TABLE: 20_000}
#: Rows of the latest pipeline_health check read at most (one per metric and subject).
MAX_HEALTH_ROWS = 2_000
#: Cities the page offers at most (from KAFKAPIPELINE_DASHBOARD_CITIES), and a city name's length.
MAX_CITIES = 50
MAX_CITY_LENGTH = 100


class InvalidTimeRange(ValueError):
    """The requested start/end cannot be shown; the message says how to fix the request."""


def floor_hour(moment: datetime) -> datetime:
    return utc(moment).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class HourSlice:
    """The part of a range inside one UTC hour: the clustering bounds of one bounded read."""

    hour: datetime
    day: date
    start: datetime
    end: datetime


@dataclass(frozen=True)
class TimeRange:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime

    def days(self) -> list[date]:
        """The UTC days (Cassandra day partitions) the range touches, oldest first."""
        first = self.start.date()
        last = (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]

    def hours(self) -> list[datetime]:
        """Start of every UTC hour the range touches, oldest first."""
        hours = []
        hour = floor_hour(self.start)
        while hour < self.end:
            hours.append(hour)
            hour += HOUR
        return hours

    def hour_slices(self) -> list[HourSlice]:
        """One slice per UTC hour, clipped to the range; an hour never crosses a day partition."""
        return [
            HourSlice(hour, hour.date(), max(self.start, hour), min(self.end, hour + HOUR))
            for hour in self.hours()
        ]

    def contains(self, moment: datetime) -> bool:
        return self.start <= utc(moment) < self.end


def _checked(name: str, moment: datetime) -> datetime:
    """``moment`` in UTC, or InvalidTimeRange when it lies outside [EARLIEST, LATEST]."""
    problem = f"{name} must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"
    try:
        moment = utc(moment)
    except OverflowError as err:  # e.g. 0001-01-01T00:00+14:00 has no UTC equivalent
        raise InvalidTimeRange(f"{problem}, not {moment.isoformat()}") from err
    if not EARLIEST <= moment <= LATEST:
        raise InvalidTimeRange(f"{problem}, not {moment.isoformat()}")
    return moment


def resolve_time_range(
    start: datetime | None,
    end: datetime | None,
    *,
    now: datetime,
    default: timedelta = DEFAULT_RANGE,
    maximum: timedelta = MAX_RANGE,
) -> TimeRange:
    """The range a request asks for: ``end`` defaults to now, ``start`` to ``default`` before end."""
    end = _checked("end", end) if end is not None else utc(now)
    start = _checked("start", start) if start is not None else max(EARLIEST, end - default)
    if start >= end:
        raise InvalidTimeRange(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
    if end - start > maximum:
        raise InvalidTimeRange(
            f"the range {start.isoformat()} .. {end.isoformat()} spans {describe_span(end - start)}; "
            f"at most {describe_span(maximum)} can be shown at once, narrow start/end"
        )
    return TimeRange(start, end)


def describe_span(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours < 48:
        return f"{hours:g} hours"
    return f"{hours / 24:g} days"


def rows_per_hour(table: str, hours: int) -> int:
    """The LIMIT of each hour slice of ``table`` when a request reads ``hours`` slices."""
    return max(1, MAX_ROWS[table] // max(1, hours))


@dataclass
class CappedRows:
    """The rows of a capped read, with the hours whose slice hit the limit.

    ``capped`` maps such an hour to the rows stored in it (Cassandra's ``count(*)``), or None
    when they were not counted. ``limit`` is the per-hour LIMIT used (None: not capped).
    """

    rows: Sequence[Any]
    limit: int | None = None
    capped: dict[datetime, int | None] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return bool(self.capped)
