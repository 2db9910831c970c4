"""The bootstrap DAG against the real Cassandra and Kafka: it creates the schema and the
topics, and a second run changes nothing and says so."""

from __future__ import annotations

import pytest

from tests.conftest import unique_name

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {"schema_migrations", "weather_reports", "tweets", "drain_batches", "pipeline_health"}


def _run_bootstrap(conf: dict | None = None):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import DAGS_FOLDER

    dag = DagBag(dag_folder=str(DAGS_FOLDER / "bootstrap.py")).get_dag("bootstrap")
    return dag.test(run_conf=conf or {})


def _xcom(dag_run, task_id: str):
    ti = next(t for t in dag_run.get_task_instances() if t.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id)


@pytest.fixture
def isolated_names(monkeypatch, cassandra, kafka_hook):
    """A keyspace and topic names nobody else uses, removed afterwards."""
    keyspace = unique_name("boot")
    tweets, weather = unique_name("tweets"), unique_name("weather")
    monkeypatch.setenv("KAFKAPIPELINE_KEYSPACE", keyspace)
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", tweets)
    monkeypatch.setenv("KAFKAPIPELINE_WEATHER_TOPIC", weather)
    yield keyspace, [tweets, weather, f"{tweets}.dlq", f"{weather}.dlq"]
    cassandra.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
    kafka_hook.admin().delete_topics([tweets, weather, f"{tweets}.dlq", f"{weather}.dlq"])


def test_bootstrap_creates_schema_and_topics_then_is_a_no_op(
    airflow_db, isolated_names, cassandra, kafka_hook
):
    keyspace, topics = isolated_names

    first = _run_bootstrap({"tweets_partitions": 4, "weather_partitions": 2, "retention_hours": 48})
    assert first.state == "success"
    first_report = _xcom(first, "report")
    assert first_report.startswith("Bootstrap changed")

    tables = {
        row.table_name
        for row in cassandra.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
        )
    }
    assert tables >= EXPECTED_TABLES
    applied = {row.version for row in cassandra.execute(f"SELECT version FROM {keyspace}.schema_migrations")}
    assert applied == set(range(1, len(applied) + 1)) and len(applied) >= 6

    metadata = kafka_hook.admin().list_topics(timeout=10)
    partitions = {name: len(metadata.topics[name].partitions) for name in topics}
    assert partitions == {topics[0]: 4, topics[1]: 2, topics[2]: 1, topics[3]: 1}

    second = _run_bootstrap({"tweets_partitions": 4, "weather_partitions": 2, "retention_hours": 48})
    assert second.state == "success"
    assert _xcom(second, "report").startswith("Nothing to do")
    assert _xcom(second, "apply_cql_migrations")["applied"] == []
    assert _xcom(second, "create_kafka_topics")["changed"] is False


def test_bootstrap_grows_partitions_and_changes_retention(airflow_db, isolated_names, kafka_hook):
    _, topics = isolated_names
    assert _run_bootstrap({"tweets_partitions": 1, "weather_partitions": 1}).state == "success"

    grown = _run_bootstrap({"tweets_partitions": 3, "weather_partitions": 1, "retention_hours": 12})
    topic_report = _xcom(grown, "create_kafka_topics")
    assert topic_report["partitions_increased"] == [topics[0]]
    assert set(topic_report["retention_changed"]) == {topics[0], topics[1]}
    metadata = kafka_hook.admin().list_topics(timeout=10)
    assert len(metadata.topics[topics[0]].partitions) == 3
