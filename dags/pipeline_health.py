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
| `dag_last_run` | dag_id | state of the DAG's latest run by logical date (warn when failed) |

The figures are written first and logged as a table; then the run **fails** (red in the UI) if
any lag or freshness figure is over its threshold. Thresholds: the Params, else
`KAFKAPIPELINE_HEALTH_MAX_LAG` (default 10000 per partition) and
`KAFKAPIPELINE_HEALTH_MAX_FRESHNESS_SECONDS` (default 3600). DAGs reported: the `dag_ids` Param,
else `KAFKAPIPELINE_HEALTH_DAGS`, else the ingest, drain, export and purge DAGs. Cities: the `cities`
Param, else `KAFKAPIPELINE_CITIES`.

**Last runs**: tasks cannot query Airflow's database in Airflow 3; the figures come from the
Task SDK's execution API (the latest run before now by logical date), so runs triggered without
a logical date are not seen.

**Schedule**: `CronDataIntervalTimetable("*/15 * * * *", UTC)`, no catch-up, one run at a time:
the check is about the present, not its data interval.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.health import DEFAULT_HOURS, pipeline_health_task
from kafkapipeline.param_limits import CITY_SCHEMA, DAG_ID_SCHEMA, MAX_CITIES


@dag(
    dag_id="pipeline_health",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
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
    },
)
def pipeline_health():
    task(task_id="check_health")(pipeline_health_task)()


pipeline_health()
