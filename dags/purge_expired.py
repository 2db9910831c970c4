"""
### purge_expired

Deletes the **(city, day) partitions** of `tweets` and `weather_reports` older than each table's
retention (by the row's UTC day). **Schedule**: daily at 01:30 UTC.

**Params**: `tweets_retention_days` / `weather_retention_days` (else
`KAFKAPIPELINE_RETENTION_DAYS_TWEETS` / `KAFKAPIPELINE_RETENTION_DAYS_WEATHER_REPORTS`, else
**0 = keep forever**: nothing is purged until a retention is chosen), `cities` (else
`KAFKAPIPELINE_CITIES`), `sweep_days` (7: days past the horizon a run visits), `dry_run` (only
count). The XCom lists the partitions purged and the TTLs in force. Retention: docs/settings.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.assets.tasks import purge_assets
from kafkapipeline.maintenance.retention import DEFAULT_SWEEP_DAYS, MAX_SWEEP_DAYS, purge_expired_task
from kafkapipeline.params.limits import CITY_SCHEMA, MAX_CITIES
from kafkapipeline.params.rendering import param
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
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.params.rendering)
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
    task(task_id="purge", **purge_assets())(purge_expired_task)(
        retention={stream.table.name: param(stream.retention_param) for stream in STREAMS.values()},
        cities=param("cities"),
        sweep_days=param("sweep_days"),
        dry_run=param("dry_run"),
    )


purge_expired()
