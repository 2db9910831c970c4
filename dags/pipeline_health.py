"""
### pipeline_health

Every 15 minutes, measures the pipeline **now** and writes the figures to
`<keyspace>.pipeline_health`, which the dashboard shows:

| metric | subject | what |
| --- | --- | --- |
| `consumer_lag` | `topic/partition` | messages the drain group is behind (fails above `max_lag`) |
| `rows_per_hour` | table | rows the drains wrote per hour over the last `hours` (from `drain_batches`) |
| `dlq_messages` | `<topic>.dlq` | messages the dead-letter topic holds (warn when not empty) |
| `freshness_seconds` | table | age of the newest row (fails above `max_freshness_seconds`) |
| `dag_last_run` | dag_id | state of the DAG's latest run by `run_after` (warn when failed) |
| `under_replicated_partitions` | topic | partitions with fewer in-sync replicas than replicas |
| `leaderless_partitions` | topic | partitions without a leader (fails from the first one) |
| `offline_brokers` | `kafka` | brokers missing against `expected_brokers` or the replicas |
| `down_cassandra_nodes` | `cassandra` | nodes down, or missing against `expected_cassandra_nodes` |

The figures are written first and logged as a table; then the run **fails** (red in the UI) if
any lag, freshness or cluster figure is over its threshold. Thresholds: the Params, else
`KAFKAPIPELINE_HEALTH_MAX_LAG` (default 10000 per partition) and
`KAFKAPIPELINE_HEALTH_MAX_FRESHNESS_SECONDS` (default 3600). DAGs reported: the `dag_ids` Param,
else `KAFKAPIPELINE_HEALTH_DAGS`, else the ingest, drain, export and purge DAGs. Cities: the `cities`
Param, else `KAFKAPIPELINE_CITIES`.

**Clusters**: the topics checked are the drained topics, their `.dlq` topics and Kafka's
`__consumer_offsets` / `__transaction_state`. Expected sizes: the `expected_brokers` /
`expected_cassandra_nodes` Params, else `KAFKAPIPELINE_EXPECTED_BROKERS` /
`KAFKAPIPELINE_EXPECTED_CASSANDRA_NODES`, else what the metadata shows (a single-node stack is
green). The `max_*` Params default to `KAFKAPIPELINE_HEALTH_MAX_UNDER_REPLICATED_PARTITIONS`,
`KAFKAPIPELINE_HEALTH_MAX_OFFLINE_BROKERS`, `KAFKAPIPELINE_HEALTH_MAX_DOWN_CASSANDRA_NODES`, else 0;
a count above zero within its limit is a warning, above it a failure.

**Last runs**: tasks cannot query Airflow's database in Airflow 3 and the Task SDK only reads a
task's own DAG, so the figures come from the public REST API (`GET /api/v2/dags/{dag_id}/dagRuns`)
with the login of the `airflow_api_default` connection (host: the api-server's base URL). Without
it, one warning figure (subject `*`) says so and names the connection to set.

**Schedule**: `CronDataIntervalTimetable("*/15 * * * *", UTC)`, no catch-up, one run at a time:
the check is about the present, not its data interval.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.dag_params import param
from kafkapipeline.health import DEFAULT_HOURS, pipeline_health_task
from kafkapipeline.param_limits import CITY_SCHEMA, DAG_ID_SCHEMA, MAX_CITIES


@dag(
    dag_id="pipeline_health",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.dag_params)
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
