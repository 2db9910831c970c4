"""What each task reads and writes as assets, and what its asset events say it did.

Each ``*_assets`` function returns the task arguments a DAG file passes to ``task(...)``:
``inlets``, ``outlets`` and a ``post_execute`` hook that copies the task's result (its XCom
summary) into the ``extra`` of each outlet's event, through Airflow's public
``context["outlet_events"][asset].extra`` (the task functions stay free of Airflow). Airflow
records an event on every outlet of a task that succeeds, so the events of an asset are its batch
log; a skipped task records none.

Every extra says how many records the task put into that asset under :data:`RECORDS` (Kafka
messages, Cassandra rows, CSV rows; 0 when the run wrote none there) and, for a table whose
rows of given UTC days changed, those days under :data:`DAYS` (what ``export_csv`` exports again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from airflow.sdk import Asset

from kafkapipeline.assets.definitions import (
    StreamAssets,
    every_stream,
    export_folder_asset,
    stream_assets,
    table_asset,
)
from kafkapipeline.kafka.snapshot import PartitionProgress
from kafkapipeline.streams.base import Stream
from kafkapipeline.streams.registry import BY_TABLE
from kafkapipeline.streams.tweets import TWEETS

#: The records a task put into the asset (messages, rows, CSV rows).
RECORDS = "records"
#: The UTC days (ISO dates) of the table rows a task wrote or changed.
DAYS = "days"
#: Most files an export or import event lists (all are counted).
MAX_FILES_LISTED = 50

Extras = dict[Asset, dict[str, Any]]
ExtrasOf = Callable[[Mapping[str, Any]], Extras]


def _record(extras_of: ExtrasOf) -> Callable[[Any, Any], None]:
    """A ``post_execute`` hook writing ``extras_of(result)`` into the outlet events of the run."""

    def record_asset_events(context: Any, result: Any = None) -> None:
        if not isinstance(result, Mapping):
            return
        events = context["outlet_events"]
        for asset, extra in extras_of(result).items():
            events[asset].extra.update(extra)

    return record_asset_events


def _arguments(inlets: Iterable[Asset], outlets: Iterable[Asset], extras_of: ExtrasOf) -> dict[str, Any]:
    return {"inlets": list(inlets), "outlets": list(outlets), "post_execute": _record(extras_of)}


# -- ingest and drain --------------------------------------------------------------------------


def ingest_extras(assets: StreamAssets, result: Mapping[str, Any]) -> Extras:
    """The topic's event of an ingest run: records produced, skipped, the source and interval."""
    keys = ("topic", "source", "interval_start", "interval_end", "pages", "skipped")
    return {assets.topic: {RECORDS: result.get("produced", 0), **{k: result.get(k) for k in keys}}}


def ingest_assets(stream: Stream) -> dict[str, Any]:
    """The ingest task of ``stream`` writes its topic."""
    assets = stream_assets(stream)
    return _arguments([], [assets.topic], lambda result: ingest_extras(assets, result))


def committed_offsets(summary: Mapping[str, Any]) -> dict[str, int]:
    """Per partition (as text: JSON keys), the offset a drain committed; empty when it committed nothing."""
    if not summary.get("committed"):
        return {}
    offsets = {}
    for fields in summary.get("partitions") or []:
        progress = PartitionProgress(**fields)
        if progress.commit_offset is not None:
            offsets[str(progress.partition)] = progress.commit_offset
    return offsets


def drain_extras(assets: StreamAssets, summary: Mapping[str, Any]) -> Extras:
    """The table's and the dead-letter topic's events of one drained micro-batch."""
    batch = {"topic": summary.get("topic"), "batch_id": summary.get("batch_id")}
    return {
        assets.table: {
            RECORDS: summary.get("rows_written", 0),
            DAYS: list(summary.get("days") or []),
            **batch,
            "messages_read": summary.get("messages_read", 0),
            "dead_lettered": summary.get("dead_lettered", 0),
            "offsets_committed": committed_offsets(summary),
            "lag_after": summary.get("lag_after"),
        },
        assets.dead_letters: {
            RECORDS: summary.get("dead_lettered", 0),
            **batch,
            "rows_rejected": summary.get("rows_rejected", 0),
        },
    }


def drain_assets(stream: Stream) -> dict[str, Any]:
    """The drain task of ``stream`` reads its topic and writes its table and its dead-letter topic."""
    assets = stream_assets(stream)
    return _arguments([assets.topic], [assets.table, assets.dead_letters], lambda s: drain_extras(assets, s))


# -- maintenance -------------------------------------------------------------------------------


def _files_listed(files: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    return [{key: item.get(key) for key in keys} for item in files[:MAX_FILES_LISTED]]


def export_extras(folder: Asset, result: Mapping[str, Any]) -> Extras:
    """The export folder's event: rows and files written, per table and day."""
    files = result.get("files") or []
    return {
        folder: {
            RECORDS: result.get("rows", 0),
            DAYS: list(result.get("days") or []),
            "folder": result.get("export_dir"),
            "file_count": len(files),
            "files": _files_listed(files, ("table", "day", "rows")),
        }
    }


def export_assets() -> dict[str, Any]:
    """``export_csv`` reads every stream's table and writes the export folder."""
    folder = export_folder_asset()
    tables = [assets.table for assets in every_stream()]
    return _arguments(tables, [folder], lambda result: export_extras(folder, result))


def import_extras(result: Mapping[str, Any]) -> Extras:
    """Each stream table's event of an import run: the rows its files wrote there (0: none)."""
    extras: Extras = {}
    files = result.get("files") or []
    for table, stream in BY_TABLE.items():
        mine = [f for f in files if f.get("table") == table]
        extras[table_asset(stream.table.name)] = {
            RECORDS: sum(f.get("rows_written", 0) for f in mine),
            "bad_rows": sum(f.get("bad_rows", 0) for f in mine),
            "path": result.get("path"),
            "file_count": len(mine),
            "files": _files_listed(mine, ("path", "kind", "rows_written", "bad_rows")),
        }
    return extras


def import_assets() -> dict[str, Any]:
    """``import_csv`` reads the export folder (or any folder of the data root) and writes the tables."""
    tables = [assets.table for assets in every_stream()]
    return _arguments([export_folder_asset()], tables, import_extras)


def rescore_extras(table: Asset, result: Mapping[str, Any]) -> Extras:
    """The tweets table's event of a re-score: rows re-scored, by which model version, on which days."""
    rescored = result.get("rows_rescored", 0)
    keys = ("model", "model_version", "rows_read", "rows_skipped", "labels")
    return {
        table: {
            RECORDS: rescored,
            DAYS: list(result.get("days") or []) if rescored else [],
            **{key: result.get(key) for key in keys},
        }
    }


def rescore_assets() -> dict[str, Any]:
    """``rescore_tweets`` reads and writes the tweets table."""
    table = stream_assets(TWEETS).table
    return _arguments([table], [table], lambda result: rescore_extras(table, result))


def purge_extras(result: Mapping[str, Any]) -> Extras:
    """Each stream table's event of a purge: partitions and rows deleted (none in a dry run).

    No :data:`DAYS`: a purged day must stay in the CSV archive, not be exported again empty.
    """
    dry_run = bool(result.get("dry_run"))
    extras: Extras = {}
    for purged in result.get("tables") or []:
        if purged.get("table") not in BY_TABLE:
            continue
        extras[table_asset(purged["table"])] = {
            RECORDS: 0,
            "rows_deleted": 0 if dry_run else purged.get("rows", 0),
            "partitions_deleted": 0 if dry_run else purged.get("partitions_deleted", 0),
            "retention_days": purged.get("retention_days"),
            "kept_from": purged.get("kept_from"),
            "dry_run": dry_run,
        }
    return extras


def purge_assets() -> dict[str, Any]:
    """``purge_expired`` deletes from every stream's table."""
    tables = [assets.table for assets in every_stream()]
    return _arguments([], tables, purge_extras)


def replay_extras(streams: Sequence[StreamAssets], result: Mapping[str, Any]) -> Extras:
    """Each stream topic's event of a replay: the dead letters re-produced to it (0 for the others)."""
    replayed_topic = result.get("topic")
    written = 0 if result.get("dry_run") else result.get("replayed", 0)
    extras: Extras = {}
    for assets in streams:
        mine = assets.topic_name == replayed_topic
        extras[assets.topic] = {
            RECORDS: written if mine else 0,
            "replayed_topic": replayed_topic,
            "dead_letter_topic": result.get("dead_letter_topic"),
            "read": result.get("read", 0) if mine else 0,
            "gave_up": result.get("gave_up", 0) if mine else 0,
            "dry_run": bool(result.get("dry_run")),
        }
    return extras


def replay_assets() -> dict[str, Any]:
    """``replay_dead_letters`` reads a dead-letter topic and writes its source topic (the ``topic`` Param)."""
    streams = every_stream()
    return _arguments(
        [assets.dead_letters for assets in streams],
        [assets.topic for assets in streams],
        lambda result: replay_extras(streams, result),
    )


# -- what changed ------------------------------------------------------------------------------


def changed_days(events: Mapping[str, Sequence[Mapping[str, Any]]], before: date) -> dict[str, list[date]]:
    """Per stream table, the days before ``before`` whose rows the events (extras by asset URI) changed.

    ``export_csv`` exports again these when the tables' events trigger it: rows of a finished day
    that arrived after its export (a drain catching up past midnight, a re-score, a replay).
    """
    by_uri = {table_asset(table).uri: table for table in BY_TABLE}
    changed: dict[str, set[date]] = {}
    for uri, extras in events.items():
        table = by_uri.get(uri)
        if table is None:
            continue
        for extra in extras:
            if not extra.get(RECORDS):
                continue
            for text in extra.get(DAYS) or []:
                day = date.fromisoformat(str(text))
                if day < before:
                    changed.setdefault(table, set()).add(day)
    return {table: sorted(days) for table, days in changed.items()}
