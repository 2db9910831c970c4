"""
### drain_tweets

Drains the tweets topic (`KAFKAPIPELINE_TWEETS_TOPIC`, default `tweets`) into Cassandra
`tweets` in **micro-batches**, scoring each tweet's sentiment with VADER on the way.

**Flow**: `wait_for_batch` (deferrable sensor, waits in the triggerer) fires when the drain's
consumer group (`kafkapipeline.drain.<topic>`) is at least `min_batch` messages behind, or has
any message pending for `max_wait_seconds`. `drain` then reads from the committed offsets up
to the end offsets seen when it starts (at most `max_messages`), writes the rows, sends
undecodable messages to `<topic>.dlq`, and commits only after every write is acknowledged.
The dead letters and the offsets are committed in one Kafka transaction. A failed drain
commits nothing and its dead letters are aborted; its retry re-reads the same messages, and
the writes are idempotent upserts, so neither rows nor dead letters are lost or duplicated.
The XCom of `drain` holds the batch summary (offset ranges, counts, lag after); each
committed batch is also a row of `drain_batches`.

**Schedule**: `@continuous` with `max_active_runs=1`: a new run starts as soon as the last
one ends, its sensor defers at once (no worker slot while waiting), so the DAG behaves
event-driven, and two drains never work on the same partitions. An idle topic ends a
run as *skipped* after the sensor's timeout (1 hour); a Kafka error fails it.

**Why a deferrable sensor and not an asset watcher**: Airflow 3 asset watchers need a
trigger implementing the common-messaging `BaseEventTrigger` contract, and the Kafka one
(`AwaitMessageTrigger`) consumes and commits one message per event in the triggerer:
that would commit messages before they reach Cassandra and start one run per message.
Batching needs a trigger that looks at the lag without consuming, which
`ConsumerLagTrigger` does; paired with `@continuous` it gives event-driven micro-batches.

**Partitions**: one consumer drains all partitions of the topic in one task. On the 2-core
target machine one process per partition was no faster even with its start-up left out
(0.96x of one consumer on a quiet machine, 2.6x slower under load: the processes compete
with Cassandra and Kafka for the same two cores), and each mapped task would also pay a
task start-up per micro-batch; see `bench/drain_benchmark.py --per-partition`.

**Params** (manual runs; scheduled runs use the defaults, which `KAFKAPIPELINE_DRAIN_MIN_BATCH`,
`KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS` and `KAFKAPIPELINE_DRAIN_POLL_SECONDS` override):
`min_batch`, `max_wait_seconds`,
`max_messages`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from kafkapipeline import settings
from kafkapipeline.drain import KIND_TWEET, drain_default_args, drain_group, drain_params, drain_task
from kafkapipeline.sensors import WaitForConsumerLagSensor


@dag(
    dag_id="drain_tweets",
    schedule="@continuous",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kafkapipeline", "drain", "tweets"],
    default_args=drain_default_args(),
    params=drain_params(min_batch=500, max_wait_seconds=60),
    # Resolved when templates render (at run time), so the topic follows the environment.
    user_defined_macros={"tweets_topic": settings.tweets_topic, "drain_group": drain_group},
)
def drain_tweets():
    wait_for_batch = WaitForConsumerLagSensor(
        task_id="wait_for_batch",
        topic="{{ tweets_topic() }}",
        group_id="{{ drain_group(tweets_topic()) }}",
        min_batch="{{ params.min_batch }}",
        max_wait_seconds="{{ params.max_wait_seconds }}",
        poll_interval=settings.drain_setting("poll_seconds", 5),
        timeout=timedelta(hours=1),
        soft_fail=True,
    )
    drain = task(task_id="drain")(drain_task)(kind=KIND_TWEET, max_messages="{{ params.max_messages }}")
    wait_for_batch >> drain


drain_tweets()
