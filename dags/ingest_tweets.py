"""
### ingest_tweets

Produces the tweets of the run's **data interval** to the tweets topic
(`KAFKAPIPELINE_TWEETS_TOPIC`, default `tweets`), one JSON value per tweet keyed by the tweet id.
**Schedule**: `KAFKAPIPELINE_TWEETS_SCHEDULE` (default every 10 minutes, UTC), at most 2 runs at a
time; backfillable (`airflow backfill create --dag-id ingest_tweets --from-date ... --to-date ...`).

**Params**: `source`: `auto` (X when `x_api_default` is set, else Mastodon when `mastodon_default`
is set, else the built-in deterministic **replay**), `x`, `mastodon` or `replay`; `query`,
`max_pages`, `max_results` (X); `city`; `replay_tweets_per_10_minutes`. The XCom says which source
was used and why, and how many tweets were produced and skipped. Sources: docs/sources.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.assets.tasks import ingest_assets
from kafkapipeline.params.limits import CITY_SCHEMA, NO_CONTROL_CHARACTERS
from kafkapipeline.params.rendering import param
from kafkapipeline.settings import DEFAULT_TWEET_QUERY
from kafkapipeline.sources.ingest import (
    TWEETS_SCHEDULE_ENV,
    ingest_tweets_task,
    replay_rate_from_env,
    schedule_from_env,
)
from kafkapipeline.sources.selection import TWEET_SOURCE_MODES
from kafkapipeline.streams.tweets import TWEETS


@dag(
    dag_id="ingest_tweets",
    schedule=CronDataIntervalTimetable(schedule_from_env(TWEETS_SCHEDULE_ENV), timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.params.rendering)
    tags=["kafkapipeline", "ingest", "tweets"],
    default_args={
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(minutes=30),
    },
    params={
        "source": Param(
            "auto",
            type="string",
            enum=list(TWEET_SOURCE_MODES),
            description=(
                "auto: X API if x_api_default is set, else Mastodon if mastodon_default is set, "
                "else replay; x / mastodon / replay: force that source"
            ),
        ),
        "query": Param(
            DEFAULT_TWEET_QUERY,
            type="string",
            minLength=1,
            maxLength=512,
            pattern=NO_CONTROL_CHARACTERS,
            description="X recent-search query (the replay source ignores it)",
        ),
        "city": Param(
            "Vancouver", **CITY_SCHEMA, description="City the tweets are filed under (a name, no coordinates)"
        ),
        "max_pages": Param(5, type="integer", minimum=1, maximum=50, description="Most X API pages per run"),
        "max_results": Param(
            100, type="integer", minimum=10, maximum=100, description="Tweets per X API page"
        ),
        "replay_tweets_per_10_minutes": Param(
            replay_rate_from_env(),
            type="integer",
            minimum=0,
            maximum=1000,
            description="Average tweets per 10 minutes from the replay source",
        ),
    },
)
def ingest_tweets():
    task(task_id="produce_tweets", **ingest_assets(TWEETS))(ingest_tweets_task)(
        source=param("source"),
        query=param("query"),
        city=param("city"),
        max_pages=param("max_pages"),
        max_results=param("max_results"),
        replay_tweets_per_10_minutes=param("replay_tweets_per_10_minutes"),
    )


ingest_tweets()
