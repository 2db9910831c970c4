"""
### purge_expired

Daily, deletes the **day partitions** of `tweets` and `weather_reports` that are older than
each table's retention, for the configured cities.

**Retention** (days, by the row's UTC day, i.e. its event time): the Params
`tweets_retention_days` / `weather_retention_days`, else `KAFKAPIPELINE_RETENTION_DAYS_TWEETS` /
`KAFKAPIPELINE_RETENTION_DAYS_WEATHER_REPORTS`, else **0 = keep forever** (the default: nothing is
purged until a retention is chosen). With N days, today and the N-1 days before it are kept.

**What a run visits**: the `sweep_days` (default 7) days just past the horizon, for the cities in
the `cities` Param, else `KAFKAPIPELINE_CITIES` (listing partitions would be a full scan). A
partition is counted, then deleted with one partition delete; `dry_run` only counts. To purge
older history once, trigger with a larger `sweep_days`.

**Other retention**: `drain_batches` (90 days) and `pipeline_health` (30 days) expire by
`default_time_to_live`, set by migration `include/cql/0007_retention.cql`; change it with a new
numbered migration (`ALTER TABLE ... WITH default_time_to_live = <seconds>`). Kafka topics keep
messages for the `bootstrap` DAG's `retention_hours` (168) and `dead_letter_retention_hours`
(720); re-run bootstrap with other values to change them. The XCom lists the partitions purged
and the TTLs in force.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.dag_params import param
from kafkapipeline.maintenance.retention import DEFAULT_SWEEP_DAYS, MAX_SWEEP_DAYS, purge_expired_task
from kafkapipeline.param_limits import CITY_SCHEMA, MAX_CITIES
from kafkapipeline.streams.registry import STREAMS

#: A century: the horizon (today minus the days) must stay a valid date.
MAX_RETENTION_DAYS = 36_500


@dag(
    dag_id="purge_expired",
    schedule=CronDataIntervalTimetable("30 1 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.dag_params)
    tags=["kafkapipeline", "maintenance", "retention"],
    default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        **{
            stream.retention_param: Param(
                None,
                type=["null", "integer"],
                minimum=0,
                maximum=MAX_RETENTION_DAYS,
                description=f"Days of {stream.table.name} kept (0 = forever); empty: {stream.retention_env}",
            )
            for stream in STREAMS.values()
        },
        "cities": Param(
            [],
            type="array",
            items=CITY_SCHEMA,
            maxItems=MAX_CITIES,
            description="Cities whose partitions are purged; empty: KAFKAPIPELINE_CITIES",
        ),
        "sweep_days": Param(
            DEFAULT_SWEEP_DAYS,
            type="integer",
            minimum=1,
            maximum=MAX_SWEEP_DAYS,
            description="Days past the retention horizon checked by this run",
        ),
        "dry_run": Param(False, type="boolean", description="Only count what would be purged"),
    },
)
def purge_expired():
    task(task_id="purge")(purge_expired_task)(
        retention={stream.table.name: param(stream.retention_param) for stream in STREAMS.values()},
        cities=param("cities"),
        sweep_days=param("sweep_days"),
        dry_run=param("dry_run"),
    )


purge_expired()
