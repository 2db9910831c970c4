"""The dashboard's JSON endpoints against the real Cassandra, on known rows in a unique keyspace."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kafkapipeline.dashboard import app as dashboard_module
from kafkapipeline.dashboard import bounds, worker
from kafkapipeline.dashboard.access import require_dashboard_reader
from kafkapipeline.dashboard.admission import ReadPool
from kafkapipeline.dashboard.queries import READ_MODULES
from tests.dashboard_rows import insert_drain_batches, insert_health, insert_tweets, insert_weather

pytestmark = pytest.mark.integration

CLOSED_PORT_CONN = json.dumps({"conn_type": "cassandra", "host": "127.0.0.1", "port": 1})
# A range across midnight, so the reads span two (city, day) partitions.
START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
END = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
RANGE = {"start": START.isoformat(), "end": END.isoformat()}


def t(hour_offset: float) -> datetime:
    return START + timedelta(hours=hour_offset)


def start_with_caps(caps: dict[str, int]) -> None:
    """A dashboard worker's start with lower per-request row caps (the caps live in the worker)."""
    bounds.MAX_ROWS.update(caps)
    worker.start()


@pytest.fixture
def client():
    """The dashboard app with its own session cache; authentication satisfied (tested in the e2e test)."""
    app = dashboard_module.create_app()
    app.dependency_overrides[require_dashboard_reader] = lambda: None
    with TestClient(app) as test_client:
        yield test_client


def test_sentiment_against_weather_per_hour_from_known_rows(cassandra, keyspace, client):
    insert_tweets(
        cassandra,
        keyspace,
        "Vancouver",
        [
            (t(0.1), 0.6, "Positive", {"yvr", "sun"}),
            (t(0.5), -0.4, "Negative", {"rain"}),
            (t(0.9), 0.0, "Neutral"),
            (t(0.95), 0.5, "Positive", {"yvr"}),
            (t(2.25), 0.8, "Positive", {"yvr", "rain"}),  # 00:15 next day: the second partition
            (t(3.99), -0.2, "Negative"),
            (START - timedelta(seconds=1), 0.9, "Positive", {"before"}),  # same partition, before the range
            (END, -0.9, "Negative", {"after"}),  # same partition, at the exclusive end
        ],
    )
    insert_tweets(cassandra, keyspace, "Burnaby", [(t(0.2), -1.0, "Negative", {"burnaby"})])  # another city
    insert_weather(
        cassandra,
        keyspace,
        "Vancouver",
        [
            (t(0.0), 5.0, "light rain"),
            (t(0.5), 6.0, "light rain"),
            (t(0.75), 6.5, "overcast clouds"),
            (t(2.0), 3.0, "snow"),
            (t(2.5), 2.0, "snow"),
            (END + timedelta(minutes=1), 30.0, "clear sky"),
        ],
    )
    insert_weather(cassandra, keyspace, "Burnaby", [(t(0.1), -20.0, "blizzard")])

    response = client.get("/api/sentiment-weather", params={"city": "Vancouver", **RANGE})

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["summary"]["top_hashtags"] == [
        {"hashtag": "yvr", "tweets": 3},
        {"hashtag": "rain", "tweets": 2},
        {"hashtag": "sun", "tweets": 1},
    ]
    assert (body["city"], body["keyspace"], body["has_data"], body["message"]) == (
        "Vancouver",
        keyspace,
        True,
        None,
    )
    hours = {hour["hour"]: hour for hour in body["hours"]}
    assert list(hours) == [
        "2026-03-01T22:00:00Z",
        "2026-03-01T23:00:00Z",
        "2026-03-02T00:00:00Z",
        "2026-03-02T01:00:00Z",
    ]
    first = hours["2026-03-01T22:00:00Z"]
    assert (first["tweets"], first["positive"], first["negative"], first["neutral"]) == (4, 2, 1, 1)
    assert (first["positive_pct"], first["negative_pct"], first["neutral_pct"]) == (50.0, 25.0, 25.0)
    assert first["mean_score"] == 0.175  # (0.6 - 0.4 + 0.0 + 0.5) / 4
    assert (first["weather_reports"], first["temperature_c"], first["weather_description"]) == (
        3,
        5.83,
        "light rain",
    )
    empty = hours["2026-03-01T23:00:00Z"]
    assert (empty["tweets"], empty["positive_pct"], empty["mean_score"], empty["temperature_c"]) == (
        0,
        None,
        None,
        None,
    )
    midnight = hours["2026-03-02T00:00:00Z"]
    assert (midnight["tweets"], midnight["positive_pct"], midnight["mean_score"]) == (1, 100.0, 0.8)
    assert (midnight["temperature_c"], midnight["weather_description"]) == (2.5, "snow")
    last = hours["2026-03-02T01:00:00Z"]
    assert (last["negative"], last["mean_score"], last["weather_reports"]) == (1, -0.2, 0)

    summary = body["summary"]
    assert (summary["tweets"], summary["positive"], summary["negative"], summary["neutral"]) == (6, 3, 2, 1)
    assert (summary["positive_pct"], summary["negative_pct"], summary["neutral_pct"]) == (50.0, 33.33, 16.67)
    assert summary["mean_score"] == 0.2167  # 1.3 / 6
    assert (summary["weather_reports"], summary["mean_temperature_c"]) == (5, 4.5)
    assert (summary["min_temperature_c"], summary["max_temperature_c"]) == (2.0, 6.5)
    assert summary["most_common_description"] == "snow"  # 2 light rain, 2 snow: the later one
    assert summary["latest_tweet_at"] == "2026-03-02T01:59:24Z"
    assert summary["correlated_hours"] == 2


def test_pipeline_state_reads_the_latest_health_check_and_drain_batches(cassandra, keyspace, client):
    latest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    insert_health(
        cassandra,
        keyspace,
        latest - timedelta(minutes=5),  # an older check: ignored
        [("consumer_lag", "tweets/0", 999.0, "fail", None)],
    )
    insert_health(
        cassandra,
        keyspace,
        latest,
        [
            ("consumer_lag", "tweets/0", 12.0, "ok", None),
            ("consumer_lag", "tweets/1", 250.0, "warn", "above 100"),
            ("consumer_lag", "weather/0", 0.0, "ok", None),
            ("rows_per_hour", "tweets", 340.0, "ok", None),
            ("dlq_messages", "tweets.dlq", 3.0, "warn", None),
            ("freshness_seconds", "weather_reports", 75.0, "ok", None),
            ("dag_last_run", "drain_tweets", 1.0, "fail", "failed"),
            ("under_replicated_partitions", "tweets", 2.0, "fail", "2 of 3 partitions"),
            ("offline_brokers", "kafka", 1.0, "fail", "broker 2 offline"),
            ("future_metric", "x", 1.0, "ok", None),
        ],
    )
    insert_drain_batches(
        cassandra,
        keyspace,
        [
            (t(0.25), "tweets", 100, 98, 2, 40, 1.5),
            (t(0.75), "tweets", 50, 50, 0, 0, 0.5),
            (t(2.1), "weather", 6, 6, 0, 0, 0.2),
            (t(2.2), "tweets", 10, 9, 1, 5, 1.0),
            (END + timedelta(minutes=5), "tweets", 7, 7, 0, 0, 0.1),  # after the range
        ],
    )

    response = client.get("/api/pipeline-state", params=RANGE)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["has_data"] is True and body["message"] is None
    health = body["health"]
    assert health["checked_at"] == latest.isoformat().replace("+00:00", "Z")
    assert 100 <= health["age_seconds"] < 600
    assert [(f["subject"], f["value"], f["status"]) for f in health["consumer_lag"]] == [
        ("tweets/0", 12.0, "ok"),
        ("tweets/1", 250.0, "warn"),
        ("weather/0", 0.0, "ok"),
    ]
    assert [(f["subject"], f["value"]) for f in health["dlq_messages"]] == [("tweets.dlq", 3.0)]
    assert [(f["subject"], f["value"]) for f in health["freshness_seconds"]] == [("weather_reports", 75.0)]
    assert [(f["subject"], f["detail"]) for f in health["dag_last_run"]] == [("drain_tweets", "failed")]
    assert health["rows_per_hour"][0]["value"] == 340.0
    assert [(f["metric"], f["subject"], f["value"]) for f in health["cluster"]] == [
        ("offline_brokers", "kafka", 1.0),
        ("under_replicated_partitions", "tweets", 2.0),
    ]
    assert [f["metric"] for f in health["other"]] == ["future_metric"]
    assert health["status_counts"] == {"ok": 5, "warn": 2, "fail": 3}

    drains = body["drains"]
    assert drains["topics"] == ["tweets", "weather"]
    assert drains["rows_written"] == {"tweets": [148, 0, 9, 0], "weather": [0, 0, 6, 0]}
    assert drains["dead_lettered"] == {"tweets": [2, 0, 1, 0], "weather": [0, 0, 0, 0]}
    tweets_totals = drains["totals"][0]
    assert (tweets_totals["batches"], tweets_totals["messages_read"], tweets_totals["rows_written"]) == (
        3,
        160,
        157,
    )
    assert (tweets_totals["last_finished_at"], tweets_totals["last_lag_after"]) == ("2026-03-02T00:12:00Z", 5)
    assert tweets_totals["mean_batch_seconds"] == 1.0


def test_an_empty_keyspace_says_no_data_yet(keyspace, client):
    sentiment = client.get("/api/sentiment-weather", params={"city": "Vancouver", **RANGE})
    assert sentiment.status_code == 200
    body = sentiment.json()
    assert body["has_data"] is False
    assert body["message"] == (
        "No data yet: no tweets or weather reports for Vancouver between 2026-03-01 22:00 and "
        "2026-03-02 02:00 UTC."
    )
    assert len(body["hours"]) == 4 and all(hour["tweets"] == 0 for hour in body["hours"])

    state = client.get("/api/pipeline-state").json()  # default range: the last 24 hours
    assert state["has_data"] is False
    assert state["message"].startswith(
        "No data yet: the pipeline_health DAG has not written a health check yet; no drain batch finished"
    )
    assert state["health"]["checked_at"] is None
    assert len(state["drains"]["hours"]) in (24, 25)


def test_cassandra_unreachable_is_a_503_and_the_dashboard_recovers(keyspace, client, monkeypatch):
    assert client.get("/api/pipeline-state").status_code == 200  # connected and cached

    with monkeypatch.context() as patched:
        patched.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", CLOSED_PORT_CONN)
        for path in ("/api/sentiment-weather", "/api/pipeline-state"):
            started = datetime.now(UTC)
            response = client.get(path)
            assert response.status_code == 503
            body = response.json()
            assert body["error"] == "cassandra_unreachable"
            assert body["detail"].startswith("Cassandra did not answer the dashboard's read. Request id ")
            assert "127.0.0.1" not in response.text  # the address and driver text are in the log only
            assert datetime.now(UTC) - started < timedelta(seconds=15)  # a short connect timeout

    # The connection points at the real Cassandra again: the next request reconnects.
    assert client.get("/api/pipeline-state").status_code == 200


def test_a_response_is_reused_for_the_same_city_and_range_until_its_ttl_ends(
    cassandra, keyspace, client, monkeypatch
):
    monkeypatch.setenv("KAFKAPIPELINE_DASHBOARD_CACHE_SECONDS", "30")
    insert_tweets(cassandra, keyspace, "Vancouver", [(t(0.5), 0.5, "Positive")])
    params = {"city": "Vancouver", **RANGE}
    assert client.get("/api/sentiment-weather", params=params).json()["summary"]["tweets"] == 1

    insert_tweets(cassandra, keyspace, "Vancouver", [(t(1.5), -0.5, "Negative")])
    again = client.get("/api/sentiment-weather", params=params)
    assert again.status_code == 200 and again.headers["cache-control"] == "no-store"
    assert again.json()["summary"]["tweets"] == 1  # the cached response: Cassandra was not read
    other_range = {
        "city": "Vancouver",
        "start": RANGE["start"],
        "end": (END + timedelta(hours=1)).isoformat(),
    }
    assert client.get("/api/sentiment-weather", params=other_range).json()["summary"]["tweets"] == 2

    monkeypatch.setenv("KAFKAPIPELINE_DASHBOARD_CACHE_SECONDS", "0")  # off: read now
    assert client.get("/api/sentiment-weather", params=params).json()["summary"]["tweets"] == 2
    assert client.app.state.pool.running == 0  # every read gave its slot back


def test_a_keyspace_without_tables_is_a_503_that_points_at_bootstrap(client, monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_KEYSPACE", "no_such_keyspace_for_the_dashboard")
    response = client.get("/api/sentiment-weather", params=RANGE)
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "schema_missing"
    assert "bootstrap" in body["detail"]
    assert "no_such_keyspace" not in response.text  # nor Cassandra's own message


def test_a_crowded_hour_is_read_up_to_its_limit_and_counted_by_cassandra(cassandra, keyspace, monkeypatch):
    # Lower the per-request caps so a handful of rows stands for millions: 4 hours read at most
    # 8 tweets, 4 weather reports and 4 drain batches, i.e. 2, 1 and 1 per hour.
    caps = {"tweets": 8, "weather_reports": 4, "drain_batches": 4}
    for table, cap in caps.items():
        monkeypatch.setitem(bounds.MAX_ROWS, table, cap)
    app = dashboard_module.create_app(ReadPool(lambda: 2, start_with_caps, (caps,), preload=READ_MODULES))
    app.dependency_overrides[require_dashboard_reader] = lambda: None
    crowded = [(t(0.1 + 0.1 * index), 0.5 if index % 2 else -0.5, None) for index in range(7)]
    insert_tweets(
        cassandra, keyspace, "Vancouver", [*crowded, (t(1.5), 0.2, "Positive"), (t(1.6), 0.4, "Positive")]
    )
    insert_tweets(cassandra, keyspace, "Vancouver", [(t(2.5), 0.9, "Positive")])  # one tweet: not truncated
    # 3 reports at 00:xx: more than the 2 the day's two hours may hold, so that hour is cut to 1.
    insert_weather(
        cassandra, keyspace, "Vancouver", [(t(2.1), 1.0, "fog"), (t(2.2), 2.0, "rain"), (t(2.3), 3.0, "snow")]
    )
    batches = [
        (t(3.1), "tweets", 1, 1, 0, 0, 0.1),
        (t(3.2), "tweets", 2, 2, 0, 0, 0.1),
        (t(3.3), "tweets", 3, 3, 0, 0, 0.1),
    ]
    insert_drain_batches(cassandra, keyspace, batches)  # 3 in 01:xx, more than the day's 2

    with TestClient(app) as client:
        body = client.get("/api/sentiment-weather", params={"city": "Vancouver", **RANGE}).json()
        state = client.get("/api/pipeline-state", params=RANGE).json()

    assert body["limits"]["rows_per_hour"] == {"tweets": 2, "weather_reports": 1}
    assert body["limits"]["max_rows"] == {"tweets": 8, "weather_reports": 4}
    first, second, third, last = body["hours"]
    # 7 tweets stored at 22:xx: Cassandra counted them; the 2 newest (clustering DESC) were read.
    assert (first["truncated"], first["tweets_stored"], first["tweets"]) == (True, 7, 2)
    assert first["mean_score"] == 0.0  # the newest two: 22:42 (-0.5) and 22:36 (+0.5)
    # Exactly the limit (2) stored is not truncated.
    assert (second["truncated"], second["tweets_stored"], second["tweets"]) == (False, 2, 2)
    assert (third["truncated"], third["weather_reports"], third["weather_description"]) == (True, 1, "snow")
    assert (last["truncated"], last["tweets_stored"]) == (False, 0)
    assert (body["truncated"], body["truncated_hours"]) == (True, 2)
    assert (body["summary"]["tweets"], body["summary"]["tweets_stored"]) == (5, 10)

    assert (state["truncated"], state["truncated_hours"]) == (True, 1)
    assert state["drains"]["totals"][0]["rows_written"] == 3  # the newest batch only


def test_the_times_of_a_deep_link_read_as_the_api_reads_them(cassandra, keyspace, client):
    insert_tweets(cassandra, keyspace, "Vancouver", [(t(0.5), 0.5, "Positive"), (t(1.5), -0.5, "Negative")])
    forms = [
        {"start": "2026-03-01T22:00:00Z", "end": "2026-03-02T00:00:00Z"},
        {"start": "2026-03-01T22:00:00+00:00", "end": "2026-03-02T01:00:00+01:00"},
        {"start": "2026-03-01T22:00:00 00:00", "end": "2026-03-02T00:00:00 00:00"},  # "+" sent unencoded
        {"start": "2026-03-01T17:00:00-05:00", "end": "2026-03-02"},  # a date alone is midnight UTC
    ]
    for form in forms:
        response = client.get("/api/sentiment-weather", params={"city": "Vancouver", **form})
        assert response.status_code == 200, (form, response.text)
        body = response.json()
        assert (body["start"], body["end"]) == ("2026-03-01T22:00:00Z", "2026-03-02T00:00:00Z"), form
        assert body["summary"]["tweets"] == 2


def test_odd_but_valid_cities_are_read_not_500(keyspace, client):
    for query in ("city=%ED%A0%80", f"city={'x' * 100}", "city=S%C3%A3o%20Paulo", "city=a&city=b"):
        response = client.get(f"/api/sentiment-weather?{query}")
        assert response.status_code == 200, (query, response.text)
        assert response.json()["has_data"] is False
