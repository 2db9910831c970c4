"""The drain DAGs' wiring, written once for every stream (``dags/drain_<stream>.py`` call it).

A drain DAG is ``@continuous`` with one active run: ``wait_for_batch`` (a deferrable sensor on the
drain group's lag) >> ``plan_partition_groups`` >> ``drain`` (mapped, one task per partition group).
Its DAG file keeps what differs per stream: dag_id, documentation, the batch defaults.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pendulum
from airflow.sdk import task

from kafkapipeline import settings
from kafkapipeline.dag_params import param
from kafkapipeline.drain.task import (
    drain_default_args,
    drain_group,
    drain_params,
    drain_task,
    plan_partition_groups,
)
from kafkapipeline.kafka.lag_sensor import WaitForConsumerLagSensor
from kafkapipeline.streams import Stream

#: An idle topic ends a run as skipped after this long; the next run starts at once.
SENSOR_TIMEOUT = timedelta(hours=1)


def drain_dag_arguments(stream: Stream, *, min_batch: int, max_wait_seconds: int) -> dict[str, Any]:
    """The DAG arguments every drain DAG shares; ``min_batch``/``max_wait_seconds``: its Params' defaults."""
    return {
        "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
        "catchup": False,
        "max_active_runs": 1,  # two drains never work on the same partitions
        "render_template_as_native_obj": True,  # Params reach the task typed (kafkapipeline.dag_params)
        "tags": ["kafkapipeline", "drain", stream.name],
        "default_args": drain_default_args(),
        "params": drain_params(min_batch=min_batch, max_wait_seconds=max_wait_seconds),
        # Resolved when templates render (at run time), so the topic follows the environment.
        "user_defined_macros": {"stream_topic": stream.topic, "drain_group": drain_group},
    }


def drain_pipeline(stream: Stream) -> None:
    """The drain's tasks for ``stream``, in the DAG being defined (call it inside ``with DAG(...)``)."""
    wait_for_batch = WaitForConsumerLagSensor(
        task_id="wait_for_batch",
        topic="{{ stream_topic() | pprint }}",
        group_id="{{ drain_group(stream_topic()) | pprint }}",
        min_batch=param("min_batch"),
        max_wait_seconds=param("max_wait_seconds"),
        poll_interval=settings.drain_setting("poll_seconds", 5),
        timeout=SENSOR_TIMEOUT,
        soft_fail=True,
    )
    groups = task(task_id="plan_partition_groups")(plan_partition_groups)(
        kind=stream.kind,
        groups=cast(Any, param("partition_groups")),  # a template here, an int when the task runs
    )
    drain = (
        task(task_id="drain")(drain_task)
        .partial(kind=stream.kind, max_messages=param("max_messages"))
        .expand(partitions=groups)
    )
    wait_for_batch >> groups >> drain
