"""The check itself: measure every figure, write them to ``pipeline_health``, and the DAG's task."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import write_consistency
from kafkapipeline.health.cassandra_figures import freshness_figures, rows_per_hour_figures
from kafkapipeline.health.cluster_figures import cassandra_node_figures, kafka_cluster_figures
from kafkapipeline.health.dag_runs import dag_last_run_figures
from kafkapipeline.health.kafka_figures import dlq_figures, lag_figures
from kafkapipeline.health.report import (
    CQL_TIMEOUT_SECONDS,
    DEFAULT_DAG_IDS,
    DEFAULT_HOURS,
    FAIL,
    METRIC_DOWN_NODES,
    METRIC_FRESHNESS,
    METRIC_ROWS,
    OK,
    WARN,
    HealthFigure,
    HealthReport,
    HealthThresholds,
    detail_text,
    error_text,
    format_number,
)
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.metrics.names import HEALTH_STATUS, HEALTH_VALUE
from kafkapipeline.metrics.statsd import emitting
from kafkapipeline.streams.registry import topic_tables
from kafkapipeline.times import utc

log = logging.getLogger(__name__)


def check_health(
    session: Any,
    keyspace: str,
    *,
    thresholds: HealthThresholds,
    cities: Sequence[str],
    dag_ids: Sequence[str] = (),
    hours: int = DEFAULT_HOURS,
    now: datetime | None = None,
    kafka_config_id: str = KafkaRole.HEALTH.conn_id,
) -> HealthReport:
    """Measure every figure; a part that cannot be measured becomes a figure saying so."""
    checked_at = utc(now or datetime.now(UTC))
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
                HealthFigure(metric, "*", 0.0, FAIL, detail_text(f"unreadable: {error_text(err)}"))
            )
    report.figures.extend(cluster_figures(session, topics, thresholds, kafka_config_id))
    if dag_ids:
        figures, note = dag_last_run_figures(dag_ids, checked_at, hours=hours)
        report.figures.extend(figures)
        if note:
            report.notes.append(note)
            log.warning("%s", note)
    return report


def cluster_figures(
    session: Any, topics: Sequence[str], thresholds: HealthThresholds, kafka_config_id: str
) -> list[HealthFigure]:
    """Replication and membership of both clusters: the drained topics, their dead-letter topics
    and Kafka's internal ones, the brokers, the Cassandra nodes."""
    checked = [name for topic in topics for name in (topic, settings.dead_letter_topic(topic))]
    figures = kafka_cluster_figures(checked, thresholds, kafka_config_id)
    try:
        figures.extend(cassandra_node_figures(session, thresholds))
    except Exception as err:
        figures.append(
            HealthFigure(
                METRIC_DOWN_NODES, "cassandra", 0.0, FAIL, detail_text(f"unreadable: {error_text(err)}")
            )
        )
    return figures


def write_health(session: Any, keyspace: str, report: HealthReport) -> int:
    """Insert the report's figures into ``pipeline_health``; return how many."""
    statement = session.prepare(
        f"INSERT INTO {keyspace}.pipeline_health (day, checked_at, metric, subject, value, status, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    statement.consistency_level = write_consistency()
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


#: A figure's status as the number ``kafkapipeline_health_status`` holds.
STATUS_LEVELS = {OK: 0, WARN: 1, FAIL: 2}


def report_figures(report: HealthReport) -> None:
    """Send every figure's value and status to StatsD (one datagram or a few a check)."""
    with emitting() as out:
        for figure in report.figures:
            tags = {"metric": figure.metric, "subject": figure.subject}
            out.gauge(HEALTH_VALUE, figure.value, **tags)
            out.gauge(HEALTH_STATUS, STATUS_LEVELS.get(figure.status, 2), **tags)


def dag_ids_from(value: Iterable[str] | str | None) -> list[str]:
    """DAG ids from a Param (list), else ``KAFKAPIPELINE_HEALTH_DAGS`` (comma separated), else defaults."""
    if isinstance(value, str):
        value = value.split(",")
    ids = [str(v).strip() for v in value or [] if str(v).strip()]
    if not ids:
        ids = list(settings.current().health_dags)
    return list(dict.fromkeys(ids)) or list(DEFAULT_DAG_IDS)


def run_health_check(
    *,
    max_lag: int | str | None = None,
    max_freshness_seconds: float | str | None = None,
    cluster: dict[str, int | str | None] | None = None,
    cities: Sequence[str] | None = None,
    dag_ids: Sequence[str] | str | None = None,
    hours: int | str = DEFAULT_HOURS,
    keyspace: str | None = None,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
    now: datetime | None = None,
) -> HealthReport:
    """Measure, write the figures, log them as a table; return the report (the caller decides to fail).

    ``cluster`` holds the other :class:`HealthThresholds` fields by name (``max_offline_brokers``,
    ``expected_brokers``...); unset ones come from the environment.
    """
    from kafkapipeline.cassandra.session import cassandra_session

    thresholds = HealthThresholds.from_env(max_lag, max_freshness_seconds, **(cluster or {}))
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
    report_figures(report)
    log.info(
        "pipeline health at %s (%d figures written to %s.pipeline_health):\n%s",
        report.checked_at.isoformat(),
        written,
        keyspace,
        report.table(),
    )
    return report


def pipeline_health_task(
    *,
    max_lag: int | None,
    max_freshness_seconds: float | None,
    cities: list[str],
    dag_ids: list[str],
    hours: int,
    max_under_replicated_partitions: int | None,
    max_offline_brokers: int | None,
    max_down_cassandra_nodes: int | None,
    expected_brokers: int | None,
    expected_cassandra_nodes: int | None,
) -> dict[str, Any]:
    """The ``pipeline_health`` DAG's task: check, write, log, then fail if lag, freshness or the
    clusters' replication and membership are over limits.

    The Params of ``dags/pipeline_health.py`` arrive rendered as native values; a ``None``
    threshold, or an empty ``cities`` / ``dag_ids``, comes from the environment, else the default.
    """
    from airflow.sdk.exceptions import AirflowFailException

    report = run_health_check(
        max_lag=max_lag,
        max_freshness_seconds=max_freshness_seconds,
        cluster={
            "max_under_replicated_partitions": max_under_replicated_partitions,
            "max_offline_brokers": max_offline_brokers,
            "max_down_cassandra_nodes": max_down_cassandra_nodes,
            "expected_brokers": expected_brokers,
            "expected_cassandra_nodes": expected_cassandra_nodes,
        },
        cities=cities,
        dag_ids=dag_ids,
        hours=hours,
    )
    if report.failures:
        raise AirflowFailException(
            "pipeline unhealthy (figures written to pipeline_health): "
            + "; ".join(
                f"{f.metric} {f.subject} = {format_number(f.value)}: {f.detail}" for f in report.failures
            )
        )
    return report.as_dict()
