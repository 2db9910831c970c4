"""Asset URIs come from the stream definitions and the settings, in the schemes the providers read."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from airflow.providers.apache.kafka.assets.kafka import sanitize_uri

from kafkapipeline import settings
from kafkapipeline.assets.definitions import (
    every_stream,
    export_folder_asset,
    stream_assets,
    table_asset,
    topic_asset,
)
from kafkapipeline.streams.registry import STREAMS
from kafkapipeline.streams.tweets import TWEETS


def test_a_topic_is_a_kafka_provider_uri_on_the_configured_server(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_ASSET_KAFKA_SERVER", "broker-1.example:9093")
    asset = topic_asset("tweets")
    assert asset.uri == "kafka://broker-1.example:9093/tweets"
    assert (asset.name, asset.group) == ("kafka/tweets", "kafka")
    # The Kafka provider's normaliser (its asset-uris handler) accepts it unchanged.
    assert sanitize_uri(urlsplit(asset.uri)).geturl() == asset.uri


@pytest.mark.parametrize("bad", ["", "a/b"])
def test_a_topic_name_that_cannot_be_a_uri_path_is_refused(bad):
    with pytest.raises(ValueError, match="not a Kafka topic name"):
        topic_asset(bad)


def test_a_table_names_server_keyspace_and_table(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_ASSET_CASSANDRA_SERVER", "cassandra-1.example:9142")
    monkeypatch.setenv("KAFKAPIPELINE_KEYSPACE", "pipeline_test")
    asset = table_asset("weather_reports")
    assert asset.uri == "cassandra://cassandra-1.example:9142/pipeline_test/weather_reports"
    assert asset.name == "cassandra/pipeline_test.weather_reports"
    with pytest.raises(ValueError, match="not a Cassandra table name"):
        table_asset("tweets; DROP")


def test_a_server_setting_with_a_path_or_user_is_refused(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_ASSET_KAFKA_SERVER", "user@host:9092/x")
    with pytest.raises(settings.SettingsError, match="KAFKAPIPELINE_ASSET_KAFKA_SERVER"):
        topic_asset("tweets")


def test_each_stream_gets_its_topic_its_dead_letter_topic_and_its_table(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", "tweets_v2")
    assets = stream_assets(TWEETS)
    assert assets.topic_name == "tweets_v2"
    assert assets.topic.uri.endswith("/tweets_v2")
    assert assets.dead_letters.uri.endswith("/tweets_v2.dlq")
    assert assets.table.uri.endswith(f"/{settings.keyspace()}/{TWEETS.table.name}")
    assert [a.table.name for a in every_stream()] == [
        f"cassandra/{settings.keyspace()}.{s.table.name}" for s in STREAMS.values()
    ]


def test_every_asset_has_its_own_name_and_uri():
    assets = [export_folder_asset()]
    for stream in every_stream():
        assets += [stream.topic, stream.dead_letters, stream.table]
    assert len({a.name for a in assets}) == len({a.uri for a in assets}) == len(assets)


def test_the_export_folder_is_a_file_uri_inside_the_data_root_without_touching_the_disk(
    tmp_path, monkeypatch
):
    root = tmp_path / "not-created-yet"
    monkeypatch.setenv("KAFKAPIPELINE_DATA_ROOT", str(root))
    monkeypatch.setenv("KAFKAPIPELINE_EXPORT_DIR", "archive/csv")
    asset = export_folder_asset()
    assert asset.uri == (root / "archive" / "csv").as_uri()
    assert (asset.name, asset.group) == (f"csv{root / 'archive' / 'csv'}", "csv")
    assert not root.exists()
    monkeypatch.setenv("KAFKAPIPELINE_EXPORT_DIR", str(tmp_path / "elsewhere"))
    assert Path(urlsplit(export_folder_asset().uri).path) == tmp_path / "elsewhere"
