"""
### export_csv

Writes each table's rows of the run's **UTC day** to CSV: one file per table per day,
`<export dir>/tweets/2026-11-22.csv` and `<export dir>/weather_reports/2026-11-22.csv`.

**Interval**: `CronDataIntervalTimetable("0 0 * * *", UTC)`: the run for a day starts just after
midnight UTC and exports `[day 00:00, next day 00:00)`. A manual run exports the last complete
day, or the day given in the `day` Param. Runs do not catch up by default; past days are exported
with `airflow backfill create --dag-id export_csv --from-date 2026-11-01 --to-date 2026-11-07`.

**Files**: written under a temporary name, flushed, then renamed over the final name, so
re-running a day replaces its file whole and a reader never sees half a file. A day with no rows
gets a file with only the header. Format (read back by `import_csv`): a header row with the
column names, ISO-8601 UTC timestamps with milliseconds, empty field = null.

**Where**: the `export_dir` Param, else `KAFKAPIPELINE_EXPORT_DIR`, else `exports`, always inside
the **data root** (`KAFKAPIPELINE_DATA_ROOT`, default `$KAFKAPIPELINE_STATE/data`, so
`.state/data/exports` in the repository); a relative folder starts at the root. `..`, folders
outside the root and symlinks that lead out of it are refused, and the run fails at once saying so.

**Which rows**: tables are partitioned by (city, day) and listing partitions is a full scan, so
the export reads the partitions of the configured cities: the `cities` Param, else
`KAFKAPIPELINE_CITIES` (comma separated, default `Vancouver`). Rows are read in pages of
`fetch_size` and streamed to the file: memory stays constant whatever the size of the day.

The XCom (`return_value`) lists the files and their row counts.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.csvio.export import (
    DEFAULT_FETCH_SIZE,
    EXPORT_TABLES,
    MAX_CITIES,
    MAX_CITY_LENGTH,
    export_csv_task,
)
from kafkapipeline.csvio.paths import MAX_PATH_LENGTH, PATH_PARAM_PATTERN
from kafkapipeline.dag_params import param


@dag(
    dag_id="export_csv",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.dag_params)
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
    task(task_id="export_day")(export_csv_task)(
        export_dir=param("export_dir"),
        cities=param("cities"),
        tables=param("tables"),
        day=param("day"),
        fetch_size=param("fetch_size"),
    )


export_csv()
