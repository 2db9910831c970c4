"""
### drain_weather

Drains the weather topic (`KAFKAPIPELINE_WEATHER_TOPIC`, default `weather`) into Cassandra
`weather_reports` in **micro-batches**; observations are written as they are (Celsius).

**Flow**: `wait_for_batch` (deferrable sensor, waits in the triggerer) fires when the drain's
consumer group (`kafkapipeline.drain.task.<topic>`) is at least `min_batch` messages behind, or has
any message pending for `max_wait_seconds`. `drain` then reads from the committed offsets up
to the end offsets seen when it starts (at most `max_messages`), writes the rows, sends
messages that cannot become rows to `<topic>.dlq`, and commits only after every write is acknowledged.
The dead letters and the offsets are committed in one Kafka transaction. A failed drain
commits nothing and its dead letters are aborted; its retry re-reads the same messages, and
the writes are idempotent upserts keyed by (city, day, observed_at), so neither rows nor
dead letters are lost or duplicated. The XCom of `drain` holds the batch summary; each
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

**Partitions**: `plan_partition_groups` splits the topic's partitions round-robin into
`partition_groups` disjoint groups (Param; default `KAFKAPIPELINE_DRAIN_PARTITION_GROUPS`, 1) and
`drain` is mapped once per group. Each mapped drain reads only its partitions, with its own Kafka
transaction (its transactional id is fixed per partition set) and commits only their offsets, so
two workers never own the same partition; `max_active_runs=1` keeps runs from overlapping. One
group is the default: on the 2-core target machine one process per partition was no faster and
each mapped task pays a task start-up (see `bench/drain_benchmark.py --per-partition`); where
cores and Celery workers exist, more groups drain a topic in parallel.

**Params** (manual runs; scheduled runs use the defaults, which `KAFKAPIPELINE_DRAIN_MIN_BATCH`,
`KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS` and `KAFKAPIPELINE_DRAIN_POLL_SECONDS` override):
`min_batch`, `max_wait_seconds`,
`max_messages` (per partition group), `partition_groups`. Weather arrives a few reports per
city per poll, so the defaults favour latency over batch size.
"""

from __future__ import annotations

from airflow.sdk import DAG

from kafkapipeline.drain.dag import drain_dag_arguments, drain_pipeline
from kafkapipeline.streams.weather import WEATHER

with DAG(
    dag_id="drain_weather",
    schedule="@continuous",
    doc_md=__doc__,
    **drain_dag_arguments(WEATHER, min_batch=20, max_wait_seconds=120),
):
    drain_pipeline(WEATHER)
