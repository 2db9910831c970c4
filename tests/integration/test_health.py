"""The health check against the real Kafka and Cassandra: it reports the lag it is given, writes its
figures to pipeline_health, and fails (after writing) when a threshold is crossed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kafkapipeline import settings
from kafkapipeline.cassandra.writer import ConcurrentRowWriter
from kafkapipeline.dead_letters.contract import DeadLetter
from kafkapipeline.health.report import FAIL, OK, WARN
from kafkapipeline.health.task import run_health_check
from kafkapipeline.kafka.produce import TopicProducer
from kafkapipeline.streams.tweets import TWEETS, TWEETS_TABLE, TweetRecord, tweet_row
from kafkapipeline.streams.weather import WEATHER_TABLE, WeatherRecord, weather_row

pytestmark = pytest.mark.integration

PENDING = 7  # tweets produced and never drained: the lag the check must report
DRAINED_ROWS = 120
CLUSTER_ENV = (
    "KAFKAPIPELINE_EXPECTED_BROKERS",
    "KAFKAPIPELINE_EXPECTED_CASSANDRA_NODES",
    "KAFKAPIPELINE_HEALTH_MAX_UNDER_REPLICATED_PARTITIONS",
    "KAFKAPIPELINE_HEALTH_MAX_OFFLINE_BROKERS",
    "KAFKAPIPELINE_HEALTH_MAX_DOWN_CASSANDRA_NODES",
)
API_UNAVAILABLE = "unavailable: the Airflow connection 'airflow_api_default' is not set"


@pytest.fixture
def pipeline(kafka_hook, make_topic, keyspace, cassandra, monkeypatch):
    """Topics with PENDING undrained tweets and 2 dead letters, fresh rows, one drain batch."""
    tweets_topic = make_topic("health_tweets", partitions=1, with_dlq=True)
    weather_topic = make_topic("health_weather", partitions=1, with_dlq=True)
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", tweets_topic)
    monkeypatch.setenv("KAFKAPIPELINE_WEATHER_TOPIC", weather_topic)
    monkeypatch.setenv("KAFKAPIPELINE_CITIES", "Vancouver")
    monkeypatch.delenv("AIRFLOW_CONN_AIRFLOW_API_DEFAULT", raising=False)
    for name in CLUSTER_ENV:
        monkeypatch.delenv(name, raising=False)
    now = datetime.now(UTC)
    records = [
        TweetRecord(tweet_id=str(n), text="pending", created_at=now, city="Vancouver") for n in range(PENDING)
    ]
    with TopicProducer(kafka_hook.producer(), tweets_topic) as pending:
        pending.send(records)
    producer = kafka_hook.producer()
    for n in range(2):
        headers = DeadLetter.for_failure("value is not JSON", tweets_topic, 0, n).headers()
        producer.produce(settings.dead_letter_topic(tweets_topic), key=b"k", value=b"x", headers=headers)
    assert producer.flush(30) == 0

    tweet = TweetRecord(
        tweet_id="fresh", text="hi", created_at=now - timedelta(seconds=120), city="Vancouver"
    )
    weather = WeatherRecord(
        city="Vancouver", observed_at=now - timedelta(seconds=300), description=None, temperature_c=5.0
    )
    for spec, row in (
        (TWEETS_TABLE.drain_spec, tweet_row(tweet, now)),
        (WEATHER_TABLE.drain_spec, weather_row(weather, now)),
    ):
        writer = ConcurrentRowWriter(cassandra, keyspace, spec)
        writer.write([row])
        assert writer.flush().ok
    cassandra.execute(
        f"INSERT INTO {keyspace}.drain_batches (day, finished_at, topic, batch_id, messages_read, "
        "rows_written, dead_lettered, lag_after, seconds) "
        "VALUES (%s, %s, %s, 'p0:0-119', 120, %s, 0, 0, 1.5)",
        (now.date(), now - timedelta(minutes=10), tweets_topic, DRAINED_ROWS),
    )
    return tweets_topic, weather_topic


def figures_by(report, metric: str) -> dict[str, tuple[float, str]]:
    return {f.subject: (f.value, f.status) for f in report.figures if f.metric == metric}


def stored(cassandra, keyspace: str, checked_at: datetime) -> dict[tuple[str, str], tuple[float, str]]:
    rows = cassandra.execute(
        f"SELECT metric, subject, value, status FROM {keyspace}.pipeline_health "
        "WHERE day = %s AND checked_at = %s",
        (checked_at.date(), checked_at),
    )
    return {(row.metric, row.subject): (row.value, row.status) for row in rows}


def test_health_reports_the_lag_it_is_given_and_writes_its_figures(pipeline, keyspace, cassandra):
    tweets_topic, weather_topic = pipeline

    report = run_health_check(max_lag=PENDING, max_freshness_seconds=900, cities=["Vancouver"])

    assert figures_by(report, "consumer_lag") == {
        f"{tweets_topic}/0": (PENDING, OK),
        f"{weather_topic}/0": (0, OK),
    }
    assert figures_by(report, "dlq_messages") == {
        f"{tweets_topic}.dlq": (2, WARN),
        f"{weather_topic}.dlq": (0, OK),
    }
    assert figures_by(report, "rows_per_hour") == {"tweets": (DRAINED_ROWS, OK), "weather_reports": (0, OK)}
    freshness = figures_by(report, "freshness_seconds")
    assert 120 <= freshness["tweets"][0] < 240 and freshness["tweets"][1] == OK
    assert 300 <= freshness["weather_reports"][0] < 420 and freshness["weather_reports"][1] == OK
    assert report.failures == []
    assert figures_by(report, "dag_last_run") == {"*": (0, WARN)}  # no api-server connection here
    (note,) = report.notes
    assert note.startswith(f"dag_last_run {API_UNAVAILABLE}")
    assert stored(cassandra, keyspace, report.checked_at) == {
        (f.metric, f.subject): (f.value, f.status) for f in report.figures
    }
    assert "consumer_lag" in report.table() and f"{tweets_topic}/0" in report.table()


def test_health_fails_above_the_lag_threshold_and_for_stale_tables(pipeline, keyspace, cassandra):
    tweets_topic, _ = pipeline

    report = run_health_check(max_lag=PENDING - 1, max_freshness_seconds=200, cities=["Vancouver"])

    assert figures_by(report, "consumer_lag")[f"{tweets_topic}/0"] == (PENDING, FAIL)
    assert figures_by(report, "freshness_seconds")["weather_reports"][1] == FAIL  # 300 s old > 200 s
    assert figures_by(report, "freshness_seconds")["tweets"][1] == OK
    assert sorted((f.metric, f.subject) for f in report.failures) == [
        ("consumer_lag", f"{tweets_topic}/0"),
        ("freshness_seconds", "weather_reports"),
    ]
    assert stored(cassandra, keyspace, report.checked_at)[("consumer_lag", f"{tweets_topic}/0")] == (
        PENDING,
        FAIL,
    )


def set_up_ago(cassandra, keyspace: str, seconds: float) -> None:
    """Pretend the keyspace's first migration was applied ``seconds`` ago."""
    cassandra.execute(
        f"UPDATE {keyspace}.schema_migrations SET applied_at = %s WHERE version = 1",
        (datetime.now(UTC) - timedelta(seconds=seconds),),
    )


def test_health_of_a_city_without_rows_is_a_freshness_failure(pipeline, keyspace, cassandra):
    set_up_ago(cassandra, keyspace, 7_200)  # an install that has been running for two hours
    report = run_health_check(max_lag=PENDING, max_freshness_seconds=900, cities=["Surrey"])
    value, status = figures_by(report, "freshness_seconds")["tweets"]
    assert status == FAIL and value >= 86_400  # at least since yesterday began


def test_a_new_install_without_rows_yet_is_a_warning_not_a_failure(pipeline, keyspace, cassandra):
    set_up_ago(cassandra, keyspace, 120)
    report = run_health_check(max_lag=PENDING, max_freshness_seconds=900, cities=["Surrey"])
    (figure,) = [f for f in report.figures if f.metric == "freshness_seconds" and f.subject == "tweets"]
    assert figure.status == WARN and 120 <= figure.value < 240
    assert figure.detail.startswith("no data yet: the keyspace was set up")
    assert [f for f in report.failures if f.metric == "freshness_seconds"] == []

    set_up_ago(cassandra, keyspace, 901)  # the threshold has passed: no data is now stale data
    report = run_health_check(max_lag=PENDING, max_freshness_seconds=900, cities=["Surrey"])
    assert figures_by(report, "freshness_seconds")["tweets"][1] == FAIL


def test_the_dag_writes_its_figures_then_fails(airflow_db, pipeline, keyspace, cassandra):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import DAGS_FOLDER

    tweets_topic, _ = pipeline
    dag = DagBag(dag_folder=str(DAGS_FOLDER / "pipeline_health.py")).get_dag("pipeline_health")
    before = datetime.now(UTC) - timedelta(seconds=1)

    dag_run = dag.test(
        logical_date=datetime.now(UTC),
        run_conf={"max_lag": PENDING - 1, "max_freshness_seconds": 900, "dag_ids": ["pipeline_health"]},
    )

    assert dag_run.state == "failed"
    rows = list(
        cassandra.execute(
            f"SELECT checked_at, metric, subject, value, status, detail FROM {keyspace}.pipeline_health "
            "WHERE day = %s AND checked_at >= %s",
            (before.date(), before),
        )
    )
    assert {row.checked_at for row in rows} and len({row.checked_at for row in rows}) == 1  # one check
    by_key = {(row.metric, row.subject): row for row in rows}
    lag = by_key[("consumer_lag", f"{tweets_topic}/0")]
    assert (lag.value, lag.status) == (PENDING, FAIL)  # written before the task failed
    # Last runs come from the REST API; without its connection one warning says which to set.
    last_run = by_key[("dag_last_run", "*")]
    assert last_run.status == WARN and last_run.detail.startswith(API_UNAVAILABLE)
    assert ("dag_last_run", "pipeline_health") not in by_key
    assert by_key[("offline_brokers", "kafka")].status == OK


def test_the_single_node_clusters_are_green_and_short_of_an_expected_size_red(pipeline, keyspace):
    tweets_topic, weather_topic = pipeline
    topics = [tweets_topic, f"{tweets_topic}.dlq", weather_topic, f"{weather_topic}.dlq"]

    report = run_health_check(max_lag=PENDING, max_freshness_seconds=900, cities=["Vancouver"])

    for metric in ("under_replicated_partitions", "leaderless_partitions"):
        figures = figures_by(report, metric)
        assert {topic: figures[topic] for topic in topics} == {topic: (0, OK) for topic in topics}
        assert "__consumer_offsets" in figures  # the drains' offsets live there
        assert set(figures.values()) == {(0, OK)}
    assert figures_by(report, "offline_brokers") == {"kafka": (0, OK)}
    assert figures_by(report, "down_cassandra_nodes") == {"cassandra": (0, OK)}
    assert report.failures == []

    # The same stack measured against a three-node expectation: two brokers and two nodes missing.
    report = run_health_check(
        max_lag=PENDING,
        max_freshness_seconds=900,
        cities=["Vancouver"],
        cluster={"expected_brokers": 3, "expected_cassandra_nodes": 3, "max_down_cassandra_nodes": 2},
    )
    assert figures_by(report, "offline_brokers") == {"kafka": (2, FAIL)}
    assert figures_by(report, "down_cassandra_nodes") == {"cassandra": (2, WARN)}
    assert [(f.metric, f.subject) for f in report.failures] == [("offline_brokers", "kafka")]


def test_dead_letters_are_counted_as_messages_not_offsets(kafka_hook, make_topic, keyspace):
    """The drain's dead letters come in Kafka transactions: each commit marker takes an offset."""
    from confluent_kafka import TopicPartition

    from kafkapipeline.drain.task import drain_topic
    from kafkapipeline.health.kafka_figures import dlq_figures
    from tests.integration.drain_support import produce

    topic = make_topic("health_dlq", partitions=1, with_dlq=True)
    group = settings.consumer_group("drain", topic)
    for batch in range(3):  # three batches, each dead-letters 2 messages in its own transaction
        produce(kafka_hook, topic, [(f"b{batch}-{n}".encode(), b"not json") for n in range(2)])
        assert drain_topic(topic, TWEETS, group, 100, keyspace=keyspace).dead_lettered == 2

    consumer = kafka_hook.consumer(group)
    try:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(settings.dead_letter_topic(topic), 0), timeout=10, cached=False
        )
    finally:
        consumer.close()
    assert high - low == 9  # 6 dead letters and 3 commit markers

    (figure,) = dlq_figures([topic])
    assert (figure.subject, figure.value, figure.status) == (settings.dead_letter_topic(topic), 6.0, WARN)
    assert "9 offsets not replayed yet" in figure.detail
