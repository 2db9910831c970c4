"""
### replay_dead_letters

Re-produces the dead letters of `<topic>.dlq` to the topic they failed on (never another), with
their original key and value, once their cause is fixed, so the drain tries them again; a dead
letter already replayed `max_replays` times is given up and stays. DLQ offsets are committed only
after Kafka acknowledged every re-produced message. **Manual**.

**Params**: `topic` (the source topic; the only one written), `max_messages`, `max_replays` (1),
`dry_run` (report only). The XCom has the counts: read, replayed, gave_up, unreadable, wrong_topic
(with their offsets), by_reason. Details: docs/dead-letters.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from kafkapipeline import settings
from kafkapipeline.assets.tasks import replay_assets
from kafkapipeline.dead_letters.replay import (
    DEFAULT_MAX_MESSAGES,
    DEFAULT_MAX_REPLAYS,
    replay_dead_letters_task,
)
from kafkapipeline.params.rendering import param


@dag(
    dag_id="replay_dead_letters",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.params.rendering)
    tags=["kafkapipeline", "maintenance", "dead-letters"],
    default_args={"owner": "data-platform", "retries": 1, "retry_delay": timedelta(minutes=1)},
    params={
        "topic": Param(
            settings.tweets_topic(),
            type="string",
            minLength=1,
            # Kafka allows 249 characters; 245 leaves room for ".dlq". Not "." or "..", not a DLQ.
            maxLength=245,
            pattern=r"^(?!\.{1,2}$)(?!.*\.dlq$)[a-zA-Z0-9._-]{1,245}$",
            description="Source topic whose dead letters (<topic>.dlq) are replayed; the only topic written",
        ),
        "max_messages": Param(
            DEFAULT_MAX_MESSAGES,
            type="integer",
            minimum=1,
            maximum=1_000_000,
            description="Most dead letters read",
        ),
        "max_replays": Param(
            DEFAULT_MAX_REPLAYS,
            type="integer",
            minimum=1,
            maximum=100,
            description="A dead letter replayed this many times already is given up",
        ),
        "dry_run": Param(False, type="boolean", description="Only report; produce and commit nothing"),
    },
)
def replay_dead_letters():
    task(task_id="replay", **replay_assets())(replay_dead_letters_task)(
        topic=param("topic"),
        max_messages=param("max_messages"),
        max_replays=param("max_replays"),
        dry_run=param("dry_run"),
    )


replay_dead_letters()
