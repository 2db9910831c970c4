"""
### rescore_tweets

Re-scores stored tweets with a sentiment model, page by page per (city, day) partition, writing
only the sentiment columns; rows already scored by that model version are skipped, so a re-run
continues where the last stopped. **Manual**.

**Params**: `start_day` / `end_day` (UTC, both included; empty: the last 7 days), `city` (empty:
`KAFKAPIPELINE_CITIES`), `model` (`learned` or `vader`), `force` (re-score rows already scored by
this version), `page_size`. The XCom lists the counts per label and the model used. Details:
docs/sentiment.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from kafkapipeline.assets.tasks import rescore_assets
from kafkapipeline.params.limits import CITY_SCHEMA
from kafkapipeline.params.rendering import param
from kafkapipeline.sentiment.rescore import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, rescore_tweets_task
from kafkapipeline.sentiment.scorers import LEARNED, SCORER_NAMES


@dag(
    dag_id="rescore_tweets",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.params.rendering)
    tags=["kafkapipeline", "maintenance", "sentiment"],
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(hours=6),
    },
    params={
        "start_day": Param(
            None, type=["null", "string"], format="date", description="First UTC day; empty: 7 days ago"
        ),
        "end_day": Param(
            None, type=["null", "string"], format="date", description="Last UTC day; empty: today"
        ),
        "city": Param(
            None,
            **{**CITY_SCHEMA, "type": ["null", "string"]},
            description="Only this city; empty: every city of KAFKAPIPELINE_CITIES",
        ),
        "model": Param(LEARNED, type="string", enum=list(SCORER_NAMES), description="Model to score with"),
        "force": Param(
            False, type="boolean", description="Re-score rows already scored by this model version"
        ),
        "page_size": Param(
            DEFAULT_PAGE_SIZE,
            type="integer",
            minimum=1,
            maximum=MAX_PAGE_SIZE,
            description="Rows read, scored and written per batch",
        ),
    },
)
def rescore_tweets():
    task(task_id="rescore", **rescore_assets())(rescore_tweets_task)(
        start_day=param("start_day"),
        end_day=param("end_day"),
        city=param("city"),
        model=param("model"),
        force=param("force"),
        page_size=param("page_size"),
    )


rescore_tweets()
