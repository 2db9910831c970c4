"""The drain DAGs' wiring, written once for every stream (``dags/drain_<stream>.py`` call it).

A drain DAG is ``@continuous`` with one active run: ``wait_for_batch`` (a deferrable sensor on the
drain group's lag, started in the triggerer; its XCom is the run's partition groups) >> ``drain``
(mapped over them, one task per partition group). Its DAG file keeps what differs per stream:
dag_id, its own documentation (``drain_pipeline`` appends the shared :data:`DRAIN_DOC_MD`), the
batch defaults.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import task

from kafkapipeline import settings
from kafkapipeline.assets.tasks import drain_assets
from kafkapipeline.drain.task import drain_task
from kafkapipeline.drain.wait import WaitForDrainBatchSensor
from kafkapipeline.params.rendering import param
from kafkapipeline.streams.base import Stream

#: An idle topic ends a run as skipped after this long; the next run starts at once.
SENSOR_TIMEOUT = timedelta(hours=1)
#: The first retry of a failed or killed drain: Airflow waits between this and twice this (its
#: jitter), then doubles the wait for each later try, never beyond :data:`MAX_RETRY_DELAY`.
RETRY_DELAY = timedelta(seconds=5)
RETRY_BACKOFF = 2.0
MAX_RETRY_DELAY = timedelta(seconds=30)
#: Tries after the first: with the delays above they span about two minutes, enough to ride
#: out a restarting broker or node; after that the run fails and the next one starts.
RETRIES = 5


def drain_default_args() -> dict[str, Any]:
    """Task defaults of both drain DAGs: a failed batch commits nothing, so retrying it soon is safe.

    A killed drain's messages wait for its retry (nothing else reads its partitions), so the retry
    comes within seconds, with a bounded backoff (:data:`RETRY_DELAY`, :data:`MAX_RETRY_DELAY`).
    """
    return {
        "owner": "data-platform",
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": RETRY_BACKOFF,
        "max_retry_delay": MAX_RETRY_DELAY,
        "execution_timeout": timedelta(minutes=30),
    }


def drain_params(min_batch: int, max_wait_seconds: int) -> dict[str, Any]:
    """The Params both drain DAGs expose, with per-topic defaults.

    ``KAFKAPIPELINE_DRAIN_MIN_BATCH`` / ``KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS`` override the
    defaults (read at parse time from the environment only).
    """
    from airflow.sdk import Param

    return {
        "min_batch": Param(
            settings.drain_setting("min_batch", min_batch),
            type="integer",
            minimum=1,
            maximum=1_000_000,
            description="Messages that make a batch",
        ),
        "max_wait_seconds": Param(
            settings.drain_setting("max_wait_seconds", max_wait_seconds),
            type="number",
            minimum=1,
            maximum=86_400,
            description="Longest a pending message waits for a batch",
        ),
        "max_messages": Param(
            settings.drain_setting("max_messages", 50_000),
            type="integer",
            minimum=1,
            maximum=1_000_000,
            description="Most messages drained per run by each partition group",
        ),
        "partition_groups": Param(
            settings.current().drain_partition_groups,
            type="integer",
            minimum=1,
            maximum=64,
            description="Drain tasks per run, each with its own partitions, transaction and commits "
            "(more than the topic's partitions: one per partition)",
        ),
    }


def drain_dag_arguments(stream: Stream, *, min_batch: int, max_wait_seconds: int) -> dict[str, Any]:
    """The DAG arguments every drain DAG shares; ``min_batch``/``max_wait_seconds``: its Params' defaults."""
    return {
        "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
        "catchup": False,
        "max_active_runs": 1,  # two drains never work on the same partitions
        "render_template_as_native_obj": True,  # Params reach the task typed (kafkapipeline.params.rendering)
        "tags": ["kafkapipeline", "drain", stream.name],
        "default_args": drain_default_args(),
        "params": drain_params(min_batch=min_batch, max_wait_seconds=max_wait_seconds),
    }


def drain_pipeline(stream: Stream) -> None:
    """The drain's tasks for ``stream``, in the DAG being defined (call it inside ``with DAG(...)``)."""
    wait_for_batch = WaitForDrainBatchSensor(
        task_id="wait_for_batch",
        stream=stream.name,
        min_batch=param("min_batch"),
        max_wait_seconds=param("max_wait_seconds"),
        partition_groups=param("partition_groups"),
        poll_interval=settings.drain_setting("poll_seconds", 5),
        timeout=SENSOR_TIMEOUT,
        soft_fail=True,
        # Its wait is bounded by ``timeout``; an execution_timeout would cut a trigger started by
        # the scheduler short (Airflow bounds it by both).
        execution_timeout=None,
    )
    drain = (
        task(task_id="drain", **drain_assets(stream))(drain_task)
        .partial(
            stream=stream.name,
            max_messages=param("max_messages"),
            min_batch=param("min_batch"),
            max_wait_seconds=param("max_wait_seconds"),
        )
        .expand(partitions=wait_for_batch.output)
    )
    wait_for_batch >> drain
    # The DAG file's own doc_md (its docstring), then how every drain works: one text, in each Docs tab.
    dag = wait_for_batch.dag
    dag.doc_md = (dag.doc_md or "").rstrip() + "\n" + DRAIN_DOC_MD


#: How every drain DAG works: appended to the DAG file's own doc_md (its docstring, the Docs tab)
#: by :func:`drain_pipeline`.
DRAIN_DOC_MD = """
#### How a drain works (every drain DAG)

**Flow**: `wait_for_batch` (deferrable sensor, started by the scheduler directly in the triggerer,
so no worker runs it to defer) fires when the drain's consumer group
(`kafkapipeline.drain.task.<topic>`) is at least `min_batch` messages behind, or has any message
pending for `max_wait_seconds`; it resumes on a worker once, to return the run's partition groups
from the trigger's event (its XCom; the event itself is the XCom `lag_event`). `drain` then reads
from the committed offsets up to the end offsets seen when it starts (at most `max_messages`),
writes the rows, sends messages that cannot become rows to `<topic>.dlq`, and commits only after
every write is acknowledged: the dead letters and the offsets in one Kafka transaction. A failed
drain commits nothing and its dead letters are aborted; its retry re-reads the same messages, and
the writes are idempotent upserts on the row's key, so neither rows nor dead letters are lost or
duplicated. The XCom of `drain` holds the batch summary (offset ranges, counts, lag after); each
committed batch is also a row of `drain_batches`. So a run costs two task starts on the workers
(the sensor's resumption and the drain), for its first batch and every one it follows on with.

**Following on** (`KAFKAPIPELINE_DRAIN_FOLLOW_SECONDS`, 300 by default; 0 turns it off): after
its batch, `drain` reads its partitions' lag every `KAFKAPIPELINE_DRAIN_POLL_SECONDS` and drains
each next batch itself as soon as the sensor's rule says it is ready, until that many seconds from
its start, or until nothing has been pending for three polls (or `max_wait_seconds`, if shorter):
then the run ends and the next run's sensor waits, deferred. Each batch is committed on its own,
with its own `drain_batches` row; the XCom sums them (`batches`), and the task's asset events come
when it ends. A batch then waits for no run, trigger or task start, at the price of a worker slot
held while traffic flows (one per partition group). A run of the DAG queued behind a following one
(a manual trigger: one run at a time) ends the following at its next lag reading, so it starts
within a poll and a batch, not after 300 s.

**Recovery**: a failed or killed drain is retried 5 to 10 s after it ended, then with doubling waits
of at most 30 s (5 retries). Airflow's log of a try whose process was killed says "Likely out of
memory error (OOM)" for any SIGKILL; the retry's log says which signal killed which try, and
`pipeline_health`'s `dag_last_run` names the kill (docs/health.md).

**Schedule**: `@continuous` with `max_active_runs=1`: a new run starts as soon as the last one ends,
its sensor defers at once (no worker slot while waiting), so the DAG behaves event-driven, and two
drains never work on the same partitions. An idle topic ends a run as *skipped* after the sensor's
timeout (1 hour); a Kafka error fails it.

**Why the sensor resumes on a worker**: Airflow 3.3 lets a trigger end its task (`TaskSuccessEvent`
with XComs), but a mapped task expands only over an XCom a worker pushed (the triggerer records no
map length), so `drain` would be `upstream_failed`.

**Why a deferrable sensor and not an asset watcher**: Airflow 3 asset watchers need a trigger
implementing the common-messaging `BaseEventTrigger` contract, and the Kafka one
(`AwaitMessageTrigger`) consumes and commits one message per event in the triggerer: that would
commit messages before they reach Cassandra and start one run per message. `ConsumerLagTrigger`
looks at the lag without consuming; paired with `@continuous` it gives event-driven micro-batches.

**Partitions**: `wait_for_batch` splits the topic's partitions (every partition its trigger
measured) round-robin into `partition_groups` disjoint groups and `drain` is mapped once per group.
Each mapped drain reads only its partitions, with its own Kafka transaction (its transactional id is
fixed per partition set) and commits only their offsets. One group is the default: on the 2-core
target machine one process per partition was no faster and each mapped task pays a task start-up
(see `bench/drain_benchmark.py --per-partition`); where cores and Celery workers exist, more groups
drain a topic in parallel.

**Params** (manual runs; scheduled runs use the defaults): `min_batch`, `max_wait_seconds`
(defaults: the DAG's, or `KAFKAPIPELINE_DRAIN_MIN_BATCH` / `KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS`),
`max_messages` (per partition group; `KAFKAPIPELINE_DRAIN_MAX_MESSAGES`, 50000), `partition_groups`
(`KAFKAPIPELINE_DRAIN_PARTITION_GROUPS`, 1). The sensor pokes every
`KAFKAPIPELINE_DRAIN_POLL_SECONDS` (5). Dead letters: docs/dead-letters.md; figures:
docs/benchmarks.md.
"""
