"""
### ingest_tweets

Every 10 minutes, produces the tweets of the run's **data interval** to the tweets topic
(`KAFKAPIPELINE_TWEETS_TOPIC`, default `tweets`), one JSON value per tweet keyed by
the tweet id.

**Source** (Param `source`):

* `auto` (default): the X API recent search when connection `x_api_default` is set
  (bearer token in the password, or extra `bearer_token`); else public **Mastodon**
  posts when `mastodon_default` is set (host = instance URL, optional token in the
  password); otherwise the built-in **replay** source: realistic, deterministic tweets
  with no key and no network. With both connections set, X wins.
* `x` / `mastodon`: always that source; fails naming the connection to set when it is missing.
* `replay`: always the replay source (backfills of past ranges, demos).

The task's XCom (`return_value`) says which source was used and why, the interval, and
how many tweets were produced and skipped.

**Interval**: each run covers `[data_interval_start, data_interval_end)`
(`CronDataIntervalTimetable`). A manual run covers the last complete period before it.
`airflow backfill create --dag-id ingest_tweets --from-date ... --to-date ...` re-produces
exactly the records of those intervals with the replay source (the same tweet ids, so the
Cassandra rows are upserts). X recent search only reaches back 7 days; Mastodon as far
as the instance's timeline pages go (the XCom's `history_gaps` says when an interval is older).

**Schedule**: cron in `KAFKAPIPELINE_TWEETS_SCHEDULE` (default `*/10 * * * *`, UTC).
At most 2 runs at a time, so a backfill cannot swamp the API.

**Rate limits**: a 429 waits for the reset X (or Mastodon) announces (up to 10 minutes), then fetches
the same page again; pages are produced once, as soon as they are fetched.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.dag_params import param
from kafkapipeline.param_limits import CITY_SCHEMA, NO_CONTROL_CHARACTERS
from kafkapipeline.settings import DEFAULT_TWEET_QUERY
from kafkapipeline.sources.ingest import (
    TWEETS_SCHEDULE_ENV,
    ingest_tweets_task,
    replay_rate_from_env,
    schedule_from_env,
)
from kafkapipeline.sources.selection import TWEET_SOURCE_MODES


@dag(
    dag_id="ingest_tweets",
    schedule=CronDataIntervalTimetable(schedule_from_env(TWEETS_SCHEDULE_ENV), timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.dag_params)
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
    task(task_id="produce_tweets")(ingest_tweets_task)(
        source=param("source"),
        query=param("query"),
        city=param("city"),
        max_pages=param("max_pages"),
        max_results=param("max_results"),
        replay_tweets_per_10_minutes=param("replay_tweets_per_10_minutes"),
    )


ingest_tweets()
