"""Every topic, dead-letter topic, table and the CSV export folder as an Airflow :class:`Asset`.

One URI each, derived from the stream definitions and the settings, never from a connection or
the network (DAG files call these while they are parsed):

* a topic: ``kafka://<KAFKAPIPELINE_ASSET_KAFKA_SERVER>/<topic>``, the Kafka provider's scheme
  (its ``sanitize_uri`` wants a host and a topic; OpenLineage turns it into namespace
  ``kafka://<server>``, name ``<topic>``), its dead-letter topic ``.../<topic>.dlq`` the same way;
* a table: ``cassandra://<KAFKAPIPELINE_ASSET_CASSANDRA_SERVER>/<keyspace>/<table>``;
* the CSV export folder: ``file://<data root>/<export dir>``.

The server settings name the cluster, as the connections reach it; they are settings because a
DAG file may not look a connection up. Names are short and unique (``kafka/tweets``,
``cassandra/kafkapipeline.tweets``, ``csv/exports``); the group says the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from airflow.sdk import Asset

from kafkapipeline import settings
from kafkapipeline.streams.base import Stream
from kafkapipeline.streams.registry import STREAMS

KAFKA = "kafka"
CASSANDRA = "cassandra"
CSV = "csv"


def topic_asset(topic: str) -> Asset:
    """The asset of Kafka topic ``topic`` (a source topic or a ``.dlq``)."""
    if not topic or "/" in topic:
        raise ValueError(f"not a Kafka topic name: {topic!r}")
    server = settings.current().asset_kafka_server
    return Asset(name=f"{KAFKA}/{topic}", uri=f"{KAFKA}://{server}/{topic}", group=KAFKA)


def table_asset(table: str, keyspace: str | None = None) -> Asset:
    """The asset of Cassandra table ``<keyspace>.<table>`` (the pipeline's keyspace by default)."""
    if not table.isidentifier():
        raise ValueError(f"not a Cassandra table name: {table!r}")
    space = settings.keyspace(keyspace)
    server = settings.current().asset_cassandra_server
    return Asset(
        name=f"{CASSANDRA}/{space}.{table}", uri=f"{CASSANDRA}://{server}/{space}/{table}", group=CASSANDRA
    )


def export_folder_asset() -> Asset:
    """The CSV export folder (``KAFKAPIPELINE_EXPORT_DIR`` inside the data root) as a ``file://`` asset.

    Path arithmetic only: nothing is resolved on disk while a DAG file is parsed.
    """
    folder = Path(settings.current().export_dir)
    path = (folder if folder.is_absolute() else settings.data_root() / folder).absolute()
    # Named by the whole path: an asset's name must be as unique as its URI among active assets.
    return Asset(name=f"{CSV}{path}", uri=path.as_uri(), group=CSV)


@dataclass(frozen=True)
class StreamAssets:
    """One stream's assets: its topic (named ``topic_name``), its dead-letter topic and its table."""

    topic_name: str
    topic: Asset
    dead_letters: Asset
    table: Asset


def stream_assets(stream: Stream) -> StreamAssets:
    """``stream``'s assets, its topic read from the settings now."""
    topic = stream.topic()
    return StreamAssets(
        topic_name=topic,
        topic=topic_asset(topic),
        dead_letters=topic_asset(settings.dead_letter_topic(topic)),
        table=table_asset(stream.table.name),
    )


def every_stream() -> list[StreamAssets]:
    """The assets of every stream of the registry, in its order."""
    return [stream_assets(stream) for stream in STREAMS.values()]
