"""
### import_csv

Loads CSV files into Cassandra, **idempotently**: every row is an upsert keyed by its natural id,
so importing the same file twice adds no row. Trigger it manually with the Params:

* `path`: a CSV file or a folder (every `*.csv` under it) inside the **data root**
  (`KAFKAPIPELINE_DATA_ROOT`, default `.state/data`). A relative path starts at the root, e.g.
  `exports/tweets/2026-11-22.csv` (what `export_csv` wrote) or `seed/seed_tweets_vancouver_2021.csv`
  (a file you copied there). `..`, absolute paths outside the root and symlinks that lead out of
  it are refused, and the run fails at once saying so.
* `kind`: `auto` (per file: the export header says tweets or weather; otherwise 4 fields mean
  the seed's tweets, 12 its weather), `tweets` / `weather` (files written by `export_csv`),
  `seed_tweets` / `seed_weather` (the original 2021 seed CSVs, no header).
* `fail_on_bad_rows`: fail the run (after importing every valid row) when a row was bad.

**Bad rows** (wrong field count, unparseable timestamp or number, implausible temperature,
invalid UTF-8, broken CSV quoting, a line or field longer than the CSV field limit) are counted,
logged with their line numbers and listed in the XCom (first 20 per file); the rest of the file
is imported.

**Seed mapping**: timestamps are UTC; seed tweets get a stable id (`seed-` + SHA-256 of the raw
timestamp, text and location), `MetroVancouver` is filed under city `Vancouver`, escaped text
(`\\n`, `\\u2026`, emoji surrogate pairs) is decoded, sentiment is computed with VADER like the
drain does, and the seed's own label is kept in `source_label`. Weather in Kelvin becomes Celsius,
provider `seed-csv`. Details: `kafkapipeline.csvio.seed`.

**Streaming**: files are read record by record, in lines of bounded length, and written in chunks
with prepared statements and bounded concurrency: memory stays constant whatever the file size.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from kafkapipeline.csvio.formats import KIND_AUTO, KINDS
from kafkapipeline.csvio.load import DEFAULT_CHUNK_SIZE, import_csv_task
from kafkapipeline.csvio.paths import MAX_PATH_LENGTH, PATH_PARAM_PATTERN
from kafkapipeline.dag_params import param


@dag(
    dag_id="import_csv",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.dag_params)
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
    task(task_id="import_files")(import_csv_task)(
        path=param("path"),
        kind=param("kind"),
        fail_on_bad_rows=param("fail_on_bad_rows"),
        chunk_size=param("chunk_size"),
    )


import_csv()
