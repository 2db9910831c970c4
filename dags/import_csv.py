"""
### import_csv

Loads CSV files from the data root (`KAFKAPIPELINE_DATA_ROOT`) into Cassandra, **idempotently**
(upserts keyed by the natural id), streaming with bounded memory. **Manual**. **Params**: `path`
(a file or folder inside the data root, e.g. `exports/tweets/2026-11-22.csv` or `seed`), `kind`
(`auto`, `tweets`, `weather`, `seed_tweets`, `seed_weather`), `fail_on_bad_rows`, `chunk_size`.
Bad rows are counted, logged with their line numbers and listed in the XCom; the rest is imported.
Formats and the seed mapping: docs/csv.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from kafkapipeline.assets.tasks import import_assets
from kafkapipeline.csvio.formats import KIND_AUTO, KINDS
from kafkapipeline.csvio.load import DEFAULT_CHUNK_SIZE, import_csv_task
from kafkapipeline.csvio.paths import MAX_PATH_LENGTH, PATH_PARAM_PATTERN
from kafkapipeline.params.rendering import param


@dag(
    dag_id="import_csv",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.params.rendering)
    tags=["kafkapipeline", "maintenance", "import"],
    default_args={"owner": "data-platform", "retries": 1, "retry_delay": timedelta(minutes=1)},
    params={
        "path": Param(
            type="string",
            minLength=1,
            maxLength=MAX_PATH_LENGTH,
            pattern=PATH_PARAM_PATTERN,
            description="CSV file or folder inside the data root (KAFKAPIPELINE_DATA_ROOT); "
            "relative paths start there; no '..'",
        ),
        "kind": Param(KIND_AUTO, type="string", enum=list(KINDS), description="Format of the files"),
        "fail_on_bad_rows": Param(
            False,
            type="boolean",
            description="Fail the run (after importing all valid rows) if any row was bad",
        ),
        "chunk_size": Param(
            DEFAULT_CHUNK_SIZE,
            type="integer",
            minimum=1,
            maximum=100_000,
            description="Rows handed to the writer at a time",
        ),
    },
)
def import_csv():
    task(task_id="import_files", **import_assets())(import_csv_task)(
        path=param("path"),
        kind=param("kind"),
        fail_on_bad_rows=param("fail_on_bad_rows"),
        chunk_size=param("chunk_size"),
    )


import_csv()
