"""The dashboard in a real browser, inside a real Airflow api-server's UI.

Starts ``airflow api-server`` (one worker, a free port, the project environment, a unique
keyspace seeded with known rows), signs in through the simple auth manager's login page,
opens the dashboard's entry in the Airflow navigation (rendered in an iframe) and checks
that Chart.js drew the seeded data. Screenshots go to test-artifacts/ (git-ignored).

Needs Debian's chromium (``apt-get install -y chromium``) and the ``playwright`` Python
package; no browser is downloaded (``executable_path`` points at the system chromium).
"""

from __future__ import annotations

import json
import math
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.dashboard_rows import insert_drain_batches, insert_health, insert_tweets, insert_weather
from tests.e2e.api_server import api_server
from tests.e2e.browser_support import (
    ARTIFACTS,
    CHART_SUMMARY_JS,
    LEGEND_OVER_AXIS_TITLE_JS,
    USER,
    sign_in_and_open_dashboard,
)

pytestmark = pytest.mark.e2e

CLOSED_PORT_CONN = json.dumps({"conn_type": "cassandra", "host": "127.0.0.1", "port": 1})


def seed_known_rows(cassandra, keyspace: str, now: datetime) -> dict[str, int]:
    """Twelve hours of Vancouver tweets, thirteen of weather, drain batches and a health check.

    Times are relative to the start of the current hour, so every row lands in a known hour.
    """
    hour = now.replace(minute=0, second=0)
    tweets, weather, batches = [], [], []
    pattern = [
        (0.62, "Positive"),
        (-0.48, "Negative"),
        (0.0, "Neutral"),
        (0.31, "Positive"),
        (-0.12, "Negative"),
    ]
    for hours_ago in range(1, 13):  # 1-4 tweets in each of the 12 hours before this one
        for index in range(1 + hours_ago % 4):
            score, label = pattern[(hours_ago + index) % len(pattern)]
            tags = {"yvr"} if index == 0 else {"rain", "yvr"} if hours_ago % 2 else set()
            tweets.append(
                (hour - timedelta(hours=hours_ago) + timedelta(minutes=3 + 7 * index), score, label, tags)
            )
    for half_hours_ago in range(1, 27):  # two reports in each of the 13 hours before this one
        observed_at = hour - timedelta(minutes=30 * half_hours_ago - 1)
        temperature = round(7.5 + 3.5 * math.sin(half_hours_ago / 4), 1)
        description = ("light rain", "overcast clouds", "few clouds")[half_hours_ago // 9]
        weather.append((observed_at, temperature, description))
    for tens_ago in range(1, 72):  # a drain batch every 10 minutes
        finished_at = now - timedelta(minutes=10 * tens_ago)
        dead_lettered = 1 if tens_ago % 7 == 0 else 0
        batches.append((finished_at, "tweets", 12, 11 + tens_ago % 3, dead_lettered, 3, 0.8))
        if tens_ago % 3 == 0:
            batches.append((finished_at, "weather", 3, 3, 0, 0, 0.3))
    insert_tweets(cassandra, keyspace, "Vancouver", tweets)
    insert_tweets(cassandra, keyspace, "Burnaby", [(now - timedelta(hours=2), 0.5, "Positive")])
    insert_weather(cassandra, keyspace, "Vancouver", weather)
    insert_drain_batches(cassandra, keyspace, batches)
    insert_health(
        cassandra,
        keyspace,
        now - timedelta(minutes=3),
        [
            ("consumer_lag", "tweets/0", 4.0, "ok", None),
            ("consumer_lag", "tweets/1", 0.0, "ok", None),
            ("consumer_lag", "tweets/2", 180.0, "warn", "above 100 messages"),
            ("consumer_lag", "weather/0", 1.0, "ok", None),
            ("rows_per_hour", "tweets", 72.0, "ok", None),
            ("rows_per_hour", "weather_reports", 6.0, "ok", None),
            ("dlq_messages", "tweets.dlq", 2.0, "warn", None),
            ("dlq_messages", "weather.dlq", 0.0, "ok", None),
            ("freshness_seconds", "tweets", 95.0, "ok", None),
            ("freshness_seconds", "weather_reports", 150.0, "ok", None),
            ("dag_last_run", "ingest_tweets", 1.0, "ok", "success"),
            ("dag_last_run", "drain_tweets", 1.0, "ok", "success"),
            ("dag_last_run", "pipeline_health", 0.0, "fail", "failed"),
        ],
    )
    return {"tweets": len(tweets), "weather": len(weather)}


#: Rows as the seed CSV import leaves them: tweets and weather on 9 Feb 2021, no drain batch.
IMPORTED_DAY = datetime(2021, 2, 9, tzinfo=UTC)
#: Deep links to that day in the forms the API takes; each must open it as a custom range.
DEEP_LINKS = [
    "start=2021-02-09T00:00:00Z&end=2021-02-10T00:00:00Z",
    "start=2021-02-09T00:00:00%2B00:00&end=2021-02-10T00:00:00%2B00:00",
    "start=2021-02-09T00:00:00+00:00&end=2021-02-10T00:00:00+00:00",  # "+" unencoded: a space
    "start=2021-02-08T19:00:00-05:00&end=2021-02-10",
    "start=2021-02-09&end=2021-02-10",
]


def seed_imported_day(cassandra, keyspace: str) -> dict[str, int]:
    """Tweets in 10 hours and weather in every hour of IMPORTED_DAY, and nothing a drain writes."""
    tweets = [
        (IMPORTED_DAY + timedelta(hours=hour, minutes=5 * index), (0.6, -0.4, 0.0)[index % 3], None)
        for hour in range(8, 18)
        for index in range(1 + hour % 3)
    ]
    weather = [
        (IMPORTED_DAY + timedelta(hours=hour, minutes=30), 2.0 + hour / 4, "light rain") for hour in range(24)
    ]
    insert_tweets(cassandra, keyspace, "Vancouver", tweets)
    insert_weather(cassandra, keyspace, "Vancouver", weather)
    return {"tweets": len(tweets), "weather": len(weather), "tweet_hours": 10}


def check_deep_links(context, base_url: str, imported: dict[str, int]) -> None:
    """Each deep link opens the imported day with filled charts; "no drain batch" only in its panel."""
    for query in DEEP_LINKS:
        page = context.new_page()
        page.goto(f"{base_url}/kafkapipeline/?city=Vancouver&{query}")
        page.locator("body[data-state=ready], body[data-state=error]").wait_for(timeout=60_000)
        assert page.evaluate("document.body.dataset.state") == "ready", (query, page.inner_text("#banner"))
        assert page.locator("#banner").is_hidden(), query
        assert page.input_value("#range") == "custom"
        assert (page.input_value("#start"), page.input_value("#end")) == (
            "2021-02-09T00:00",
            "2021-02-10T00:00",
        )
        sentiment = page.evaluate("window.pipelineDashboard.sentiment")
        assert (sentiment["start"], sentiment["end"]) == ("2021-02-09T00:00:00Z", "2021-02-10T00:00:00Z")
        assert sentiment["summary"]["tweets"] == imported["tweets"]
        assert sentiment["summary"]["weather_reports"] == imported["weather"]
        charts = page.evaluate(CHART_SUMMARY_JS)
        mean_score = next(d for d in charts["sentiment-chart"]["datasets"] if d["label"] == "Mean score")
        assert (charts["sentiment-chart"]["labels"], mean_score["points"]) == (24, imported["tweet_hours"])
        assert page.locator("#sentiment-note").is_hidden()
        # The imported rows came from no drain: the pipeline panel says so, and only it.
        note = page.locator("#pipeline-note")
        assert note.is_visible() and "no drain batch finished" in note.inner_text()
        assert page.locator("section[aria-labelledby=pipeline-heading] #pipeline-note").count() == 1
        # The page rewrites its URL with the API's own form of the times.
        assert "start=2021-02-09T00%3A00%3A00Z&end=2021-02-10T00%3A00%3A00Z" in page.url
        if query == DEEP_LINKS[0]:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-deep-link-imported-day.png"), full_page=True)
        page.close()

    page = context.new_page()
    page.goto(f"{base_url}/kafkapipeline/?city=Vancouver&start=yesterday&end=2021-02-10")
    page.locator("body[data-state=error]").wait_for(timeout=60_000)
    assert page.inner_text("#banner").startswith("This link's time range cannot be read")
    assert "start=yesterday" in page.inner_text("#banner")
    page.close()


def test_dashboard_renders_seeded_data_inside_the_airflow_ui(
    airflow_db, cassandra, keyspace, browser, tmp_path
):
    now = datetime.now(UTC).replace(microsecond=0)
    seeded = seed_known_rows(cassandra, keyspace, now)
    imported = seed_imported_day(cassandra, keyspace)
    password = secrets.token_urlsafe(12)

    with api_server(tmp_path, password, KAFKAPIPELINE_DASHBOARD_CITIES="Vancouver,Burnaby") as base_url:
        # The plugin's API is protected like Airflow's: no credentials, no data.
        assert httpx.get(f"{base_url}/kafkapipeline/api/sentiment-weather").status_code == 401
        page_without_session = httpx.get(f"{base_url}/kafkapipeline/")
        assert page_without_session.status_code == 307
        assert page_without_session.headers["location"].startswith("/auth/login?next=")
        token = httpx.post(f"{base_url}/auth/token", json={"username": USER, "password": password}).json()
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        api = httpx.get(f"{base_url}/kafkapipeline/api/sentiment-weather", headers=bearer, timeout=30)
        assert api.status_code == 200 and api.json()["summary"]["tweets"] == seeded["tweets"]
        # Framed by the Airflow UI only (same origin: the iframe below renders), never sniffed.
        assert api.headers["content-security-policy"] == "frame-ancestors 'self'"
        assert api.headers["x-content-type-options"] == "nosniff"

        page, frame = sign_in_and_open_dashboard(browser, base_url, password)
        assert frame.evaluate("document.body.dataset.state") == "ready"
        frame.wait_for_timeout(500)  # let the last chart finish its first paint before the screenshot
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-in-airflow-ui.png"))

        charts = frame.evaluate(CHART_SUMMARY_JS)
        state = frame.evaluate("window.pipelineDashboard.sentiment.summary")
        assert state["tweets"] == seeded["tweets"]
        assert state["weather_reports"] == seeded["weather"]

        sentiment = {d["label"]: d for d in charts["sentiment-chart"]["datasets"]}
        assert set(sentiment) == {"Positive", "Neutral", "Negative", "Mean score"}
        assert charts["sentiment-chart"]["labels"] in (24, 25)  # one bar group per UTC hour
        assert sentiment["Mean score"]["points"] == 12  # the 12 hours that have tweets
        assert sentiment["Positive"]["points"] == 12 and sentiment["Positive"]["total"] > 0
        assert charts["sentiment-chart"]["axes"] == {
            "x": "Hour (UTC)",
            "y": "Share of tweets (%)",
            "score": "Mean sentiment score (\u22121 \u2026 +1)",
        }
        weather = {d["label"]: d for d in charts["weather-chart"]["datasets"]}
        assert weather["Temperature (°C)"]["points"] == 13
        assert charts["weather-chart"]["axes"]["temp"] == "Temperature (°C)"
        assert sum(d["points"] for d in charts["scatter-chart"]["datasets"]) == 12
        drains = {d["label"]: d for d in charts["drain-chart"]["datasets"]}
        assert {"tweets rows", "weather rows"} <= set(drains)
        assert drains["tweets rows"]["total"] > 0
        lag = charts["lag-chart"]["datasets"][0]
        assert (lag["points"], lag["total"]) == (4, 185.0)

        assert frame.evaluate(LEGEND_OVER_AXIS_TITLE_JS) == []  # every legend entry and axis title legible
        kpis = frame.inner_text("#kpis")
        assert str(seeded["tweets"]) in kpis
        assert "fail" in frame.inner_text("#dag-table")
        hashtags = frame.inner_text("#hashtag-table")  # 12 hours open with #yvr; odd hours add #rain
        assert "#yvr" in hashtags and "#rain" in hashtags and hashtags.index("#yvr") < hashtags.index("#rain")
        assert frame.locator("#banner").is_hidden()
        # Drain batches and a health check exist in this range: no "no data" note anywhere.
        assert frame.locator("#pipeline-note").is_hidden() and frame.locator("#sentiment-note").is_hidden()

        # The whole page, as a user scrolling the dashboard sees it.
        full = page.context.new_page()  # same browser context: same Airflow session cookie
        full.goto(f"{base_url}/kafkapipeline/?city=Vancouver&range=24")
        full.locator("body[data-state=ready]").wait_for(timeout=60_000)
        full.wait_for_timeout(500)
        full.screenshot(path=str(ARTIFACTS / "dashboard-full-page.png"), full_page=True)
        assert full.evaluate(LEGEND_OVER_AXIS_TITLE_JS) == []
        full.select_option("#city", "Burnaby")
        full.wait_for_function("window.pipelineDashboard.sentiment.city === 'Burnaby'")
        assert full.evaluate("window.pipelineDashboard.sentiment.summary.tweets") == 1

        check_deep_links(page.context, base_url, imported)
        page.context.close()


def test_dashboard_says_cassandra_is_unreachable_and_airflow_keeps_working(airflow_db, browser, tmp_path):
    password = secrets.token_urlsafe(12)
    with api_server(tmp_path, password, AIRFLOW_CONN_CASSANDRA_DEFAULT=CLOSED_PORT_CONN) as base_url:
        token = httpx.post(f"{base_url}/auth/token", json={"username": USER, "password": password}).json()
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        response = httpx.get(f"{base_url}/kafkapipeline/api/pipeline-state", headers=bearer, timeout=30)
        assert response.status_code == 503
        assert response.json()["error"] == "cassandra_unreachable"
        assert "127.0.0.1" not in response.text  # the address and the driver's text stay in the log
        # The rest of Airflow is unaffected.
        assert httpx.get(f"{base_url}/api/v2/dags", headers=bearer, timeout=30).status_code == 200

        page, frame = sign_in_and_open_dashboard(browser, base_url, password)
        assert frame.evaluate("document.body.dataset.state") == "error"
        assert frame.inner_text("#banner").startswith("Cassandra is unreachable")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-cassandra-unreachable.png"))
        page.goto(f"{base_url}/dags")
        page.get_by_role("heading", name="Dags").first.wait_for(timeout=60_000)
        page.context.close()
