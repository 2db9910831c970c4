"""OpenLineage datasets of the pipeline's assets, with the row counts of their events (no services)."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from airflow.providers.apache.kafka.assets.kafka import convert_asset_to_openlineage as kafka_to_ol
from airflow.providers.common.io.assets.file import convert_asset_to_openlineage as file_to_ol

from kafkapipeline import settings
from kafkapipeline.assets.definitions import export_folder_asset, stream_assets, topic_asset
from kafkapipeline.assets.tasks import RECORDS, drain_assets, drain_extras
from kafkapipeline.lineage.datasets import dataset_name, input_datasets, output_datasets
from kafkapipeline.lineage.extractor import PipelineTaskExtractor
from kafkapipeline.streams.tweets import TWEETS
from tests.unit.assets.test_asset_events import drain_summary


def test_topics_and_folders_are_named_as_the_providers_name_them():
    for asset, provider in ((topic_asset("tweets.dlq"), kafka_to_ol), (export_folder_asset(), file_to_ol)):
        theirs = provider(asset, None)
        assert dataset_name(asset) == (theirs.namespace, theirs.name)


def test_a_table_is_named_by_server_then_keyspace_dot_table(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_ASSET_CASSANDRA_SERVER", "db.example:9042")
    table = stream_assets(TWEETS).table
    assert dataset_name(table) == ("cassandra://db.example:9042", f"{settings.keyspace()}.tweets")


def test_the_facets_of_a_drain_summary_name_the_topic_table_and_dlq_with_their_counts():
    assets = stream_assets(TWEETS)
    extras = drain_extras(assets, drain_summary())
    [topic] = input_datasets([assets.topic])
    table, dlq = output_datasets([assets.table, assets.dead_letters], extras)
    assert (topic.namespace, topic.name) == (f"kafka://{urlsplit(assets.topic.uri).netloc}", "tweets")
    assert table.name == f"{settings.keyspace()}.tweets"
    assert table.outputFacets["outputStatistics"].rowCount == 9
    assert (dlq.name, dlq.outputFacets["outputStatistics"].rowCount) == ("tweets.dlq", 2)


def test_an_output_without_a_count_has_no_statistics_and_other_schemes_are_left_out():
    from airflow.sdk import Asset

    assets = stream_assets(TWEETS)
    [table] = output_datasets([assets.table, Asset("s3://bucket/key")], {assets.table: {RECORDS: None}})
    assert table.outputFacets == {}


class TaskInstance:
    def __init__(self, events) -> None:
        self.events = events

    def get_template_context(self):
        return {"outlet_events": self.events}


@pytest.fixture
def drain_task():
    from airflow.sdk import DAG, task

    from kafkapipeline.drain.task import drain_task as drain_fn

    with DAG(dag_id="lineage_unit", schedule=None):
        return task(task_id="drain", **drain_assets(TWEETS))(drain_fn)(
            stream="tweets", max_messages=1
        ).operator


def test_the_extractor_reports_inlets_and_outlets_and_the_counts_when_the_task_completes(drain_task):
    assets = stream_assets(TWEETS)
    extractor = PipelineTaskExtractor(drain_task)
    started = extractor.extract()
    assert [d.name for d in started.inputs] == ["tweets"]
    assert [d.name for d in started.outputs] == [f"{settings.keyspace()}.tweets", "tweets.dlq"]
    events = {
        asset: SimpleNamespace(extra=extra) for asset, extra in drain_extras(assets, drain_summary()).items()
    }
    done = extractor.extract_on_complete(TaskInstance(events))
    assert [d.outputFacets["outputStatistics"].rowCount for d in done.outputs] == [9, 2]
    assert extractor.extract_on_complete(object()).outputs[0].outputFacets == {}  # no context: no counts
    assert "_PythonDecoratedOperator" in PipelineTaskExtractor.get_operator_classnames()
    assert drain_task.task_type in PipelineTaskExtractor.get_operator_classnames()
