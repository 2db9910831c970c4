"""The ingest tasks: fetch one data interval from a source and produce it to Kafka.

``dags/ingest_tweets.py`` and ``dags/ingest_weather.py`` wrap :func:`ingest_tweets_task`
and :func:`ingest_weather_task`. What a run covers is its data interval
``[data_interval_start, data_interval_end)``: the DAGs use ``CronDataIntervalTimetable``,
so a scheduled run, a backfill run and a manual run (Airflow infers the last complete
period before the trigger) all have a real interval. A zero-length interval (e.g. a run
created with an explicit interval of nothing) covers the last schedule period ending at
the run's end / logical date instead.

Pages are produced as soon as they are fetched and flushed before the next fetch, so a
delivery failure stops the run before more API quota is spent, and a page is never
produced twice within a run. The task's return value (XCom) says which source was used
and why, and how many records were produced and skipped, so the UI shows it.

Every value is checked before it is produced with the decode a drain uses
(:func:`~kafkapipeline.streams.base.decode_record`): an item that cannot be encoded, or that a
drain would refuse (a lone surrogate, a count beyond Cassandra's ``int``, a 70,000-character
city), is skipped with its reason like an item the source could not read, never produced,
and never a failed interval.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kafkapipeline import settings
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.metrics.names import INGEST_RECORDS_PRODUCED
from kafkapipeline.metrics.statsd import emitting
from kafkapipeline.params.limits import check_city, check_city_spec
from kafkapipeline.sources.base import Interval, MalformedResponse, SkippedItem, as_utc
from kafkapipeline.sources.selection import (
    SourceChoice,
    TweetOptions,
    resolve_tweet_source,
    resolve_weather_source,
)
from kafkapipeline.streams.base import InvalidRecord, decode_record, shown
from kafkapipeline.streams.tweets import TWEETS, TweetRecord
from kafkapipeline.streams.weather import WEATHER, WeatherRecord

if TYPE_CHECKING:
    from kafkapipeline.kafka.hook import PipelineKafkaHook

log = logging.getLogger(__name__)

TWEETS_SCHEDULE_ENV = settings.env_name("tweets_schedule")
WEATHER_SCHEDULE_ENV = settings.env_name("weather_schedule")
REPLAY_RATE_ENV = settings.env_name("replay_tweets_per_10_minutes")
DEFAULT_SCHEDULE = settings.DEFAULT_SCHEDULE
#: Period covered by a zero-length run when the schedule's own period cannot be worked out.
FALLBACK_PERIOD = timedelta(minutes=10)
#: How many skip reasons the XCom carries (all of them are in the log).
XCOM_REASONS = 5

__all__ = [
    "DEFAULT_SCHEDULE",
    "ingest",
    "ingest_tweets_task",
    "ingest_weather_task",
    "interval_for_run",
    "schedule_from_env",
]


def schedule_from_env(env_var: str, default: str = DEFAULT_SCHEDULE) -> str:
    """The cron expression in ``env_var`` (read at DAG parse time, no DB access), else ``default``."""
    field = env_var.removeprefix(settings.ENV_PREFIX).lower()
    return getattr(settings.current(), field) if settings.is_set(field) else default


def replay_rate_from_env() -> int:
    """Default of the ``replay_tweets_per_10_minutes`` Param (read at parse time).

    ``KAFKAPIPELINE_REPLAY_TWEETS_PER_10_MINUTES`` when set, else the setting's default.
    """
    return settings.current().replay_tweets_per_10_minutes


@dataclass(frozen=True)
class EncodedRecord:
    """A record's Kafka key and JSON value, encoded once and checked (what the producer sends)."""

    key: bytes
    value: bytes

    def to_json(self) -> bytes:
        return self.value


def checked_values(
    records: Iterable[TweetRecord | WeatherRecord],
) -> tuple[list[EncodedRecord], list[SkippedItem]]:
    """Encode each record and decode it back as a drain would: what passes, and what is skipped and why."""
    passed: list[EncodedRecord] = []
    skipped: list[SkippedItem] = []
    for record in records:
        try:
            value = record.to_json()  # UnicodeEncodeError: a lone surrogate in some text
            decode_record(type(record), value)
            passed.append(EncodedRecord(record.key, value))
        except (InvalidRecord, ValueError, TypeError, OverflowError) as err:
            reason = str(err) if isinstance(err, InvalidRecord) else f"{type(err).__name__}: {err}"
            item_id = shown(getattr(record, "tweet_id", None) or getattr(record, "city", None))
            skipped.append(SkippedItem(f"would be dead-lettered by the drain: {reason}", item_id))
    return passed, skipped


def _cron_expression(timetable: Any) -> str | None:
    """The cron expression of a cron timetable (the Task SDK's public ``expression``), else None."""
    expression = getattr(timetable, "expression", None)
    return expression if isinstance(expression, str) else None


def schedule_period(timetable: Any, end: datetime) -> timedelta:
    """The length of the schedule period ending at ``end`` (from the cron expression)."""
    expression = _cron_expression(timetable)
    if expression is None:
        return FALLBACK_PERIOD
    from croniter import croniter

    previous = croniter(expression, end).get_prev(datetime)
    following = croniter(expression, previous).get_next(datetime)
    return following - previous


def last_tick(timetable: Any, moment: datetime) -> datetime:
    """The latest schedule tick at or before ``moment`` (``moment`` itself without a cron)."""
    expression = _cron_expression(timetable)
    if expression is None:
        return moment
    from croniter import croniter

    return as_utc(croniter(expression, moment + timedelta(seconds=1)).get_prev(datetime))


def interval_for_run(
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    logical_date: datetime | None = None,
    timetable: Any = None,
    run_after: datetime | None = None,
) -> Interval:
    """What a run covers.

    Its data interval when it has a real one. A zero-length interval covers the schedule
    period ending at its end (or at the logical date). A run with neither (a manual run
    triggered without a logical date) covers the last complete period before ``run_after``,
    as ``CronDataIntervalTimetable`` does for manual runs.
    """
    if (
        data_interval_start is not None
        and data_interval_end is not None
        and as_utc(data_interval_start) < as_utc(data_interval_end)
    ):
        return Interval(data_interval_start, data_interval_end)
    anchor = data_interval_end or logical_date
    if anchor is not None:
        end = as_utc(anchor)
    else:
        end = last_tick(timetable, as_utc(run_after) if run_after else datetime.now(UTC))
    return Interval(end - schedule_period(timetable, end), end)


def ingest(
    choice: SourceChoice[Any],
    interval: Interval,
    topic: str,
    hook: PipelineKafkaHook | None = None,
) -> dict[str, Any]:
    """Produce the interval's records from ``choice.source`` to ``topic``; return the XCom summary.

    Raises :class:`~kafkapipeline.errors.ConfigurationError` before fetching anything when the
    topic does not exist (the bootstrap DAG creates it).

    Raises :class:`~kafkapipeline.kafka.produce.DeliveryFailed` when Kafka did not acknowledge
    a record, and :class:`~kafkapipeline.sources.base.MalformedResponse` (after producing
    everything usable) when a response that should have had data had nothing usable.
    """
    from kafkapipeline.kafka.hook import PipelineKafkaHook
    from kafkapipeline.kafka.produce import TopicProducer
    from kafkapipeline.kafka.topics import require_topic

    hook = hook or PipelineKafkaHook(KafkaRole.INGEST.conn_id)
    require_topic(hook.admin(), topic)
    source = choice.source
    log.info(
        "covering %s with %s (%s); producing to topic %s", interval, source.describe(), choice.reason, topic
    )
    pages = produced = skipped = 0
    skip_reasons: list[str] = []
    warnings: list[str] = []
    failures: list[str] = []
    with TopicProducer(hook.producer(), topic) as producer:
        for page in source.pages(interval):
            pages += 1
            values, refused = checked_values(page.records)
            producer.send(values)
            producer.confirm()  # a delivery failure stops the run here, before the next fetch
            produced += len(values)
            skipped += len(page.skipped) + len(refused)
            for item in [*page.skipped, *refused]:
                log.warning("%s: skipped item %s: %s", page.label, item.item_id, item.reason)
                if len(skip_reasons) < XCOM_REASONS:
                    skip_reasons.append(f"{item.item_id}: {item.reason}")
            for warning in page.warnings:
                log.warning("%s", warning)
            warnings.extend(page.warnings)
            if page.failure:
                log.error("%s", page.failure)
                failures.append(page.failure)
            page_skipped = len(page.skipped) + len(refused)
            log.info("%s: produced %d records, skipped %d", page.label, len(values), page_skipped)
    with emitting() as out:
        out.count(INGEST_RECORDS_PRODUCED, produced, topic=topic, source=source.name)
    summary = {
        "source": source.name,
        "source_reason": choice.reason,
        "topic": topic,
        "interval_start": interval.start.isoformat(),
        "interval_end": interval.end.isoformat(),
        "pages": pages,
        "produced": produced,
        "skipped": skipped,
        "skip_reasons": skip_reasons,
        "warnings": warnings[:XCOM_REASONS],
    }
    log.info(
        "done: %d records from %s produced to %s (%d pages, %d skipped)",
        produced,
        source.name,
        topic,
        pages,
        skipped,
    )
    if failures:
        raise MalformedResponse(
            f"{len(failures)} response(s) had data but nothing usable: {'; '.join(failures)}. "
            f"{produced} records from the other responses were produced."
        )
    return summary


def _run_interval(
    data_interval_start: datetime | None, data_interval_end: datetime | None, dag: Any, dag_run: Any
) -> Interval:
    """:func:`interval_for_run` of the task's run: its interval, else its logical date or ``run_after``."""
    return interval_for_run(
        data_interval_start,
        data_interval_end,
        getattr(dag_run, "logical_date", None),
        getattr(dag, "timetable", None),
        getattr(dag_run, "run_after", None),
    )


def ingest_tweets_task(
    *,
    source: str,
    query: str,
    city: str,
    max_pages: int,
    max_results: int,
    replay_tweets_per_10_minutes: int,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    dag: Any = None,
    dag_run: Any = None,
) -> dict[str, Any]:
    """Task: produce the run's interval of tweets to the tweets topic.

    The Params of ``dags/ingest_tweets.py`` arrive rendered as native values
    (:mod:`kafkapipeline.params.rendering`); Airflow passes the run's interval, DAG and DAG run by
    name (TaskFlow's context keyword arguments).
    """
    interval = _run_interval(data_interval_start, data_interval_end, dag, dag_run)
    options = TweetOptions(query, check_city(city), max_pages, max_results, replay_tweets_per_10_minutes)
    choice = resolve_tweet_source(source, options)
    result = ingest(choice, interval, TWEETS.topic())
    result.update(choice.source.run_report())
    return result


def ingest_weather_task(
    *,
    source: str,
    cities: list[str],
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    dag: Any = None,
    dag_run: Any = None,
) -> dict[str, Any]:
    """Task: produce the run's interval of weather to the weather topic.

    The Params of ``dags/ingest_weather.py`` arrive rendered as native values; the interval as
    for :func:`ingest_tweets_task`.
    """
    interval = _run_interval(data_interval_start, data_interval_end, dag, dag_run)
    specs = [check_city_spec(city) for city in cities]
    choice = resolve_weather_source(source, cities=specs, interval=interval)
    result = ingest(choice, interval, WEATHER.topic())
    result["cities"] = specs
    return result
