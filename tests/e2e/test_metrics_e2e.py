"""Metrics end to end: the run command's stack sends Airflow's and the pipeline's metrics through the
statsd-exporter to the Prometheus of scripts/services, and every panel of the Grafana board answers.

After a short run (bootstrap, one ingest of each stream, a malformed tweet, the drains, a health check,
and a source's HTTP client retrying against a local server that fails once and rate-limits once),
Prometheus, with its login, answers a lag query and a rows-written query for this stack's topics with
non-zero series, and each query of deploy/grafana/kafkapipeline-dashboard.json returns at least one
series. Without the login Prometheus answers 401.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.devstack import LocalStack
from kafkapipeline.airflow_api import wait_for
from kafkapipeline.sources.http_client import RetryPolicy, get_json
from kafkapipeline.sources.http_retry import RateLimited, RateLimits, http_retry
from tests.e2e.stacks import isolated_stack
from tests.metric_names import board_panels

pytestmark = pytest.mark.e2e

#: How long the panels may take to answer: a few scrapes (10 s) after the drains' batches.
PANELS_TIMEOUT = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory, cassandra, kafka_hook) -> Iterator[LocalStack]:
    extra = {"KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS": "3", "KAFKAPIPELINE_DRAIN_POLL_SECONDS": "1"}
    with isolated_stack(tmp_path_factory.mktemp("airflow-home"), extra, cassandra, kafka_hook) as stack:
        yield stack


class Prometheus:
    """The Prometheus of scripts/services, with the login from the state folder's secrets."""

    def __init__(self, env: dict[str, str]) -> None:
        self.base = f"http://127.0.0.1:{env.get('PROMETHEUS_PORT', '9090')}"
        state = Path(env.get("KAFKAPIPELINE_STATE") or Path(__file__).resolve().parents[2] / ".state")
        password = os.environ.get("KAFKAPIPELINE_PROMETHEUS_PASSWORD") or (
            (state / "secrets" / "prometheus.password").read_text().strip()
        )
        self.auth = ("prometheus", password)

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.base}/api/v1/query", params={"query": expr}, auth=self.auth, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]


class FlakySource(BaseHTTPRequestHandler):
    """A source API that fails its first request with a 503, then answers JSON."""

    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        status, body = (503, b"busy") if type(self).calls == 1 else (200, b'{"ok": true}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def exercise_a_source_client() -> None:
    """The sources' HTTP client against a local server: one retried 503, then one rate-limit wait."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakySource)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with requests.Session() as session:
            answer = get_json(
                session,
                f"http://127.0.0.1:{server.server_address[1]}/",
                {},
                source="e2e-source",
                label="e2e",
                policy=RetryPolicy(timeout=5, max_attempts=3, backoff_seconds=0),
                sleep=lambda _: None,
            )
        assert answer.status == 200
    finally:
        server.shutdown()
        server.server_close()
    waits = iter([RateLimited(0.01), "ok"])

    def attempt() -> str:
        answer = next(waits)
        if isinstance(answer, Exception):
            raise answer
        return answer

    retrying = http_retry(
        RetryPolicy(),
        "e2e",
        logging.getLogger(__name__),
        source="e2e-source",
        sleep=lambda _: None,
        rate_limits=RateLimits(60.0, 2),
    )
    assert retrying(attempt) == "ok"


def test_metrics_reach_prometheus_and_every_panel_answers(stack, kafka_hook):
    api, env = stack.api, stack.env
    prometheus = Prometheus(env)
    tweets, weather = env["KAFKAPIPELINE_TWEETS_TOPIC"], env["KAFKAPIPELINE_WEATHER_TOPIC"]

    assert (
        requests.get(f"{prometheus.base}/api/v1/query", params={"query": "up"}, timeout=30).status_code == 401
    )

    for dag_id in ("drain_tweets", "drain_weather", "ingest_tweets", "ingest_weather", "pipeline_health"):
        api.unpause(dag_id)
    runs = [
        (dag_id, api.trigger(dag_id, {"source": "replay"})) for dag_id in ("ingest_tweets", "ingest_weather")
    ]
    for dag_id, run_id in runs:
        assert api.wait_run(dag_id, run_id, timeout=600) == "success", dag_id
    # A value the drain cannot decode: a dead letter, by reason.
    producer = kafka_hook.producer()
    producer.produce(tweets, key=b"e2e", value=b"not json")
    assert producer.flush(30) == 0

    def rows_written() -> list[dict[str, Any]]:
        found = prometheus.query(f'kafkapipeline_drain_rows_written_total{{topic=~"{tweets}|{weather}"}} > 0')
        return found if {s["metric"]["topic"] for s in found} == {tweets, weather} else []

    wait_for("rows written by both drains in Prometheus", rows_written, timeout=600, interval=5)
    lag = prometheus.query(f'kafkapipeline_consumer_lag_messages{{topic="{tweets}"}}')
    assert lag and {s["metric"]["partition"] for s in lag}, "no lag series for the stack's tweets topic"
    dead = wait_for(
        "the malformed tweet's dead letter in Prometheus",
        lambda: prometheus.query(f'kafkapipeline_drain_dead_letters_total{{topic="{tweets}"}} > 0'),
        timeout=300,
        interval=5,
    )
    assert {s["metric"]["reason"] for s in dead} == {"invalid_value"}

    health = api.trigger("pipeline_health")
    api.wait_run("pipeline_health", health, timeout=600)  # it may fail a figure: its figures are sent first
    exercise_a_source_client()

    def silent_panels() -> list[str]:
        return [
            f"{panel['title']}: {target['expr']}"
            for panel in board_panels()
            for target in panel["targets"]
            if not prometheus.query(target["expr"])
        ]

    last: list[str] = []

    def all_answer() -> bool:
        last[:] = silent_panels()
        return not last

    try:
        wait_for("every panel of the board to return series", all_answer, timeout=PANELS_TIMEOUT, interval=10)
    except TimeoutError:
        pytest.fail("panels without series after the run:\n  " + "\n  ".join(last))
