"""The health check's vocabulary: metric names, statuses, thresholds, one figure and the report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from kafkapipeline import settings

METRIC_LAG = "consumer_lag"
METRIC_ROWS = "rows_per_hour"
METRIC_DLQ = "dlq_messages"
#: A dead-letter topic with at most this many offsets is read to count its messages exactly.
DLQ_COUNT_LIMIT = 100_000
METRIC_FRESHNESS = "freshness_seconds"
METRIC_DAG_RUN = "dag_last_run"
METRIC_UNDER_REPLICATED = "under_replicated_partitions"
METRIC_LEADERLESS = "leaderless_partitions"
METRIC_OFFLINE_BROKERS = "offline_brokers"
METRIC_DOWN_NODES = "down_cassandra_nodes"
#: The figures every install has (the dashboard gives each its own panel).
PIPELINE_METRICS = (METRIC_LAG, METRIC_ROWS, METRIC_DLQ, METRIC_FRESHNESS, METRIC_DAG_RUN)
#: Replication figures: what a cluster adds (on one node they are all zero).
CLUSTER_METRICS = (METRIC_UNDER_REPLICATED, METRIC_LEADERLESS, METRIC_OFFLINE_BROKERS, METRIC_DOWN_NODES)
#: Metrics whose ``fail`` fails the health task.
FAILING_METRICS = (METRIC_LAG, METRIC_FRESHNESS, *CLUSTER_METRICS)

OK = "ok"
WARN = "warn"
FAIL = "fail"

MAX_LAG_ENV = "KAFKAPIPELINE_HEALTH_MAX_LAG"
MAX_FRESHNESS_ENV = "KAFKAPIPELINE_HEALTH_MAX_FRESHNESS_SECONDS"
MAX_UNDER_REPLICATED_ENV = "KAFKAPIPELINE_HEALTH_MAX_UNDER_REPLICATED_PARTITIONS"
MAX_OFFLINE_BROKERS_ENV = "KAFKAPIPELINE_HEALTH_MAX_OFFLINE_BROKERS"
MAX_DOWN_NODES_ENV = "KAFKAPIPELINE_HEALTH_MAX_DOWN_CASSANDRA_NODES"
EXPECTED_BROKERS_ENV = "KAFKAPIPELINE_EXPECTED_BROKERS"
EXPECTED_NODES_ENV = "KAFKAPIPELINE_EXPECTED_CASSANDRA_NODES"
DAGS_ENV = "KAFKAPIPELINE_HEALTH_DAGS"
DEFAULT_MAX_LAG: int = settings.PipelineSettings.model_fields["health_max_lag"].default
DEFAULT_MAX_FRESHNESS_SECONDS: int = settings.PipelineSettings.model_fields[
    "health_max_freshness_seconds"
].default
DEFAULT_HOURS = 1
#: DAGs whose last run is reported when neither the Param nor ``KAFKAPIPELINE_HEALTH_DAGS`` says.
DEFAULT_DAG_IDS = settings.DEFAULT_HEALTH_DAGS
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


#: The count thresholds and expected cluster sizes: field name -> environment variable.
_COUNT_SETTINGS = {
    "max_under_replicated_partitions": MAX_UNDER_REPLICATED_ENV,
    "max_offline_brokers": MAX_OFFLINE_BROKERS_ENV,
    "max_down_cassandra_nodes": MAX_DOWN_NODES_ENV,
    "expected_brokers": EXPECTED_BROKERS_ENV,
    "expected_cassandra_nodes": EXPECTED_NODES_ENV,
}


#: A count that may not be negative, and never a bool.
_Count = Annotated[int, Field(strict=True, ge=0)]
#: A cluster size to expect: at least one member, or None for what the cluster reports.
_Size = Annotated[int, Field(strict=True, ge=1)] | None


@pydantic_dataclass(frozen=True)
class HealthThresholds:
    """Where figures turn ``fail``.

    :param max_lag: most messages a drain group may be behind on one partition
    :param max_freshness_seconds: oldest the newest row of a table may be
    :param max_under_replicated_partitions: most partitions of one topic with fewer in-sync
        replicas than replicas
    :param max_offline_brokers: most Kafka brokers that may be missing
    :param max_down_cassandra_nodes: most Cassandra nodes that may be down
    :param expected_brokers: brokers the cluster should have; None: those in the metadata
    :param expected_cassandra_nodes: nodes the cluster should have; None: those the driver knows
    """

    max_lag: _Count = DEFAULT_MAX_LAG
    max_freshness_seconds: Annotated[float, Field(strict=True, gt=0)] = DEFAULT_MAX_FRESHNESS_SECONDS
    max_under_replicated_partitions: _Count = 0
    max_offline_brokers: _Count = 0
    max_down_cassandra_nodes: _Count = 0
    expected_brokers: _Size = None
    expected_cassandra_nodes: _Size = None

    @classmethod
    def from_env(
        cls,
        max_lag: int | str | None = None,
        max_freshness_seconds: float | str | None = None,
        **counts: int | str | None,
    ) -> HealthThresholds:
        """Explicit values first, then the ``KAFKAPIPELINE_HEALTH_*`` / ``KAFKAPIPELINE_EXPECTED_*``
        environment variables, then the defaults. ``counts`` takes the other fields by name."""
        unknown = set(counts) - set(_COUNT_SETTINGS)
        if unknown:
            raise TypeError(f"unknown health thresholds: {sorted(unknown)}")
        lag = settings.param_or_setting(max_lag, "health_max_lag")
        freshness = settings.param_or_setting(max_freshness_seconds, "health_max_freshness_seconds")
        try:
            lag, freshness = int(lag), float(freshness)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"invalid health threshold ({MAX_LAG_ENV}={lag!r}, {MAX_FRESHNESS_ENV}={freshness!r}): {err}"
            ) from err
        chosen: dict[str, Any] = {}
        for name, env in _COUNT_SETTINGS.items():
            field = name if name.startswith("expected_") else f"health_{name}"
            raw = settings.param_or_setting(counts.get(name), field)
            try:
                chosen[name] = int(raw) if raw is not None else None
            except (TypeError, ValueError) as err:
                raise ValueError(f"invalid health setting {name} ({env}={raw!r}): {err}") from err
        try:
            return cls(max_lag=lag, max_freshness_seconds=freshness, **chosen)
        except ValueError as err:
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
                format_number(f.value),
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
            "max_under_replicated_partitions": self.thresholds.max_under_replicated_partitions,
            "max_offline_brokers": self.thresholds.max_offline_brokers,
            "max_down_cassandra_nodes": self.thresholds.max_down_cassandra_nodes,
            "figures": [f.as_dict() for f in self.figures],
            "failures": [f"{f.metric} {f.subject}: {f.detail}" for f in self.failures],
            "notes": self.notes,
        }


def format_number(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}"


def detail_text(text: str) -> str:
    """``text`` cut to what the ``detail`` column keeps."""
    return text[:MAX_DETAIL_LENGTH]


def error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"
