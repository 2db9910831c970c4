"""Every DAG declares what it reads and writes as assets, with URIs from the settings, none at parse time
from a connection or the network; the daily export also runs on the tables' asset events."""

from __future__ import annotations

import pytest

from kafkapipeline import settings
from kafkapipeline.assets.definitions import export_folder_asset, stream_assets
from kafkapipeline.streams.tweets import TWEETS
from kafkapipeline.streams.weather import WEATHER
from tests.dags.test_dag_integrity import DAGS_FOLDER, PARSE_WITHOUT_IO, parse_without_io


def names(assets) -> list[str]:
    return sorted(asset.name for asset in assets)


def expected() -> dict[tuple[str, str], tuple[list[str], list[str]]]:
    """(dag_id, task_id) -> (inlets, outlets), by asset name."""
    tweets, weather = stream_assets(TWEETS), stream_assets(WEATHER)
    tables = [tweets.table.name, weather.table.name]
    folder = export_folder_asset().name
    return {
        ("ingest_tweets", "produce_tweets"): ([], [tweets.topic.name]),
        ("ingest_weather", "produce_weather"): ([], [weather.topic.name]),
        ("drain_tweets", "drain"): ([tweets.topic.name], [tweets.dead_letters.name, tweets.table.name]),
        ("drain_weather", "drain"): ([weather.topic.name], [weather.dead_letters.name, weather.table.name]),
        ("export_csv", "export_day"): (tables, [folder]),
        ("import_csv", "import_files"): ([folder], tables),
        ("rescore_tweets", "rescore"): ([tweets.table.name], [tweets.table.name]),
        ("purge_expired", "purge"): ([], tables),
        ("replay_dead_letters", "replay"): (
            [tweets.dead_letters.name, weather.dead_letters.name],
            [tweets.topic.name, weather.topic.name],
        ),
    }


def test_every_task_declares_the_assets_it_reads_and_writes(dag_bag):
    wanted = expected()
    found = {}
    for dag_id, dag in dag_bag.dags.items():
        for task in dag.tasks:
            if task.inlets or task.outlets:
                found[(dag_id, task.task_id)] = (sorted(names(task.inlets)), sorted(names(task.outlets)))
    assert found == {key: (sorted(i), sorted(o)) for key, (i, o) in wanted.items()}


def test_the_daily_export_also_runs_on_either_tables_asset_events(dag_bag):
    from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronDataIntervalTimetable

    timetable = dag_bag.dags["export_csv"].timetable
    assert type(timetable).__name__ == AssetOrTimeSchedule.__name__
    condition = timetable.asset_condition
    assert type(condition).__name__ == AssetAny.__name__
    assert names(condition.objects) == sorted(
        [stream_assets(TWEETS).table.name, stream_assets(WEATHER).table.name]
    )
    clock = timetable.timetable
    assert type(clock).__name__ == CronDataIntervalTimetable.__name__
    assert (clock.expression, str(clock.timezone)) == ("0 0 * * *", "UTC")


PRINT_ASSETS = PARSE_WITHOUT_IO.replace(
    'print(json.dumps({"dags": sorted(bag.dags), "errors"',
    "uris = sorted({a.uri for d in bag.dags.values() for t in d.tasks for a in [*t.inlets, *t.outlets]})\n"
    'print(json.dumps({"uris": uris, "dags": sorted(bag.dags), "errors"',
)


def test_asset_uris_follow_the_settings_and_parsing_touches_no_network_nor_connection(tmp_path):
    assert PRINT_ASSETS != PARSE_WITHOUT_IO
    report = parse_without_io(
        PRINT_ASSETS,
        KAFKAPIPELINE_ASSET_KAFKA_SERVER="kafka-a.example:19092",
        KAFKAPIPELINE_ASSET_CASSANDRA_SERVER="cassandra-a.example:19042",
        KAFKAPIPELINE_KEYSPACE="other_space",
        KAFKAPIPELINE_TWEETS_TOPIC="tweets_v2",
        KAFKAPIPELINE_DATA_ROOT=str(tmp_path),
    )
    assert report["errors"] == {}
    weather = settings.current().weather_topic
    assert report["uris"] == sorted(
        [
            "kafka://kafka-a.example:19092/tweets_v2",
            "kafka://kafka-a.example:19092/tweets_v2.dlq",
            f"kafka://kafka-a.example:19092/{weather}",
            f"kafka://kafka-a.example:19092/{weather}.dlq",
            "cassandra://cassandra-a.example:19042/other_space/tweets",
            "cassandra://cassandra-a.example:19042/other_space/weather_reports",
            (tmp_path / "exports").as_uri(),
        ]
    )


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))
