"""A new install's first run, as a new user sees it: a full day on the dashboard within minutes.

Starts the run command on a new AIRFLOW_HOME (``devtools.devstack.local_stack``: its own port,
keyspace, topics, Postgres database and Celery queue) with its default DAG list and the
first-run backfill of the last 24 hours on the default (replay) source, then polls the
dashboard's own API until each of the last 24 full UTC hours holds tweets and weather, opens
the dashboard in a browser and checks that its charts show that day, and saves a screenshot of
the dashboard at range=24h (test-artifacts/dashboard-first-run.png, and its top with the
day's charts: dashboard-first-run-day.png, of which the README's docs/first-run-dashboard.png is
a copy). Prints how long a new install took to show a full day,
and records it in test-artifacts/first-run.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.devstack import LocalStack, default_pipeline_dags
from kafkapipeline.airflow_api import wait_for
from tests.e2e.browser_support import ARTIFACTS, CHART_SUMMARY_JS, VIEWPORT, sign_in_and_open_dashboard
from tests.e2e.stacks import isolated_stack

pytestmark = pytest.mark.e2e

HOURS = 24
#: The Issue's target is 5 minutes; a busy 2-core machine (CI, other jobs) takes longer.
FULL_DAY_TIMEOUT_SECONDS = 1500


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, cassandra, kafka_hook) -> Iterator[tuple[LocalStack, float]]:
    """The run command's stack as ``make run`` starts it on a new install; seconds it took."""
    home = tmp_path_factory.mktemp("first-run-home")
    extra = {
        "PIPELINE_DAGS": " ".join(default_pipeline_dags()),
        "KAFKAPIPELINE_FIRST_RUN_BACKFILL_HOURS": str(HOURS),
    }
    started = time.monotonic()
    with isolated_stack(home, extra, cassandra, kafka_hook) as stack:
        yield stack, started


def day_on_the_dashboard(stack: LocalStack, end: datetime) -> list[dict[str, Any]]:
    """The dashboard API's hours for the ``HOURS`` full hours before ``end`` (city Vancouver)."""
    start = end - timedelta(hours=HOURS)
    response = stack.api.session.get(
        f"{stack.api.base}/kafkapipeline/api/sentiment-weather",
        params={"city": "Vancouver", "start": start.isoformat(), "end": end.isoformat()},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()["hours"]


def backfill_runs(stack: LocalStack, dag_id: str, state: str | None = None) -> dict[str, Any]:
    """One page of ``dag_id``'s backfill runs (in ``state``) and their total count."""
    params = {"run_type": "backfill", "limit": 1} | ({"state": state} if state else {})
    return stack.api.call("GET", f"/dags/{dag_id}/dagRuns", params=params)


def hours_with(hours: list[dict[str, Any]], field: str) -> int:
    return sum(1 for hour in hours if hour[field] > 0)


def test_first_run_shows_a_full_day_on_the_dashboard(first_run, browser):
    stack, started = first_run
    up = time.monotonic() - started
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def full_day() -> bool:
        hours = day_on_the_dashboard(stack, end)
        return hours_with(hours, "tweets") == HOURS and hours_with(hours, "weather_reports") == HOURS

    try:
        wait_for(f"{HOURS} full hours of tweets and weather", full_day, FULL_DAY_TIMEOUT_SECONDS, interval=10)
    finally:
        hours = day_on_the_dashboard(stack, end)
        seconds = time.monotonic() - started
        figures = {
            "run_command_seconds": round(up),
            "full_day_seconds": round(seconds),
            "hours_with_tweets": hours_with(hours, "tweets"),
            "hours_with_weather": hours_with(hours, "weather_reports"),
            "dags": default_pipeline_dags(),
        }
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "first-run.json").write_text(json.dumps(figures, indent=2) + "\n")
        print(
            f"\nfirst run: run command {up:.0f} s, {HOURS} full hours at {seconds:.0f} s"
            f" ({seconds / 60:.1f} min)"
        )
    # The day came from Airflow's own backfill (one per ingest DAG, visible in the UI), run on
    # the default source.
    for dag_id in ("ingest_tweets", "ingest_weather"):
        assert len(stack.api.backfills(dag_id)) == 1, dag_id
        assert backfill_runs(stack, dag_id)["total_entries"] >= HOURS * 6
        assert backfill_runs(stack, dag_id, "failed")["total_entries"] == 0, dag_id
        done = backfill_runs(stack, dag_id, "success")["dag_runs"][0]
        task_id = "produce_tweets" if dag_id == "ingest_tweets" else "produce_weather"
        assert stack.api.xcom(dag_id, done["dag_run_id"], task_id)["source"] == "replay"

    password = stack.env["KAFKAPIPELINE_ADMIN_PASSWORD"]
    page, frame = sign_in_and_open_dashboard(browser, stack.api.base, password)
    assert frame.evaluate("document.body.dataset.state") == "ready"
    page.goto(f"{stack.api.base}/kafkapipeline/?city=Vancouver&range=24")
    page.locator("body[data-state=ready]").wait_for(timeout=60_000)
    page.wait_for_timeout(500)  # the last chart's first paint
    sentiment = page.evaluate("window.pipelineDashboard.sentiment")
    # The last 24 h start inside hour end-24h: the 23 hours after it are full, all must hold both.
    inside = {
        hour["hour"]: hour
        for hour in sentiment["hours"]
        if end - timedelta(hours=HOURS - 1) <= datetime.fromisoformat(hour["hour"]) < end
    }
    assert len(inside) == HOURS - 1
    assert all(h["tweets"] > 0 and h["weather_reports"] > 0 for h in inside.values()), inside
    charts = page.evaluate(CHART_SUMMARY_JS)
    mean_score = next(d for d in charts["sentiment-chart"]["datasets"] if d["label"] == "Mean score")
    temperature = next(d for d in charts["weather-chart"]["datasets"] if d["label"] == "Temperature (°C)")
    assert mean_score["points"] >= HOURS - 1 and temperature["points"] >= HOURS - 1, charts
    assert page.locator("#banner").is_hidden()
    assert page.viewport_size == VIEWPORT
    page.screenshot(path=str(ARTIFACTS / "dashboard-first-run.png"), full_page=True)
    # The toolbar and the day's tweets and weather (the README's picture: docs/first-run-dashboard.png).
    day = page.locator("section[aria-labelledby=sentiment-heading]").bounding_box()
    clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": day["y"] + day["height"] + 12}
    page.screenshot(path=str(ARTIFACTS / "dashboard-first-run-day.png"), clip=clip, full_page=True)
    page.context.close()
