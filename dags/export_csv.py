"""
### export_csv

Writes each table's rows of the run's **UTC day** to `<export dir>/<table>/<day>.csv`, atomically
(a re-run replaces the file whole; an empty day gets only the header), in the format `import_csv`
reads. **Schedule**: daily at 00:00 UTC for the day before, **or** on the tables' asset events: such
a run exports again the finished days whose rows changed after their export (late drains past
midnight, re-scores), and ends skipped at once when the events changed only today (docs/assets.md).
A manual run exports the last complete day. **Params**: `day` (instead of the run's interval),
`export_dir` (inside the data root; else `KAFKAPIPELINE_EXPORT_DIR`, else `exports`), `cities`
(else `KAFKAPIPELINE_CITIES`), `tables`, `fetch_size`. The XCom lists the files and their row
counts. Details: docs/csv.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.assets.definitions import every_stream
from kafkapipeline.assets.tasks import export_assets
from kafkapipeline.csvio.export import (
    DEFAULT_FETCH_SIZE,
    EXPORT_TABLES,
    MAX_CITIES,
    MAX_CITY_LENGTH,
    export_csv_task,
)
from kafkapipeline.csvio.paths import MAX_PATH_LENGTH, PATH_PARAM_PATTERN
from kafkapipeline.params.rendering import param


@dag(
    dag_id="export_csv",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        assets=AssetAny(*(assets.table for assets in every_stream())),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.params.rendering)
    tags=["kafkapipeline", "maintenance", "export"],
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(hours=2),
    },
    params={
        "export_dir": Param(
            None,
            type=["null", "string"],
            maxLength=MAX_PATH_LENGTH,
            pattern=PATH_PARAM_PATTERN,
            description="Folder for the files inside the data root (KAFKAPIPELINE_DATA_ROOT; relative: "
            "from the root); empty: KAFKAPIPELINE_EXPORT_DIR, else exports",
        ),
        "cities": Param(
            [],
            type="array",
            items={"type": "string", "minLength": 1, "maxLength": MAX_CITY_LENGTH},
            maxItems=MAX_CITIES,
            uniqueItems=True,
            description="Cities exported; empty: KAFKAPIPELINE_CITIES (default Vancouver)",
        ),
        "tables": Param(
            list(EXPORT_TABLES),
            type="array",
            items={"type": "string", "enum": list(EXPORT_TABLES)},
            minItems=1,
            uniqueItems=True,
            description="Tables to export",
        ),
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            description="Export this UTC day (YYYY-MM-DD) instead of the run's data interval",
        ),
        "fetch_size": Param(
            DEFAULT_FETCH_SIZE,
            type="integer",
            minimum=10,
            maximum=10_000,
            description="Rows per page read from Cassandra",
        ),
    },
)
def export_csv():
    task(task_id="export_day", **export_assets())(export_csv_task)(
        export_dir=param("export_dir"),
        cities=param("cities"),
        tables=param("tables"),
        day=param("day"),
        fetch_size=param("fetch_size"),
    )


export_csv()
