"""What each task's asset events say it did: from its XCom summary, written by its post_execute hook."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import date
from types import SimpleNamespace

from airflow.sdk import Asset

from kafkapipeline.assets.definitions import export_folder_asset, stream_assets, table_asset
from kafkapipeline.assets.tasks import (
    DAYS,
    RECORDS,
    changed_days,
    drain_assets,
    drain_extras,
    export_extras,
    import_extras,
    ingest_extras,
    purge_extras,
    replay_extras,
    rescore_extras,
)
from kafkapipeline.csvio.export import changed_days_of_run
from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.kafka.snapshot import PartitionProgress
from kafkapipeline.streams.tweets import TWEETS
from kafkapipeline.streams.weather import WEATHER


def drain_summary(committed: bool = True) -> dict:
    summary = DrainSummary(topic="tweets", stream="tweets", group_id="g", batch_id="p0:10-19;p1:5-5")
    summary.messages_read, summary.rows_written, summary.dead_lettered = 11, 9, 2
    summary.committed, summary.lag_after, summary.days = committed, 0, ["2026-03-01", "2026-03-02"]
    summary.partitions = [
        PartitionProgress(0, 10, 20, 10, 19, 10, True, True),  # read to the snapshot end
        PartitionProgress(1, 5, 9, 5, 5, 1, True, False),  # budget spent: commit after the last one
        PartitionProgress(2, 7, 7),  # nothing pending
    ]
    out = summary.to_dict()
    out["partitions"] = [asdict(p) for p in summary.partitions]
    return out


def test_a_drained_batch_gives_its_table_rows_days_and_offsets_and_its_dlq_the_dead_letters():
    assets = stream_assets(TWEETS)
    extras = drain_extras(assets, drain_summary())
    table = extras[assets.table]
    assert (table[RECORDS], table["messages_read"], table["dead_lettered"]) == (9, 11, 2)
    assert table[DAYS] == ["2026-03-01", "2026-03-02"]
    assert table["offsets_committed"] == {"0": 20, "1": 6}
    assert (table["batch_id"], table["topic"], table["lag_after"]) == ("p0:10-19;p1:5-5", "tweets", 0)
    assert extras[assets.dead_letters][RECORDS] == 2
    assert drain_extras(assets, drain_summary(committed=False))[assets.table]["offsets_committed"] == {}


def test_the_post_execute_hook_writes_the_extras_into_the_runs_outlet_events():
    arguments = drain_assets(TWEETS)
    assets = stream_assets(TWEETS)
    assert arguments["inlets"] == [assets.topic]
    assert arguments["outlets"] == [assets.table, assets.dead_letters]
    events: defaultdict[Asset, SimpleNamespace] = defaultdict(lambda: SimpleNamespace(extra={}))
    arguments["post_execute"]({"outlet_events": events}, drain_summary())
    assert events[assets.table].extra[RECORDS] == 9
    assert events[assets.dead_letters].extra[RECORDS] == 2
    arguments["post_execute"]({"outlet_events": (untouched := defaultdict(dict))}, None)
    assert untouched == {}


def test_an_ingest_event_counts_the_records_produced():
    assets = stream_assets(WEATHER)
    extra = ingest_extras(assets, {"produced": 12, "skipped": 1, "source": "replay", "topic": "weather"})
    assert extra[assets.topic][RECORDS] == 12
    assert (extra[assets.topic]["skipped"], extra[assets.topic]["source"]) == (1, "replay")


def test_a_replay_writes_only_the_topic_it_replayed_to_and_nothing_in_a_dry_run():
    streams = [stream_assets(TWEETS), stream_assets(WEATHER)]
    result = {"topic": streams[1].topic_name, "replayed": 4, "read": 5, "gave_up": 1, "dry_run": False}
    extras = replay_extras(streams, result)
    assert (extras[streams[1].topic][RECORDS], extras[streams[0].topic][RECORDS]) == (4, 0)
    assert extras[streams[1].topic]["gave_up"] == 1
    dry = replay_extras(streams, {**result, "dry_run": True})
    assert dry[streams[1].topic][RECORDS] == 0


def test_a_purge_counts_deletions_and_names_no_days_to_re_export():
    result = {
        "dry_run": False,
        "tables": [{"table": "tweets", "rows": 30, "partitions_deleted": 2, "retention_days": 30}],
    }
    [extra] = purge_extras(result).values()
    assert (extra["rows_deleted"], extra["partitions_deleted"], extra[RECORDS]) == (30, 2, 0)
    assert DAYS not in extra
    [dry] = purge_extras({**result, "dry_run": True}).values()
    assert dry["rows_deleted"] == 0


def test_a_rescore_names_its_days_only_when_it_changed_rows():
    table = stream_assets(TWEETS).table
    result = {"rows_rescored": 3, "days": ["2026-03-01"], "model": "learned", "model_version": "v7"}
    assert rescore_extras(table, result)[table][DAYS] == ["2026-03-01"]
    assert rescore_extras(table, result)[table]["model_version"] == "v7"
    assert rescore_extras(table, {**result, "rows_rescored": 0})[table][DAYS] == []


def test_an_import_counts_each_tables_rows_from_its_files():
    result = {
        "path": "/data/seed",
        "files": [
            {"path": "a.csv", "table": "tweets", "rows_written": 5, "bad_rows": 1},
            {"path": "b.csv", "table": "tweets", "rows_written": 2, "bad_rows": 0},
        ],
    }
    extras = import_extras(result)
    assert extras[table_asset("tweets")][RECORDS] == 7
    assert extras[table_asset("tweets")]["bad_rows"] == 1
    assert extras[table_asset("weather_reports")][RECORDS] == 0


def test_an_export_event_counts_rows_and_lists_files():
    folder = export_folder_asset()
    result = {
        "export_dir": "/x",
        "days": ["2026-03-01"],
        "rows": 8,
        "files": [{"table": "tweets", "rows": 8}],
    }
    extra = export_extras(folder, result)[folder]
    assert (extra[RECORDS], extra["file_count"], extra["files"][0]["rows"]) == (8, 1, 8)


def test_changed_days_keeps_finished_days_of_tables_that_got_records():
    tweets, weather = table_asset("tweets").uri, table_asset("weather_reports").uri
    events = {
        tweets: [
            {RECORDS: 3, DAYS: ["2026-03-01", "2026-03-02"]},
            {RECORDS: 0, DAYS: ["2026-02-01"]},  # wrote nothing: changed nothing
            {RECORDS: 1, DAYS: ["2026-03-01"]},
        ],
        weather: [{RECORDS: 2, DAYS: ["2026-03-02"]}],  # today only
        "kafka://127.0.0.1:9092/tweets": [{RECORDS: 5, DAYS: ["2026-03-01"]}],  # not a table
    }
    assert changed_days(events, before=date(2026, 3, 2)) == {"tweets": [date(2026, 3, 1)]}


def test_an_asset_triggered_export_reads_the_runs_triggering_events_for_the_chosen_tables():
    tweets, weather = table_asset("tweets"), table_asset("weather_reports")
    triggering = {
        tweets: [SimpleNamespace(extra={RECORDS: 1, DAYS: ["2026-03-01"]})],
        weather: [SimpleNamespace(extra={RECORDS: 1, DAYS: ["2026-02-28"]})],
    }
    every = changed_days_of_run(triggering, [], date(2026, 3, 2))
    assert every == {"tweets": [date(2026, 3, 1)], "weather_reports": [date(2026, 2, 28)]}
    assert changed_days_of_run(triggering, ["weather_reports"], date(2026, 3, 2)) == {
        "weather_reports": [date(2026, 2, 28)]
    }
