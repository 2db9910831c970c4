"""The pipeline's health, measured now: lag, throughput, dead letters, freshness, the clusters'
replication and membership, and last DAG runs; this package's public names import from here.

Each check writes one set of figures to ``<keyspace>.pipeline_health``, all with the same ``checked_at``
(the dashboard's "latest check"), each ``ok``, ``warn`` or ``fail`` against :class:`HealthThresholds`.
A figure that cannot be measured is written as ``fail`` with the error; the task writes and logs every
figure first, then fails when one of ``FAILING_METRICS`` is ``fail``.
"""

from __future__ import annotations

from kafkapipeline.health.cassandra_figures import (
    FRESHNESS_TABLES,
    freshness_figures,
    keyspace_set_up_at,
    newest_row,
    rows_per_hour_figures,
)
from kafkapipeline.health.cluster_figures import (
    cassandra_node_figures,
    classify_cassandra_hosts,
    classify_kafka_metadata,
    kafka_cluster_figures,
)
from kafkapipeline.health.dag_runs import (
    AIRFLOW_API_CONN_ID,
    AirflowApiUnavailable,
    dag_last_run_figures,
)
from kafkapipeline.health.kafka_figures import count_messages, dlq_figures, lag_figures
from kafkapipeline.health.report import (
    CQL_TIMEOUT_SECONDS,
    DAGS_ENV,
    DEFAULT_DAG_IDS,
    DEFAULT_HOURS,
    DEFAULT_MAX_FRESHNESS_SECONDS,
    DEFAULT_MAX_LAG,
    DLQ_COUNT_LIMIT,
    EXPECTED_BROKERS_ENV,
    EXPECTED_NODES_ENV,
    FAIL,
    FAILING_METRICS,
    KAFKA_TIMEOUT_SECONDS,
    MAX_DETAIL_LENGTH,
    MAX_DOWN_NODES_ENV,
    MAX_FRESHNESS_ENV,
    MAX_LAG_ENV,
    MAX_OFFLINE_BROKERS_ENV,
    MAX_UNDER_REPLICATED_ENV,
    METRIC_DAG_RUN,
    METRIC_DLQ,
    METRIC_DOWN_NODES,
    METRIC_FRESHNESS,
    METRIC_LAG,
    METRIC_LEADERLESS,
    METRIC_OFFLINE_BROKERS,
    METRIC_ROWS,
    METRIC_UNDER_REPLICATED,
    OK,
    WARN,
    HealthFigure,
    HealthReport,
    HealthThresholds,
)
from kafkapipeline.health.task import (
    check_health,
    dag_ids_from,
    pipeline_health_task,
    run_health_check,
    write_health,
)

__all__ = [
    "AIRFLOW_API_CONN_ID",
    "CQL_TIMEOUT_SECONDS",
    "DAGS_ENV",
    "DEFAULT_DAG_IDS",
    "DEFAULT_HOURS",
    "DEFAULT_MAX_FRESHNESS_SECONDS",
    "DEFAULT_MAX_LAG",
    "DLQ_COUNT_LIMIT",
    "EXPECTED_BROKERS_ENV",
    "EXPECTED_NODES_ENV",
    "FAIL",
    "FAILING_METRICS",
    "FRESHNESS_TABLES",
    "KAFKA_TIMEOUT_SECONDS",
    "MAX_DETAIL_LENGTH",
    "MAX_DOWN_NODES_ENV",
    "MAX_FRESHNESS_ENV",
    "MAX_LAG_ENV",
    "MAX_OFFLINE_BROKERS_ENV",
    "MAX_UNDER_REPLICATED_ENV",
    "METRIC_DAG_RUN",
    "METRIC_DLQ",
    "METRIC_DOWN_NODES",
    "METRIC_FRESHNESS",
    "METRIC_LAG",
    "METRIC_LEADERLESS",
    "METRIC_OFFLINE_BROKERS",
    "METRIC_ROWS",
    "METRIC_UNDER_REPLICATED",
    "OK",
    "WARN",
    "AirflowApiUnavailable",
    "HealthFigure",
    "HealthReport",
    "HealthThresholds",
    "cassandra_node_figures",
    "check_health",
    "classify_cassandra_hosts",
    "classify_kafka_metadata",
    "count_messages",
    "dag_ids_from",
    "dag_last_run_figures",
    "dlq_figures",
    "freshness_figures",
    "kafka_cluster_figures",
    "keyspace_set_up_at",
    "lag_figures",
    "newest_row",
    "pipeline_health_task",
    "rows_per_hour_figures",
    "run_health_check",
    "write_health",
]
