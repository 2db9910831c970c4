"""The pipeline's health, measured now: lag, throughput, dead letters, freshness and last DAG runs.

Each check writes one set of figures to ``<keyspace>.pipeline_health`` (migration 0006), all
with the same ``checked_at``, which the dashboard reads as "the latest check":

* ``consumer_lag`` (subject ``<topic>/<partition>``): how many messages each drain group
  (``settings.consumer_group("drain", topic)``) is behind, read with :mod:`kafkapipeline.lag`
  (no consuming, no committing). ``fail`` above ``max_lag`` on a partition.
* ``rows_per_hour`` (subject the table): rows the drains wrote per hour over the last ``hours``,
  summed from ``drain_batches``. Informational (``ok``).
* ``dlq_messages`` (subject the ``.dlq`` topic): messages the dead-letter topic holds, counted by
  reading it (``read_committed``, no consumer group) when it has at most ``DLQ_COUNT_LIMIT``
  offsets. The drain writes dead letters in Kafka transactions, whose commit markers take
  offsets too, so high minus low watermark overstates the count; above the limit that offset
  span is reported instead and the detail says so. The detail also says how many offsets the
  replay group has not replayed yet. ``warn`` when not empty.
* ``freshness_seconds`` (subject the table): age of the newest row, by its event time
  (``created_at`` / ``observed_at``). Tables are clustered newest first within a (city, day)
  partition, so the newest row of a day is its partition's first row: one ``LIMIT 1`` read per
  configured city for today, and for yesterday when today has none. ``fail`` above
  ``max_freshness_seconds``. With no row today or yesterday, the value is the time since
  yesterday began (the newest row is at least that old) and the status is ``fail``, except on
  a new install: within ``max_freshness_seconds`` of the keyspace's first migration the
  status is ``warn`` ("no data yet") and the value is the time since that migration.
* ``dag_last_run`` (subject the dag_id, detail the state): the latest run, by logical date, of
  each DAG listed. Airflow 3 tasks cannot query the metadata database; the Task SDK's execution
  API answers "the run before this logical date" for any DAG (the message behind
  ``RuntimeTaskInstance.get_previous_dagrun``), which is what is used, asking for the run before
  *now*. Runs without a logical date (manual runs triggered without one) are not seen. A failed
  last run is ``warn``. Outside a task (no execution API) these figures are left out, and the
  log says so.

The health task writes the figures first, logs them as a table, and then fails (the UI shows
red) when a ``consumer_lag`` or ``freshness_seconds`` figure is ``fail``. A figure that could not
be measured (Kafka unreachable, topic missing) is written as ``fail`` with the error in detail.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kafkapipeline import settings

log = logging.getLogger(__name__)

METRIC_LAG = "consumer_lag"
METRIC_ROWS = "rows_per_hour"
METRIC_DLQ = "dlq_messages"
#: A dead-letter topic with at most this many offsets is read to count its messages exactly.
DLQ_COUNT_LIMIT = 100_000
METRIC_FRESHNESS = "freshness_seconds"
METRIC_DAG_RUN = "dag_last_run"
#: Metrics whose ``fail`` fails the health task.
FAILING_METRICS = (METRIC_LAG, METRIC_FRESHNESS)

OK = "ok"
WARN = "warn"
FAIL = "fail"

MAX_LAG_ENV = "KAFKAPIPELINE_HEALTH_MAX_LAG"
MAX_FRESHNESS_ENV = "KAFKAPIPELINE_HEALTH_MAX_FRESHNESS_SECONDS"
DAGS_ENV = "KAFKAPIPELINE_HEALTH_DAGS"
DEFAULT_MAX_LAG = 10_000
DEFAULT_MAX_FRESHNESS_SECONDS = 3_600
DEFAULT_HOURS = 1
#: DAGs whose last run is reported when neither the Param nor ``KAFKAPIPELINE_HEALTH_DAGS`` says.
DEFAULT_DAG_IDS = (
    "ingest_tweets",
    "ingest_weather",
    "drain_tweets",
    "drain_weather",
    "export_csv",
    "purge_expired",
)
KAFKA_TIMEOUT_SECONDS = 10.0
CQL_TIMEOUT_SECONDS = 30.0
MAX_DETAIL_LENGTH = 500


@dataclass(frozen=True)
class HealthFigure:
    """One row of ``pipeline_health`` (without the check's day and time)."""

    metric: str
    subject: str
    value: float
    status: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "subject": self.subject,
            "value": self.value,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class HealthThresholds:
    """Where figures turn ``fail``.

    :param max_lag: most messages a drain group may be behind on one partition
    :param max_freshness_seconds: oldest the newest row of a table may be
    """

    max_lag: int = DEFAULT_MAX_LAG
    max_freshness_seconds: float = DEFAULT_MAX_FRESHNESS_SECONDS

    def __post_init__(self) -> None:
        if isinstance(self.max_lag, bool) or not isinstance(self.max_lag, int) or self.max_lag < 0:
            raise ValueError(f"max_lag must be an integer >= 0, got {self.max_lag!r}")
        if not (isinstance(self.max_freshness_seconds, (int, float)) and self.max_freshness_seconds > 0):
            raise ValueError(f"max_freshness_seconds must be positive, got {self.max_freshness_seconds!r}")

    @classmethod
    def from_env(cls, max_lag: int | str | None = None, max_freshness_seconds: float | str | None = None):
        """Explicit values first, then ``KAFKAPIPELINE_HEALTH_MAX_LAG`` / ``..._MAX_FRESHNESS_SECONDS``."""
        lag = _first_set(max_lag, os.environ.get(MAX_LAG_ENV), DEFAULT_MAX_LAG)
        freshness = _first_set(
            max_freshness_seconds, os.environ.get(MAX_FRESHNESS_ENV), DEFAULT_MAX_FRESHNESS_SECONDS
        )
        try:
            return cls(max_lag=int(lag), max_freshness_seconds=float(freshness))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"invalid health threshold ({MAX_LAG_ENV}={lag!r}, {MAX_FRESHNESS_ENV}={freshness!r}): {err}"
            ) from err


def _first_set(*values: Any) -> Any:
    for value in values:
        if value is not None and str(value).strip() != "":
            return value
    return None


@dataclass
class HealthReport:
    """All figures of one check, taken at ``checked_at``."""

    checked_at: datetime
    thresholds: HealthThresholds
    figures: list[HealthFigure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[HealthFigure]:
        return [f for f in self.figures if f.status == FAIL and f.metric in FAILING_METRICS]

    def table(self) -> str:
        """The figures as a fixed-width table for the task log."""
        header = ("metric", "subject", "value", "status", "detail")
        rows = [header] + [
            (
                f.metric,
                f.subject,
                _format_number(f.value),
                f.status.upper() if f.status != OK else f.status,
                f.detail,
            )
            for f in self.figures
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(
                [
                    row[0].ljust(widths[0]),
                    row[1].ljust(widths[1]),
                    row[2].rjust(widths[2]),
                    row[3].ljust(widths[3]),
                    row[4],
                ]
            ).rstrip()
            for row in rows
        ]
        lines.insert(1, "-" * max(len(line) for line in lines))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "max_lag": self.thresholds.max_lag,
            "max_freshness_seconds": self.thresholds.max_freshness_seconds,
            "figures": [f.as_dict() for f in self.figures],
            "failures": [f"{f.metric} {f.subject}: {f.detail}" for f in self.failures],
            "notes": self.notes,
        }


def _format_number(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _detail(text: str) -> str:
    return text[:MAX_DETAIL_LENGTH]


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


# -- Kafka figures ------------------------------------------------------------------------------


def lag_figures(
    topics: Sequence[str], thresholds: HealthThresholds, kafka_config_id: str = settings.KAFKA_CONN_ID
) -> list[HealthFigure]:
    """``consumer_lag`` per partition of each topic, for the topic's drain group."""
    from kafkapipeline.lag import read_lag

    figures = []
    for topic in topics:
        group = settings.consumer_group("drain", topic)
        try:
            lag = read_lag(
                topic, group, kafka_config_id=kafka_config_id, with_age=True, timeout=KAFKA_TIMEOUT_SECONDS
            )
        except Exception as err:
            figures.append(
                HealthFigure(
                    METRIC_LAG,
                    topic,
                    0.0,
                    FAIL,
                    _detail(f"lag of group {group} unreadable: {_error_text(err)}"),
                )
            )
            continue
        for partition in lag.partitions:
            committed = partition.committed if partition.committed >= 0 else "nothing"
            detail = f"group {group}: committed {committed}, end {partition.high}"
            if partition.lag and partition.oldest_timestamp_ms:
                age = max(0.0, lag.measured_at - partition.oldest_timestamp_ms / 1000.0)
                detail += f", oldest pending {age:.0f}s old"
            status = FAIL if partition.lag > thresholds.max_lag else OK
            if status == FAIL:
                detail += f" (above max_lag {thresholds.max_lag})"
            figures.append(
                HealthFigure(
                    METRIC_LAG, f"{topic}/{partition.partition}", float(partition.lag), status, detail
                )
            )
    return figures


def dlq_figures(topics: Sequence[str], kafka_config_id: str = settings.KAFKA_CONN_ID) -> list[HealthFigure]:
    """``dlq_messages`` per dead-letter topic: messages held, and how many are not replayed yet."""
    from kafkapipeline.lag import read_lag

    figures = []
    for topic in topics:
        dlq = settings.dead_letter_topic(topic)
        group = settings.consumer_group("dlq-replay", topic)
        try:
            lag = read_lag(
                dlq, group, kafka_config_id=kafka_config_id, with_age=False, timeout=KAFKA_TIMEOUT_SECONDS
            )
        except Exception as err:
            figures.append(
                HealthFigure(METRIC_DLQ, dlq, 0.0, WARN, _detail(f"unreadable: {_error_text(err)}"))
            )
            continue
        span = sum(max(0, p.high - p.low) for p in lag.partitions)
        detail = f"{lag.total} offsets not replayed yet (group {group})"
        held = span
        if 0 < span <= DLQ_COUNT_LIMIT:
            try:
                held = count_messages(
                    dlq, {p.partition: (p.low, p.high) for p in lag.partitions}, kafka_config_id
                )
            except Exception as err:
                detail += f"; counted as offsets, the messages could not be read: {_error_text(err)}"
        elif span:
            detail += f"; counted as offsets (over {DLQ_COUNT_LIMIT}), transaction markers included"
        figures.append(HealthFigure(METRIC_DLQ, dlq, float(held), WARN if held else OK, detail))
    return figures


def count_messages(
    topic: str,
    ranges: dict[int, tuple[int, int]],
    kafka_config_id: str = settings.KAFKA_CONN_ID,
    timeout: float = KAFKA_TIMEOUT_SECONDS,
) -> int:
    """Committed messages in ``[low, high)`` per partition, read without a consumer group's commit.

    Transaction markers and aborted messages take offsets but are not delivered to a
    ``read_committed`` consumer, so this is the number a reader of the topic really sees.
    """
    from confluent_kafka import KafkaError, TopicPartition

    from kafkapipeline.kafka_hook import PipelineKafkaHook

    pending = {partition: (low, high) for partition, (low, high) in ranges.items() if high > low}
    if not pending:
        return 0
    consumer = PipelineKafkaHook(kafka_config_id=kafka_config_id).consumer(
        settings.consumer_group("health-count", topic)
    )
    try:
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in pending.items()])
        counted, deadline = 0, time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"partitions {sorted(pending)} of {topic} not read to their end in {timeout:.0f}s"
                )
            for message in consumer.consume(num_messages=1000, timeout=1.0):
                partition, error = message.partition(), message.error()
                if partition not in pending:
                    continue
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(error.str())
                    if message.offset() >= pending[partition][1]:
                        del pending[partition]
                    continue
                if message.offset() < pending[partition][1]:
                    counted += 1
                if message.offset() + 1 >= pending[partition][1]:
                    del pending[partition]
        return counted
    finally:
        consumer.close()


# -- Cassandra figures --------------------------------------------------------------------------

#: Tables checked for freshness: name and the event-time column that orders their partitions.
FRESHNESS_TABLES = (("tweets", "created_at"), ("weather_reports", "observed_at"))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
            moment = _utc(row[0])
            if newest is None or moment > newest[0]:
                newest = (moment, city, _utc(row[1]) if row[1] else None)
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
    return _utc(row.applied_at) if row is not None and row.applied_at is not None else None


def freshness_figures(
    session: Any, keyspace: str, cities: Sequence[str], now: datetime, thresholds: HealthThresholds
) -> list[HealthFigure]:
    """``freshness_seconds`` per table: the age of its newest row (see the module docstring)."""
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


# -- last DAG runs ------------------------------------------------------------------------------


class LastRunUnavailable(RuntimeError):
    """Not running inside an Airflow task: the execution API cannot be asked."""


def latest_dag_run(dag_id: str, now: datetime) -> Any:
    """The run of ``dag_id`` with the latest logical date before ``now`` (None when it has none).

    Asked through the Task SDK's execution API, like ``get_previous_dagrun`` does for a task's own
    DAG; only available while a task runs.
    """
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import GetPreviousDagRun, PreviousDagRunResult

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    if comms is None:
        raise LastRunUnavailable("not running inside an Airflow task")
    response = comms.send(GetPreviousDagRun(dag_id=dag_id, logical_date=now + timedelta(seconds=1)))
    if not isinstance(response, PreviousDagRunResult):
        raise LastRunUnavailable(f"unexpected answer from the execution API: {type(response).__name__}")
    return response.dag_run


def dag_last_run_figures(dag_ids: Sequence[str], now: datetime) -> tuple[list[HealthFigure], str | None]:
    """``dag_last_run`` per DAG; (figures, a note when they cannot be read at all)."""
    figures = []
    for dag_id in dag_ids:
        try:
            run = latest_dag_run(dag_id, now)
        except (LastRunUnavailable, ImportError, AttributeError) as err:
            return [], f"dag_last_run skipped: {err}"
        except Exception as err:
            figures.append(
                HealthFigure(METRIC_DAG_RUN, dag_id, 0.0, WARN, _detail(f"unreadable: {_error_text(err)}"))
            )
            continue
        if run is None:
            figures.append(HealthFigure(METRIC_DAG_RUN, dag_id, 0.0, WARN, "no run yet"))
            continue
        state = str(getattr(run.state, "value", run.state))
        started = run.start_date or run.run_after
        age = max(0.0, (now - _utc(started)).total_seconds()) if started else 0.0
        run_type = str(getattr(run.run_type, "value", run.run_type))
        detail = f"{state} ({run_type}, started {_utc(started).isoformat() if started else 'not yet'})"
        figures.append(HealthFigure(METRIC_DAG_RUN, dag_id, age, WARN if state == "failed" else OK, detail))
    return figures, None


# -- the check ----------------------------------------------------------------------------------


def topic_tables() -> dict[str, str]:
    """The drained topics (read from the environment now) and the table each one fills."""
    return {settings.tweets_topic(): "tweets", settings.weather_topic(): "weather_reports"}


def check_health(
    session: Any,
    keyspace: str,
    *,
    thresholds: HealthThresholds,
    cities: Sequence[str],
    dag_ids: Sequence[str] = (),
    hours: int = DEFAULT_HOURS,
    now: datetime | None = None,
    kafka_config_id: str = settings.KAFKA_CONN_ID,
) -> HealthReport:
    """Measure every figure; a part that cannot be measured becomes a figure saying so."""
    checked_at = _utc(now or datetime.now(UTC))
    checked_at = checked_at.replace(microsecond=checked_at.microsecond // 1000 * 1000)  # Cassandra keeps ms
    report = HealthReport(checked_at=checked_at, thresholds=thresholds)
    tables = topic_tables()
    topics = list(tables)
    report.figures.extend(lag_figures(topics, thresholds, kafka_config_id))
    report.figures.extend(dlq_figures(topics, kafka_config_id))
    for metric, measure in (
        (METRIC_ROWS, lambda: rows_per_hour_figures(session, keyspace, tables, checked_at, hours)),
        (METRIC_FRESHNESS, lambda: freshness_figures(session, keyspace, cities, checked_at, thresholds)),
    ):
        try:
            report.figures.extend(measure())
        except Exception as err:
            report.figures.append(
                HealthFigure(metric, "*", 0.0, FAIL, _detail(f"unreadable: {_error_text(err)}"))
            )
    if dag_ids:
        figures, note = dag_last_run_figures(dag_ids, checked_at)
        report.figures.extend(figures)
        if note:
            report.notes.append(note)
            log.warning("%s", note)
    return report


def write_health(session: Any, keyspace: str, report: HealthReport) -> int:
    """Insert the report's figures into ``pipeline_health``; return how many."""
    statement = session.prepare(
        f"INSERT INTO {keyspace}.pipeline_health (day, checked_at, metric, subject, value, status, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    day = report.checked_at.date()
    for figure in report.figures:
        session.execute(
            statement,
            (
                day,
                report.checked_at,
                figure.metric,
                figure.subject,
                figure.value,
                figure.status,
                figure.detail,
            ),
            timeout=CQL_TIMEOUT_SECONDS,
        )
    return len(report.figures)


def dag_ids_from(value: Iterable[str] | str | None) -> list[str]:
    """DAG ids from a Param (list), else ``KAFKAPIPELINE_HEALTH_DAGS`` (comma separated), else defaults."""
    if isinstance(value, str):
        value = value.split(",")
    ids = [str(v).strip() for v in value or [] if str(v).strip()]
    if not ids:
        ids = [v.strip() for v in os.environ.get(DAGS_ENV, "").split(",") if v.strip()]
    return list(dict.fromkeys(ids)) or list(DEFAULT_DAG_IDS)


def run_health_check(
    *,
    max_lag: int | str | None = None,
    max_freshness_seconds: float | str | None = None,
    cities: Sequence[str] | None = None,
    dag_ids: Sequence[str] | str | None = None,
    hours: int | str = DEFAULT_HOURS,
    keyspace: str | None = None,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
    now: datetime | None = None,
) -> HealthReport:
    """Measure, write the figures, log them as a table; return the report (the caller decides to fail)."""
    from kafkapipeline.cassandra_session import cassandra_session

    thresholds = HealthThresholds.from_env(max_lag, max_freshness_seconds)
    chosen_cities = [c.strip() for c in cities or [] if c and c.strip()] or settings.cities()
    keyspace = settings.keyspace(keyspace)
    with cassandra_session(cassandra_conn_id) as session:
        report = check_health(
            session,
            keyspace,
            thresholds=thresholds,
            cities=chosen_cities,
            dag_ids=dag_ids_from(dag_ids),
            hours=int(hours),
            now=now,
        )
        written = write_health(session, keyspace, report)
    log.info(
        "pipeline health at %s (%d figures written to %s.pipeline_health):\n%s",
        report.checked_at.isoformat(),
        written,
        keyspace,
        report.table(),
    )
    return report


def pipeline_health_task() -> dict[str, Any]:
    """The ``pipeline_health`` DAG's task: check, write, log, then fail if lag or freshness is over limits.

    Params (see ``dags/pipeline_health.py``): ``max_lag``, ``max_freshness_seconds``, ``cities``,
    ``dag_ids``, ``hours``; unset thresholds come from the environment.
    """
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    params = get_current_context()["params"]
    report = run_health_check(
        max_lag=params.get("max_lag"),
        max_freshness_seconds=params.get("max_freshness_seconds"),
        cities=params.get("cities"),
        dag_ids=params.get("dag_ids"),
        hours=int(params.get("hours") or DEFAULT_HOURS),
    )
    if report.failures:
        raise AirflowFailException(
            "pipeline unhealthy (figures written to pipeline_health): "
            + "; ".join(
                f"{f.metric} {f.subject} = {_format_number(f.value)}: {f.detail}" for f in report.failures
            )
        )
    return report.as_dict()
