"""The dashboard app under load and failure, without services: the cap, shared reads, error bodies, headers.

Cassandra is a real driver talking to a port that accepts TCP connections and never answers (a hung
Cassandra), or to a closed port: nothing is mocked, a read holds its slot for the driver's timeout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from kafkapipeline.dashboard import app as dashboard_module
from kafkapipeline.dashboard import worker
from kafkapipeline.dashboard.access import require_dashboard_reader
from kafkapipeline.dashboard.admission import RETRY_AFTER_SECONDS

CLOSED_PORT_CONN = json.dumps({"conn_type": "cassandra", "host": "127.0.0.1", "port": 1})
#: Seconds the driver waits for the hung Cassandra (short: each read holds its slot this long).
CONNECT_TIMEOUT = 0.5
DAY = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}
OTHER_DAY = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"}
THIRD_DAY = {"start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"}
SECURITY_HEADERS = {"content-security-policy": "frame-ancestors 'self'", "x-content-type-options": "nosniff"}


@pytest.fixture
def hung_cassandra(monkeypatch) -> Iterator[int]:
    """cassandra_default on a port that takes connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        port = server.getsockname()[1]
        conn = {"conn_type": "cassandra", "host": "127.0.0.1", "port": port}
        monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", json.dumps(conn))
        yield port


def client_for(monkeypatch, *, cap: int, cache_seconds: int) -> TestClient:
    monkeypatch.setenv("KAFKAPIPELINE_DASHBOARD_MAX_CONCURRENT_REQUESTS", str(cap))
    monkeypatch.setenv("KAFKAPIPELINE_DASHBOARD_CACHE_SECONDS", str(cache_seconds))
    app = dashboard_module.create_app(dashboard_module.read_pool(connect_timeout=CONNECT_TIMEOUT))
    app.dependency_overrides[require_dashboard_reader] = lambda: None
    return TestClient(app, raise_server_exceptions=False)


def wait_for_running(client: TestClient, count: int) -> None:
    deadline = time.monotonic() + 10
    while client.app.state.pool.running < count:
        assert time.monotonic() < deadline, f"{count} reads never ran at once"
        time.sleep(0.01)


def test_beyond_the_cap_a_request_gets_429_with_retry_after_at_once(hung_cassandra, monkeypatch):
    with client_for(monkeypatch, cap=2, cache_seconds=0) as client, ThreadPoolExecutor(2) as threads:
        running = [
            threads.submit(client.get, "/api/sentiment-weather", params={"city": "Vancouver", **DAY}),
            threads.submit(client.get, "/api/pipeline-state", params=OTHER_DAY),
        ]
        wait_for_running(client, 2)

        refused = client.get("/api/sentiment-weather", params={"city": "Vancouver", **THIRD_DAY})

        assert not any(future.done() for future in running)  # refused while they run: never queued
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert refused.headers["cache-control"] == "no-store"
        body = refused.json()
        assert body["error"] == "busy"
        assert body["detail"] == (
            f"This api-server is answering 2 dashboard reads, the most it runs at once: "
            f"retry in {RETRY_AFTER_SECONDS} s."
        )
        assert [future.result(30).status_code for future in running] == [503, 503]
        assert client.app.state.pool.running == 0
        # The slots are free again: the next read runs (and meets the hung Cassandra).
        assert client.get("/api/pipeline-state", params=THIRD_DAY).status_code == 503


def test_the_same_city_and_range_asked_while_it_is_read_shares_that_read(hung_cassandra, monkeypatch):
    with client_for(monkeypatch, cap=1, cache_seconds=30) as client, ThreadPoolExecutor(3) as threads:
        params = {"city": "Vancouver", **DAY}
        first = threads.submit(client.get, "/api/sentiment-weather", params=params)
        wait_for_running(client, 1)
        same = [threads.submit(client.get, "/api/sentiment-weather", params=params) for _ in range(2)]
        other_city = client.get("/api/sentiment-weather", params={"city": "Burnaby", **DAY})

        assert other_city.status_code == 429  # another key needs a slot of its own
        responses = [first.result(30), *(future.result(30) for future in same)]
        assert [response.status_code for response in responses] == [503, 503, 503]  # no 429: one read
        assert len({response.json()["request_id"] for response in responses}) == 3  # each logged apart


def test_without_the_cache_the_same_range_needs_its_own_slot(hung_cassandra, monkeypatch):
    with client_for(monkeypatch, cap=1, cache_seconds=0) as client, ThreadPoolExecutor(1) as threads:
        params = {"city": "Vancouver", **DAY}
        first = threads.submit(client.get, "/api/sentiment-weather", params=params)
        wait_for_running(client, 1)
        assert client.get("/api/sentiment-weather", params=params).status_code == 429
        assert first.result(30).status_code == 503


def test_an_unreachable_cassandra_is_a_503_without_its_address_or_the_drivers_text(monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", CLOSED_PORT_CONN)
    with client_for(monkeypatch, cap=4, cache_seconds=30) as client, caplog.at_level(logging.WARNING):
        response = client.get("/api/pipeline-state", params=DAY)

    assert response.status_code == 503
    body = response.json()
    request_id = body["request_id"]
    assert body == {
        "error": "cassandra_unreachable",
        "detail": f"Cassandra did not answer the dashboard's read. Request id {request_id} "
        "(in the api-server's log).",
        "request_id": request_id,
    }
    for leak in ("127.0.0.1", ":1", "cassandra_default", "NoHostAvailable", "refused", "Errno"):
        assert leak not in response.text, leak
    # The log has what the body leaves out, under the same request id.
    (logged,) = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert "Cassandra is unreachable at 127.0.0.1:1 (connection 'cassandra_default')" in logged


def test_a_bad_setting_is_a_503_that_points_at_the_log_not_at_the_value(monkeypatch, caplog):
    monkeypatch.setenv("KAFKAPIPELINE_KEYSPACE", "db.internal.example:9042")
    with client_for(monkeypatch, cap=4, cache_seconds=30) as client, caplog.at_level(logging.WARNING):
        response = client.get("/api/pipeline-state")

    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "configuration"
    assert "db.internal.example" not in response.text
    assert "KAFKAPIPELINE_* setting is missing or invalid" in body["detail"]
    assert any(
        body["request_id"] in r.getMessage() and "KAFKAPIPELINE_KEYSPACE" in r.getMessage()
        for r in caplog.records
    )


def failing_read() -> None:
    """A read whose exception has no handler (it runs in a worker: a module-level function)."""

    def build(_sessions: object) -> BaseModel:
        raise KeyError("row from 10.1.2.3 had no column 'secret'")

    worker.answer(build)


def test_an_unexpected_failure_is_a_500_that_quotes_nothing(monkeypatch, caplog):
    client = client_for(monkeypatch, cap=4, cache_seconds=30)
    app = client.app

    @app.get("/api/failing")
    async def failing() -> None:
        await dashboard_module.cached_read(app.state.pool, app.state.cache, "failing", failing_read)

    with client, caplog.at_level(logging.ERROR):
        response = client.get("/api/failing")

    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal"
    assert body["detail"].startswith("The dashboard could not build this response. Request id ")
    assert "10.1.2.3" not in response.text and "secret" not in response.text
    (record,) = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert 'internal: KeyError: "row from 10.1.2.3' in record.getMessage()
    # The worker's traceback is logged with it, down to the line that raised.
    logged = logging.Formatter().formatException(record.exc_info)
    assert "in build" in logged and "raise KeyError" in logged


@pytest.mark.parametrize(
    ("path", "params", "authenticated", "status"),
    [
        ("/static/dashboard.js", {}, False, 200),
        ("/api/cities", {}, True, 200),
        ("/openapi.json", {}, True, 200),
        ("/api/cities", {}, False, 401),
        ("/api/sentiment-weather", {"start": "yesterday"}, True, 422),
        ("/api/pipeline-state", DAY, True, 503),
        ("/no-such-page", {}, True, 404),
    ],
)
def test_every_response_forbids_foreign_framing_and_sniffing(
    monkeypatch, path, params, authenticated, status
):
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", CLOSED_PORT_CONN)
    client = client_for(monkeypatch, cap=4, cache_seconds=30)
    if not authenticated:
        client.app.dependency_overrides.clear()
    with client:
        response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def forked_workers() -> set[int]:
    """The processes this process's forkserver forked: worker processes of its pools."""
    found = set()
    for server in psutil.Process().children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if "multiprocessing.forkserver" in " ".join(server.cmdline()):
                found |= {worker.pid for worker in server.children()}
    return found


def test_the_app_starts_its_workers_on_the_first_read_and_ends_them_when_it_shuts_down(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", CLOSED_PORT_CONN)
    before = forked_workers()
    with client_for(monkeypatch, cap=2, cache_seconds=0) as client:
        pool = client.app.state.pool
        assert not pool.started  # the app's start starts no process either
        assert client.get("/api/pipeline-state", params=DAY).status_code == 503
        assert pool.started
        workers = forked_workers() - before
        assert workers  # the read ran in a worker process of this app's pool
    assert not pool.started
    deadline = time.monotonic() + 10
    while workers & forked_workers():
        assert time.monotonic() < deadline, f"workers {workers} outlived the app"
        time.sleep(0.05)
