"""Re-score stored tweets with a sentiment model, one (city, day) partition at a time.

So that a better model applies to stored tweets too. Pages are scored in one batch and only the sentiment
columns are upserted (idempotent); rows already scored by the same model and version are skipped unless
``force``, so a re-run continues where an interrupted one stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import Field, validate_call

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import write_consistency
from kafkapipeline.cassandra.writer import ConcurrentRowWriter
from kafkapipeline.metrics.names import SCORED_ROWS
from kafkapipeline.metrics.statsd import emitting
from kafkapipeline.sentiment.scorers import Scorer, scorer
from kafkapipeline.streams.tweets import TWEETS_TABLE

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 1_000
MAX_PAGE_SIZE = 10_000
#: Most days one run may cover: a wider range is a mistake more often than an intent.
MAX_DAYS = 3_660
READ_TIMEOUT_SECONDS = 60.0

TABLE = TWEETS_TABLE
KEY = TABLE.key
#: The columns a re-score writes: the row's key and its sentiment.
SENTIMENT_COLUMNS = TABLE.spec(
    (*KEY, "sentiment_score", "sentiment_label", "sentiment_model", "sentiment_model_version")
)


@dataclass
class RescoreSummary:
    """What a run did; returned to XCom (counts and names only, never tweet text)."""

    model: str
    model_version: str
    days: list[str] = field(default_factory=list)
    cities: list[str] = field(default_factory=list)
    partitions: int = 0
    rows_read: int = 0
    rows_rescored: int = 0
    rows_skipped: int = 0
    labels: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    if end < start:
        raise ValueError(f"end day {end} is before start day {start}")
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"{count} days requested; at most {MAX_DAYS} per run (split the range)")
    return [start + timedelta(days=n) for n in range(count)]


def _pages(rows: Any, size: int) -> Iterator[list[Any]]:
    page: list[Any] = []
    for row in rows:
        page.append(row)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def rescore_partition(
    session: Any,
    keyspace: str,
    model: Scorer,
    partition: tuple[str, date],
    summary: RescoreSummary,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    force: bool = False,
) -> None:
    """Re-score one (city, day) partition; raises if any write failed (a re-run redoes the rest)."""
    select = session.prepare(
        f"SELECT {', '.join(KEY)}, text, sentiment_model, sentiment_model_version "
        f"FROM {keyspace}.{TABLE.name} WHERE city = ? AND day = ?"
    )
    city, day = partition
    bound = select.bind(partition)
    bound.fetch_size = page_size  # the driver fetches the next page only when iteration needs it
    writer = ConcurrentRowWriter(session, keyspace, SENTIMENT_COLUMNS, consistency_level=write_consistency())
    key_width = len(KEY)
    summary.partitions += 1
    for page in _pages(session.execute(bound, timeout=READ_TIMEOUT_SECONDS), page_size):
        summary.rows_read += len(page)
        todo = [
            row
            for row in page
            if force or (row.sentiment_model, row.sentiment_model_version) != (model.name, model.version)
        ]
        summary.rows_skipped += len(page) - len(todo)
        if not todo:
            continue
        scores = model.score_batch([row.text or "" for row in todo])
        rows = []
        for row, sentiment in zip(todo, scores, strict=True):
            rows.append((*row[:key_width], sentiment.score, sentiment.label, model.name, model.version))
            summary.labels[sentiment.label] = summary.labels.get(sentiment.label, 0) + 1
        writer.write(rows)
    outcome = writer.flush()
    if not outcome.ok:
        raise RuntimeError(
            f"re-scoring {keyspace}.tweets ({city}, {day}) failed for {outcome.describe_failure()}; "
            "run it again: rows already re-scored are skipped"
        )
    summary.rows_rescored += outcome.rows_written


@validate_call
def rescore_tweets(
    start_day: date,
    end_day: date,
    *,
    cities: Sequence[str] | None = None,
    model: str | None = None,
    force: bool = False,
    page_size: Annotated[int, Field(strict=True, ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    keyspace: str | None = None,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
) -> RescoreSummary:
    """Re-score the tweets of ``cities`` (default: the configured ones) from ``start_day`` to ``end_day``."""
    from kafkapipeline.cassandra.session import cassandra_session

    days = days_between(start_day, end_day)
    chosen = [c.strip() for c in cities or [] if c and c.strip()] or settings.cities()
    keyspace = settings.keyspace(keyspace)
    chosen_model = scorer(model) if model else scorer()
    summary = RescoreSummary(
        model=chosen_model.name,
        model_version=chosen_model.version,
        days=[d.isoformat() for d in days],
        cities=chosen,
    )
    with cassandra_session(cassandra_conn_id) as session:
        for day in days:
            for city in chosen:
                rescore_partition(
                    session, keyspace, chosen_model, (city, day), summary, page_size=page_size, force=force
                )
    with emitting() as out:
        out.count(SCORED_ROWS, summary.rows_rescored, model=summary.model, version=summary.model_version)
    log.info(
        "re-scored %d of %d tweets with %s %s (%d skipped: already scored by it) in %d partitions",
        summary.rows_rescored,
        summary.rows_read,
        summary.model,
        summary.model_version,
        summary.rows_skipped,
        summary.partitions,
    )
    return summary


DEFAULT_DAYS = 7


def rescore_tweets_task(
    *, start_day: str | None, end_day: str | None, city: str | None, model: str, force: bool, page_size: int
) -> dict[str, Any]:
    """The ``rescore_tweets`` DAG's task (Params rendered as native values).

    No end day: today (UTC); no start day: ``DEFAULT_DAYS`` days up to the end day.
    """
    from datetime import UTC, datetime

    end = date.fromisoformat(end_day) if end_day else datetime.now(UTC).date()
    start = date.fromisoformat(start_day) if start_day else end - timedelta(days=DEFAULT_DAYS - 1)
    return rescore_tweets(
        start,
        end,
        cities=[city] if city else None,
        model=model,
        force=force,
        page_size=page_size,
    ).to_dict()
