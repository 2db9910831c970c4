"""
### pipeline_health

Measures the pipeline **now** (consumer lag, rows per hour, DLQ counts, freshness, under-replicated
and leaderless partitions, offline brokers, down Cassandra nodes, the last DAG runs) and writes the
figures to `<keyspace>.pipeline_health`, which the dashboard shows; then **fails** if a lag,
freshness or cluster figure is over its threshold. **Schedule**: every 15 minutes, no catch-up.

**Params** (empty: the `KAFKAPIPELINE_HEALTH_*` / `KAFKAPIPELINE_EXPECTED_*` settings): `max_lag`,
`max_freshness_seconds`, `cities`, `dag_ids`, `hours`, `max_under_replicated_partitions`,
`max_offline_brokers`, `max_down_cassandra_nodes`, `expected_brokers`, `expected_cassandra_nodes`.
Last runs, and the tasks retried in the last `hours` with the signal that killed an earlier try,
are read through the REST API with the `airflow_api_default` connection. Every metric:
docs/health.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.health.report import DEFAULT_HOURS
from kafkapipeline.health.task import pipeline_health_task
from kafkapipeline.params.limits import CITY_SCHEMA, DAG_ID_SCHEMA, MAX_CITIES
from kafkapipeline.params.rendering import param


@dag(
    dag_id="pipeline_health",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.params.rendering)
    tags=["kafkapipeline", "maintenance", "health"],
    default_args={
        "owner": "data-platform",
        "retries": 1,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(minutes=10),
    },
    params={
        "max_lag": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=2**62,  # Kafka offsets are 64-bit
            description="Most messages behind per partition; empty: KAFKAPIPELINE_HEALTH_MAX_LAG",
        ),
        "max_freshness_seconds": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            maximum=366 * 24 * 3600,  # a year: anything older is no freshness check
            description="Oldest the newest row may be; empty: KAFKAPIPELINE_HEALTH_MAX_FRESHNESS_SECONDS",
        ),
        "cities": Param(
            [],
            type="array",
            items=CITY_SCHEMA,
            maxItems=MAX_CITIES,
            description="Cities checked for freshness; empty: KAFKAPIPELINE_CITIES",
        ),
        "dag_ids": Param(
            [],
            type="array",
            items=DAG_ID_SCHEMA,
            maxItems=50,
            description="DAGs whose last run is reported; empty: KAFKAPIPELINE_HEALTH_DAGS or the defaults",
        ),
        "hours": Param(
            DEFAULT_HOURS, type="integer", minimum=1, maximum=48, description="Window of rows_per_hour"
        ),
        "max_under_replicated_partitions": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=100_000,
            description="Most under-replicated partitions per topic; empty: "
            "KAFKAPIPELINE_HEALTH_MAX_UNDER_REPLICATED_PARTITIONS or 0",
        ),
        "max_offline_brokers": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=1_000,
            description="Most Kafka brokers offline; empty: KAFKAPIPELINE_HEALTH_MAX_OFFLINE_BROKERS or 0",
        ),
        "max_down_cassandra_nodes": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=1_000,
            description="Most Cassandra nodes down; empty: "
            "KAFKAPIPELINE_HEALTH_MAX_DOWN_CASSANDRA_NODES or 0",
        ),
        "expected_brokers": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=1_000,
            description="Kafka brokers the cluster should have; empty: KAFKAPIPELINE_EXPECTED_BROKERS "
            "or those live",
        ),
        "expected_cassandra_nodes": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=1_000,
            description="Cassandra nodes the cluster should have; empty: "
            "KAFKAPIPELINE_EXPECTED_CASSANDRA_NODES or those known",
        ),
    },
)
def pipeline_health():
    task(task_id="check_health")(pipeline_health_task)(
        max_lag=param("max_lag"),
        max_freshness_seconds=param("max_freshness_seconds"),
        cities=param("cities"),
        dag_ids=param("dag_ids"),
        hours=param("hours"),
        max_under_replicated_partitions=param("max_under_replicated_partitions"),
        max_offline_brokers=param("max_offline_brokers"),
        max_down_cassandra_nodes=param("max_down_cassandra_nodes"),
        expected_brokers=param("expected_brokers"),
        expected_cassandra_nodes=param("expected_cassandra_nodes"),
    )


pipeline_health()
