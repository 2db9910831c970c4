"""``ingest_tweets`` run by Airflow (``dag.test()``) with ``mastodon_default`` set and no token.

The instance is unreachable here, so ``responses`` serves the recorded real timelines
(../shared/reference-data/mastodon_timeline_responses.json, recorded against a Mastodon
test instance at localhost:3000) at the HTTP edge; Airflow and Kafka are real.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses

from kafkapipeline.streams.tweets import TweetRecord
from tests.conftest import REFERENCE_DATA
from tests.integration.kafka_reading import read_topic
from tests.integration.test_ingest_dags import run

pytestmark = pytest.mark.integration

INSTANCE = "http://localhost:3000"
# The recorded posts were created 2026-08-01 13:51-13:56; the manual run for 14:00 covers 13:50-14:00.
LOGICAL_DATE = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)


@pytest.fixture
def recorded() -> dict:
    path = REFERENCE_DATA / "mastodon_timeline_responses.json"
    if not path.is_file():
        pytest.skip(f"recorded Mastodon responses not found at {path} (../shared/reference-data is absent)")
    return json.loads(path.read_text())


@pytest.fixture
def instance(recorded):
    """The recorded answers as the instance's newest pages; the pages after them are empty."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for path, entry in (
            ("/api/v1/timelines/tag/hoot", recorded["timelines_tag"]),
            ("/api/v1/timelines/public", recorded["timelines_public_anonymous"]),
        ):
            headers = {name: values[0] for name, values in entry["headers"].items() if name != "content-type"}
            mock.get(f"{INSTANCE}{path}", json=[], match=[_has_max_id])  # registered first: wins
            mock.get(f"{INSTANCE}{path}", json=entry["body"], headers=headers)
        yield mock


def _has_max_id(request) -> tuple[bool, str]:
    found = "max_id=" in (request.url or "")
    return found, "" if found else "no max_id in the query"


@pytest.mark.usefixtures("airflow_db")
def test_ingest_tweets_reads_the_instance_anonymously_and_says_where_history_ends(
    kafka_hook, make_topic, monkeypatch, instance, recorded
):
    topic = make_topic("dag_mastodon", partitions=3, with_dlq=False)
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", topic)
    monkeypatch.setenv("AIRFLOW_CONN_X_API_DEFAULT", json.dumps({"conn_type": "generic", "password": "x"}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MASTODON_DEFAULT",
        json.dumps(
            {"conn_type": "http", "host": INSTANCE, "extra": {"hashtags": ["hoot"], "local_timeline": True}}
        ),
    )

    # X is configured too: the run forces Mastodon with the source Param.
    dag_run, summary = run("ingest_tweets", LOGICAL_DATE, {"source": "mastodon"})

    assert dag_run.state == "success"
    assert (summary["source"], summary["instance"]) == ("mastodon", "localhost:3000")
    assert "source=mastodon" in summary["source_reason"]
    expected_ids = {
        s["id"] for s in recorded["timelines_tag"]["body"] + recorded["timelines_public_anonymous"]["body"]
    }
    rows = [TweetRecord.from_json(value) for _, value in read_topic(kafka_hook, topic)]
    assert {r.tweet_id for r in rows} == expected_ids and summary["produced"] == len(rows) == 9
    assert {r.source for r in rows} == {"mastodon:localhost:3000"}
    assert all("Authorization" not in call.request.headers for call in instance.calls)
    # Both timelines ran out (an empty page) before 13:50: the XCom says so for each.
    gaps = summary["history_gaps"]
    assert len(gaps) == 2 and gaps[0].startswith("#hoot: ") and gaps[1].startswith("local timeline: ")
    assert all("interval starts at 2026-08-01T13:50:00+00:00" in gap for gap in gaps)
