"""The pipeline's assets as OpenLineage datasets, named as OpenLineage names them.

* a topic ``kafka://<server>/<topic>``: namespace ``kafka://<server>``, name ``<topic>`` (as the
  Kafka provider's converter does);
* a table ``cassandra://<server>/<keyspace>/<table>``: namespace ``cassandra://<server>``, name
  ``<keyspace>.<table>`` (OpenLineage's naming for Cassandra; no provider converts this scheme);
* a folder ``file://<host>/<path>``: namespace ``file`` (or ``file://<host>``), name ``<path>`` (as
  the common-io provider does).

An output carries the records the task put into it (its asset event's ``records``) as the
``outputStatistics`` facet's ``rowCount``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import Asset
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import output_statistics_output_dataset

from kafkapipeline.assets.definitions import CASSANDRA, KAFKA
from kafkapipeline.assets.tasks import RECORDS


def dataset_name(asset: Asset) -> tuple[str, str] | None:
    """``(namespace, name)`` of ``asset`` in OpenLineage, or None for a URI of another scheme."""
    parts = urlsplit(asset.uri)
    path = parts.path.strip("/")
    if parts.scheme == KAFKA and path:
        return f"{KAFKA}://{parts.netloc}", path
    if parts.scheme == CASSANDRA and path.count("/") == 1:
        return f"{CASSANDRA}://{parts.netloc}", path.replace("/", ".")
    if parts.scheme == "file":
        return (f"file://{parts.netloc}" if parts.netloc else "file"), parts.path
    return None


def input_datasets(assets: Iterable[Any]) -> list[InputDataset]:
    """The task's inlets that are assets of ours, as inputs."""
    found = []
    for asset in assets:
        named = dataset_name(asset) if isinstance(asset, Asset) else None
        if named:
            found.append(InputDataset(namespace=named[0], name=named[1]))
    return found


def output_datasets(assets: Iterable[Any], extras: Mapping[Asset, Mapping[str, Any]]) -> list[OutputDataset]:
    """The task's outlets that are assets of ours, as outputs with their events' record counts."""
    found = []
    for asset in assets:
        named = dataset_name(asset) if isinstance(asset, Asset) else None
        if not named:
            continue
        records = (extras.get(asset) or {}).get(RECORDS)
        facets: dict[str, Any] = {}
        if isinstance(records, int) and not isinstance(records, bool):
            facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=records
            )
        found.append(OutputDataset(namespace=named[0], name=named[1], outputFacets=facets))
    return found
