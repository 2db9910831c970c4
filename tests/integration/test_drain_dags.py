"""The drain DAGs run by Airflow (``dag.test()``): the sensor defers, its trigger fires, the rows land.

``dag.test()`` runs the sensor's ``execute`` on the way a worker would (it never starts a task from the
trigger), so this is the worker path of ``wait_for_batch``; the path from the triggerer is
tests/dags/test_drain_dag_shape.py and, on a running stack, tests/e2e.
"""

from __future__ import annotations

import threading
import time

import pytest

from kafkapipeline import settings
from kafkapipeline.drain import drainer
from kafkapipeline.drain.wait import LAG_EVENT_KEY
from tests.integration.drain_support import (
    committed_offsets,
    end_offsets,
    produce,
    produce_records,
    tweet_ids,
    tweets,
    weather_reports,
)

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    """Lag read every second: a drain that follows on (the default) ends 3 s after its last batch."""
    monkeypatch.setenv("KAFKAPIPELINE_DRAIN_POLL_SECONDS", "1")


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import DAGS_FOLDER

    return DagBag(dag_folder=str(DAGS_FOLDER / f"{dag_id}.py")).get_dag(dag_id)


def run(dag_id: str, conf: dict):
    """Run the DAG; per task id its (state, XCom), a list of them for the mapped ``drain``, and
    under ``"lag_event"`` the trigger's event the sensor kept."""
    dag_run = load_dag(dag_id).test(run_conf=conf)
    results: dict = {}
    for ti in sorted(dag_run.get_task_instances(), key=lambda ti: (ti.task_id, ti.map_index)):
        value = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)
        if ti.map_index >= 0:
            results.setdefault(ti.task_id, []).append((ti.state, value))
        else:
            results[ti.task_id] = (ti.state, value)
        if ti.task_id == "wait_for_batch":
            results[LAG_EVENT_KEY] = ti.xcom_pull(task_ids=ti.task_id, key=LAG_EVENT_KEY)
    return dag_run, results


@pytest.mark.usefixtures("airflow_db")
def test_drain_tweets_dag_lands_the_produced_tweets(make_topic, keyspace, kafka_hook, cassandra, monkeypatch):
    topic = make_topic("dag_drain_tweets", partitions=2)
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", topic)  # read when the run renders, not at parse time
    records = tweets(40)
    produce_records(kafka_hook, topic, records)
    produce(kafka_hook, topic, [(b"broken", b"{oops")])

    dag_run, results = run("drain_tweets", {"min_batch": 20, "max_wait_seconds": 600, "max_messages": 1000})

    assert dag_run.state == "success", results
    assert results["wait_for_batch"] == ("success", [[0, 1]])  # one group: every partition
    assert sorted(results) == ["drain", LAG_EVENT_KEY, "wait_for_batch"]  # no planning task
    event = results[LAG_EVENT_KEY]
    assert (event["status"], event["reason"], event["topic"]) == ("ready", "min_batch", topic)
    assert event["group_id"] == settings.consumer_group("drain", topic)
    [(drain_state, summary)] = results["drain"]  # one partition group by default
    assert drain_state == "success"
    assert (summary["messages_read"], summary["rows_written"], summary["dead_lettered"]) == (41, 40, 1)
    assert summary["committed"] and summary["lag_after"] == 0
    assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in records)
    assert committed_offsets(kafka_hook, topic, settings.consumer_group("drain", topic)) == end_offsets(
        kafka_hook, topic
    )


@pytest.mark.usefixtures("airflow_db")
def test_drain_weather_dag_fires_on_age_for_a_trickle(
    make_topic, keyspace, kafka_hook, cassandra, monkeypatch
):
    topic = make_topic("dag_drain_weather", partitions=1)
    monkeypatch.setenv("KAFKAPIPELINE_WEATHER_TOPIC", topic)
    produce_records(kafka_hook, topic, weather_reports(3))

    dag_run, results = run("drain_weather", {"min_batch": 1000, "max_wait_seconds": 1, "max_messages": 1000})

    assert dag_run.state == "success", results
    assert results[LAG_EVENT_KEY]["reason"] == "max_wait"
    assert results["drain"][0][1]["rows_written"] == 3
    [count] = cassandra.execute(f"SELECT count(*) FROM {keyspace}.weather_reports").one()
    assert count == 3


@pytest.mark.usefixtures("airflow_db")
def test_partition_groups_fan_the_drain_out_over_disjoint_partitions(
    make_topic, keyspace, kafka_hook, cassandra, monkeypatch
):
    topic = make_topic("dag_drain_groups", partitions=5)
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", topic)
    records = tweets(90)
    produce_records(kafka_hook, topic, records)

    conf = {"min_batch": 1, "max_wait_seconds": 600, "max_messages": 1000, "partition_groups": 3}
    dag_run, results = run("drain_tweets", conf)

    assert dag_run.state == "success", results
    assert results["wait_for_batch"] == ("success", [[0, 3], [1, 4], [2]])
    drains = results["drain"]
    assert [state for state, _ in drains] == ["success"] * 3
    owned = [sorted(p["partition"] for p in summary["partitions"]) for _, summary in drains]
    assert owned == [[0, 3], [1, 4], [2]]  # each group reads only its partitions
    assert sum(summary["rows_written"] for _, summary in drains) == 90
    assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in records)
    assert committed_offsets(kafka_hook, topic, settings.consumer_group("drain", topic)) == end_offsets(
        kafka_hook, topic
    )


@pytest.mark.usefixtures("airflow_db")
def test_a_drain_that_follows_on_drains_the_next_batch_in_the_same_task(
    make_topic, keyspace, kafka_hook, cassandra, monkeypatch
):
    topic = make_topic("dag_drain_follow", partitions=2)
    group = settings.consumer_group("drain", topic)
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", topic)
    monkeypatch.setenv("KAFKAPIPELINE_DRAIN_FOLLOW_SECONDS", "60")
    sessions: list[str] = []
    real_session = drainer.cassandra_session
    monkeypatch.setattr(
        drainer,
        "cassandra_session",
        lambda conn_id, **options: sessions.append(conn_id) or real_session(conn_id, **options),
    )
    records = tweets(60)
    produce_records(kafka_hook, topic, records[:30])
    first_ends = end_offsets(kafka_hook, topic)

    def produce_after_the_first_commit() -> None:
        deadline = time.monotonic() + 120
        while committed_offsets(kafka_hook, topic, group) != first_ends and time.monotonic() < deadline:
            time.sleep(0.2)
        produce_records(kafka_hook, topic, records[30:])

    producer = threading.Thread(target=produce_after_the_first_commit, daemon=True)
    producer.start()
    # The follower waits for the second batch, then ends once idle for three polls (3 s).
    dag_run, results = run("drain_tweets", {"min_batch": 20, "max_wait_seconds": 8, "max_messages": 1000})
    producer.join(timeout=5)

    assert dag_run.state == "success", results
    [(state, summary)] = results["drain"]
    assert state == "success"
    assert (summary["batches"], summary["messages_read"], summary["rows_written"]) == (2, 60, 60), summary
    assert summary["committed"] and summary["lag_after"] == 0
    assert sorted(tweet_ids(cassandra, keyspace)) == sorted(r.tweet_id for r in records)
    assert committed_offsets(kafka_hook, topic, group) == end_offsets(kafka_hook, topic)
    # Each batch is a batch of its own: two rows in drain_batches.
    batches = cassandra.execute(f"SELECT topic FROM {keyspace}.drain_batches").all()
    assert [row.topic for row in batches].count(topic) == 2
    assert len(sessions) == 1  # both batches on the task's one set of connections


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("min_batch", 0, "less than the minimum of 1"),
        ("max_wait_seconds", "soon", "is not of type 'number'"),
        ("max_messages", -1, "less than the minimum of 1"),
        ("max_messages", 10_000_000, "greater than the maximum"),
        ("partition_groups", 0, "less than the minimum of 1"),
        ("partition_groups", 65, "greater than the maximum"),
    ],
)
@pytest.mark.parametrize("dag_id", ["drain_tweets", "drain_weather"])
def test_params_are_validated(dag_id, name, value, reason):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=reason):
        load_dag(dag_id).params.get_param(name).resolve(value)
