"""The interface every source implements, and the errors sources raise.

A source turns one interval ``[start, end)`` into records, one *page* at a time. A page
is what one upstream response (one API page, one city) produced: the ingest task sends
each page to Kafka as soon as it has it, so a failure half-way through a run never
loses or repeats a page that was already fetched and produced.
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from kafkapipeline.streams.tweets import TweetRecord
from kafkapipeline.streams.weather import WeatherRecord
from kafkapipeline.times import utc

Record = TypeVar("Record", TweetRecord, WeatherRecord)


class SourceError(RuntimeError):
    """A source could not deliver the interval's records; the message says why and what to do."""


class SourceUnavailable(SourceError):
    """The upstream API kept failing (5xx, timeouts, rate limits) after the allowed retries.

    Airflow's task retries are the next line of defence: nothing of the failed page was
    produced, so a retry fetches it again.
    """


class SourceRequestRejected(SourceError):
    """The upstream API refused the request itself (bad query, unknown city): retrying cannot help."""


class MalformedResponse(SourceError):
    """A response that should have carried data had nothing usable in it."""


def as_utc(moment: datetime) -> datetime:
    """A plain ``datetime`` in UTC (pendulum values from the Airflow context included)."""
    moment = utc(moment)
    return datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=UTC,
    )


@dataclass(frozen=True)
class Interval:
    """The half-open time range ``[start, end)`` one run covers, in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        if self.start >= self.end:
            raise ValueError(f"interval start {self.start} must be before its end {self.end}")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def contains(self, moment: datetime) -> bool:
        return self.start <= as_utc(moment) < self.end

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass(frozen=True)
class SkippedItem:
    """An upstream item that could not become a record, and why (logged and counted)."""

    reason: str
    item_id: str | None = None


@dataclass
class SourcePage(Generic[Record]):
    """The records one upstream response produced, plus what had to be skipped from it.

    :param label: what the page is, for logs (``"page 2"``, ``"Vancouver"``)
    :param failure: set when the response should have had data but nothing usable came
        back; the ingest task produces the other pages, then fails naming it
    :param warnings: things worth a line in the log and the task's XCom (page cap
        reached, partial errors the API reported)
    """

    label: str
    records: list[Record] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    failure: str | None = None
    warnings: list[str] = field(default_factory=list)


class RecordSource(ABC, Generic[Record]):
    """Something that yields the records of an interval, page by page.

    :param name: short name reported in logs and in the task's XCom (``"replay"``, ``"x_api"``)
    """

    name: str = "unknown"

    @abstractmethod
    def pages(self, interval: Interval) -> Iterator[SourcePage[Record]]:
        """Yield the interval's records one upstream response at a time."""

    def records(self, interval: Interval) -> list[Record]:
        """All of the interval's records (convenience for tests and small intervals)."""
        return [record for page in self.pages(interval) for record in page.records]

    def describe(self) -> str:
        """One line for the task log saying what this source is (never a secret)."""
        return self.name

    def title(self) -> str:
        """What the selection's reason calls this source (``"the X API"``, ``"Mastodon mastodon.social"``)."""
        return self.name

    def run_report(self) -> dict[str, Any]:
        """What the last :meth:`pages` run saw beyond the records, merged into the task's XCom."""
        return {}


def seeded_random(*parts: object) -> random.Random:
    """A ``random.Random`` whose sequence depends only on ``parts``.

    ``hash()`` is salted per process, so the seed comes from SHA-256 of the parts instead:
    the same parts give the same numbers in every process, on every machine.
    """
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def stable_int(*parts: object, bits: int = 32) -> int:
    """A deterministic non-negative integer of ``bits`` bits derived from ``parts``."""
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - bits)
