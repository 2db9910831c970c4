"""The pipeline's health, measured now: lag, throughput, dead letters, freshness, the clusters'
replication and membership, and last DAG runs.

Each check writes one set of figures to ``<keyspace>.pipeline_health`` (migration 0006), all
with the same ``checked_at``, which the dashboard reads as "the latest check":

* ``consumer_lag`` (subject ``<topic>/<partition>``): how many messages each drain group
  (``settings.consumer_group("drain", topic)``) is behind, read with :mod:`kafkapipeline.kafka.lag`
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
* ``under_replicated_partitions`` / ``leaderless_partitions`` (subject the topic: the drained
  topics, their ``.dlq`` topics, ``__consumer_offsets`` and ``__transaction_state``),
  ``offline_brokers`` (subject ``kafka``) and ``down_cassandra_nodes`` (subject ``cassandra``):
  see :mod:`kafkapipeline.health.cluster_figures`. ``warn`` above zero, ``fail`` above
  ``max_under_replicated_partitions`` / ``max_offline_brokers`` / ``max_down_cassandra_nodes``
  (all 0 by default), and from the first leaderless partition.
* ``dag_last_run`` (subject the dag_id, detail the state): the latest run, by ``run_after``, of
  each DAG listed, read through the public REST API (see :mod:`kafkapipeline.health.dag_runs`).
  A failed last run is ``warn``. Without the ``airflow_api_default`` connection one ``warn``
  figure (subject ``*``) says the figures are unavailable and which connection to set.

The health task writes the figures first, logs them as a table, and then fails (the UI shows
red) when a figure of ``FAILING_METRICS`` is ``fail``. A figure that could not be measured
(Kafka unreachable, topic missing) is written as ``fail`` with the error in detail.

Modules: :mod:`.report` (names, thresholds, the report), :mod:`.kafka_figures`,
:mod:`.cassandra_figures`, :mod:`.cluster_figures`, :mod:`.dag_runs`, :mod:`.task` (the check).
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
    AirflowRunsClient,
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
    "AirflowRunsClient",
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
