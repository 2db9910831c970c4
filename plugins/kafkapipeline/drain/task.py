"""Drain one Kafka topic into Cassandra in a bounded micro-batch, with no loss and no duplicates.

The contract, in order:

1. Snapshot the end of every partition (its high watermark) when the drain starts. The batch
   is everything from the group's committed offset up to that snapshot, capped by
   ``max_messages``; messages produced while the drain runs belong to the next batch, so a
   busy topic cannot keep a drain running forever.
2. Read with one consumer that is *assigned* its partitions (no group membership, no
   rebalance) and fetches in bulk with ``consume(num_messages=...)``. One consumer reads
   all partitions: on the 2-core target machine one process per partition was no faster
   (see ``bench/drain_benchmark.py --per-partition``); ``partitions=`` still allows one
   mapped task per partition where there are cores to spare.
3. Decode and validate each value with its stream's record type (:mod:`kafkapipeline.streams`).
   A value that cannot become a row (any exception while decoding, validating, scoring or
   building its row: one try per message, nothing more on good data) goes to ``<topic>.dlq``
   with the original key and value and headers naming the error and the source topic,
   partition and offset; the batch goes on (:mod:`kafkapipeline.kafka.transaction`, which cuts
   a copy too large for Kafka).
4. Write rows with prepared statements, grouped into single-partition batches, many in
   flight (:mod:`kafkapipeline.cassandra.writer`). Rows are upserts keyed by natural ids,
   so a batch that is read and written twice leaves the same rows. Each row travels with its
   message: a row Cassandra or its driver refuses on its own (found by writing a refused
   request's rows one by one) is dead-lettered with that message, and the rest is committed.
5. Only when every write is acknowledged (or refused on its own), commit ``last offset + 1``
   per partition. The dead letters and the offsets go to Kafka in **one transaction** (a
   transactional producer, ``send_offsets_to_transaction``): both land or neither does. If
   anything failed, the transaction is aborted, so a retry re-reads the batch and its dead
   letters are not doubled for ``read_committed`` readers (the replay DAG, the health check).

A crash anywhere before step 5 therefore re-reads the batch (at-least-once delivery), and the
idempotent upserts turn that into exactly-once rows; the transaction makes the dead letters
exactly-once too. The transactional id is fixed per consumer group, topic and partition set,
so a new drain's ``init_transactions`` aborts whatever a killed one left open and fences it if
it is still alive. Two drains must never work on the same partition at once; the DAGs run with
``max_active_runs=1`` for that reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated, Any

from pydantic import Field, validate_call

from kafkapipeline import settings
from kafkapipeline.drain.drainer import TopicDrainer
from kafkapipeline.drain.earlier_tries import JOIN_SECONDS, start_reporting
from kafkapipeline.drain.follow import Follower
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.kafka.lag import LagReader
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.streams.base import Stream
from kafkapipeline.streams.registry import by_name

#: A count a DAG's Param schema limits to whole numbers from 1; checked again for direct calls.
Count = Annotated[int, Field(strict=True, ge=1)]


def drain_topic(
    topic: str,
    stream: Stream,
    group_id: str,
    max_messages: int,
    *,
    partitions: Sequence[int] | None = None,
    keyspace: str | None = None,
    kafka_config_id: str = KafkaRole.DRAIN.conn_id,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
    options: DrainOptions | None = None,
    record_batch: bool = True,
    on_rows_acknowledged: Callable[[int], None] | None = None,
) -> DrainSummary:
    """
    Drain up to ``max_messages`` pending messages of ``topic`` into Cassandra as one batch; see the
    module docstring. The arguments are :class:`~kafkapipeline.drain.drainer.TopicDrainer`'s.

    :raises DrainError: when reading, any write or any dead letter failed; nothing was committed
    """
    with TopicDrainer(
        topic,
        stream,
        group_id,
        partitions=partitions,
        keyspace=keyspace,
        kafka_config_id=kafka_config_id,
        cassandra_conn_id=cassandra_conn_id,
        options=options,
        record_batch=record_batch,
        on_rows_acknowledged=on_rows_acknowledged,
    ) as drainer:
        return drainer.drain(max_messages)


@validate_call
def drain_task(
    stream: str,
    max_messages: Count,
    partitions: list[int] | None = None,
    *,
    min_batch: Count | None = None,
    max_wait_seconds: Annotated[float, Field(gt=0)] | None = None,
    ti: Any = None,
) -> dict[str, Any]:
    """The drain DAGs' task: resolve topic and consumer group now, drain a micro-batch, return its summary.

    ``stream`` is the stream's name (task arguments must serialise). ``partitions`` is one of the
    partition groups ``wait_for_batch`` returned (a mapped task); None drains them all.
    ``max_messages``, ``min_batch`` and ``max_wait_seconds`` are the Params rendered natively (checked
    before anything connects). Unless ``KAFKAPIPELINE_DRAIN_FOLLOW_SECONDS`` is 0, the task then drains
    each next batch as it becomes ready (:mod:`kafkapipeline.drain.follow`) and returns them as one
    summary. ``ti`` is Airflow's task instance (from the context): a retry logs how the tries before it
    ended (:mod:`kafkapipeline.drain.earlier_tries`) while it drains. The summary dict goes to XCom; it
    holds offsets and counts, never message contents or settings.
    """
    started = time.monotonic()
    drained = by_name(stream)
    topic = drained.topic()
    group = drain_group(topic)
    reporter = start_reporting(ti)

    try:
        # One set of connections for the batch and every batch it follows on with.
        with TopicDrainer(topic, drained, group, partitions=partitions) as drainer:
            summary = drainer.drain(max_messages)
            follow_seconds = settings.current().drain_follow_seconds
            if follow_seconds and min_batch is not None and max_wait_seconds is not None:
                with LagReader(topic, group, kafka_config_id=KafkaRole.DRAIN.conn_id) as reader:
                    follower = Follower(
                        reader,
                        partitions,
                        min_batch=min_batch,
                        max_wait_seconds=max_wait_seconds,
                        poll_seconds=settings.drain_setting("poll_seconds", 5),
                        waiting_run=None if ti is None else partial(queued_run, ti),
                    )
                    summary = follower.follow(
                        summary, lambda: drainer.drain(max_messages), until=started + follow_seconds
                    )
    finally:
        if reporter is not None:
            reporter.join(JOIN_SECONDS)
    return summary.to_dict()


def queued_run(ti: Any) -> str | None:
    """Why a following drain should end: a run of its DAG queued behind it (a manual trigger), or None.

    ``ti`` is the task instance of the Task SDK (``airflow.sdk.types.TaskInstance``); its
    ``get_dr_count`` asks the API server, which is one request per lag reading.
    """
    queued = ti.get_dr_count(dag_id=ti.dag_id, states=["queued"])
    return f"{queued} run(s) of {ti.dag_id} queued behind this one" if queued else None


def drain_group(topic: str) -> str:
    """The drain's consumer group on ``topic``: its committed offsets mark what is in Cassandra."""
    return settings.consumer_group("drain", topic)


@validate_call
def partition_groups(partitions: Sequence[int], groups: Count) -> list[list[int]]:
    """Split ``partitions`` round-robin into at most ``groups`` disjoint, non-empty groups.

    Round-robin keeps the groups within one partition of each other in size; the same inputs
    always give the same groups, so a retried task owns the same partitions (and transactional id).
    """
    ordered = sorted(set(partitions))
    count = min(groups, len(ordered))
    return [ordered[n::count] for n in range(count)] if count else []
