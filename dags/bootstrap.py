"""
### bootstrap

Brings the pipeline's storage to the wanted state; safe to run any time. **Manual** (the run
command triggers it on start). Connections: `cassandra_default`, `kafka_default`.

1. **apply_cql_migrations** applies the pending files of `include/cql/` to the keyspace
   (`KAFKAPIPELINE_KEYSPACE`), recorded in `<keyspace>.schema_migrations`.
2. **create_kafka_topics** creates the source topics and their `.dlq` topics, grows partition
   counts and aligns retention to the Params.
3. **report** says what changed; a second run reports that nothing did.

**Params**: partitions per topic, `retention_hours` (168), `dead_letter_retention_hours` (720),
`topic_replication_factor` (blank: `KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR`),
`alter_keyspace_replication` (ALTER the keyspace to `KAFKAPIPELINE_REPLICATION`, then repair:
docs/cluster.md).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from kafkapipeline.maintenance.bootstrap import apply_cql_migrations, create_kafka_topics, report_bootstrap
from kafkapipeline.params.rendering import param
from kafkapipeline.streams.registry import STREAMS

#: Ten years: far beyond any real retention, and well inside Kafka's 64-bit retention.ms.
MAX_RETENTION_HOURS = 10 * 365 * 24
#: Most partitions a topic may be given here (one drain task per partition group at most).
MAX_PARTITIONS = 64


@dag(
    dag_id="bootstrap",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.params.rendering)
    tags=["kafkapipeline", "bootstrap"],
    default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        **{
            stream.partitions_param: Param(
                stream.default_partitions,
                type="integer",
                minimum=1,
                maximum=MAX_PARTITIONS,
                description=f"Partitions of the {stream.name} topic",
            )
            for stream in STREAMS.values()
        },
        "retention_hours": Param(
            168,
            type="integer",
            minimum=1,
            maximum=MAX_RETENTION_HOURS,
            description="How long the source topics keep messages",
        ),
        "dead_letter_retention_hours": Param(
            720,
            type="integer",
            minimum=1,
            maximum=MAX_RETENTION_HOURS,
            description="How long the .dlq topics keep messages",
        ),
        "topic_replication_factor": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Replicas per partition of new topics (blank: the setting)",
        ),
        "alter_keyspace_replication": Param(
            False,
            type="boolean",
            description="ALTER an existing keyspace to KAFKAPIPELINE_REPLICATION (then run a repair)",
        ),
    },
)
def bootstrap():
    schema = task(task_id="apply_cql_migrations")(apply_cql_migrations)(
        alter_keyspace_replication=param("alter_keyspace_replication"),
    )
    topics = task(task_id="create_kafka_topics")(create_kafka_topics)(
        partitions={stream.name: param(stream.partitions_param) for stream in STREAMS.values()},
        retention_hours=param("retention_hours"),
        dead_letter_retention_hours=param("dead_letter_retention_hours"),
        replication_factor=param("topic_replication_factor"),
    )
    task(task_id="report")(report_bootstrap)(schema, topics)


bootstrap()
