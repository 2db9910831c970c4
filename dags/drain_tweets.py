"""
### drain_tweets

Drains the tweets topic (`KAFKAPIPELINE_TWEETS_TOPIC`, default `tweets`) into Cassandra `tweets` in
**micro-batches**, scoring the tweets' sentiment a micro-batch at a time with the learned model
(docs/sentiment.md). **Schedule**: `@continuous`, one run at a time. **Param defaults**: `min_batch`
500, `max_wait_seconds` 60.
"""

from __future__ import annotations

from airflow.sdk import DAG

from kafkapipeline.drain.dag import drain_dag_arguments, drain_pipeline
from kafkapipeline.streams.tweets import TWEETS

with DAG(
    dag_id="drain_tweets",
    schedule="@continuous",
    doc_md=__doc__,
    **drain_dag_arguments(TWEETS, min_batch=500, max_wait_seconds=60),
):
    drain_pipeline(TWEETS)
