"""dag_last_run through Airflow's public REST API (POST /auth/token, GET /api/v2/dags/{id}/dagRuns),
with the api-server's answers mocked by ``responses``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from kafkapipeline.airflow_api import AirflowApi
from kafkapipeline.health.dag_runs import api_base_url, connect, dag_last_run_figures
from kafkapipeline.health.report import OK, WARN

BASE = "http://airflow.test:8080"
NOW = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def run(state: str, run_type: str = "scheduled", start: str | None = "2026-11-23T09:00:00Z") -> dict:
    """A DAGRunResponse as the api-server sends it (the fields the check reads, and a few more)."""
    return {
        "dag_run_id": f"{run_type}__2026-11-23T09:00:00+00:00",
        "dag_id": "drain_tweets",
        "logical_date": None,
        "start_date": start,
        "end_date": None,
        "run_after": "2026-11-23T08:59:58Z",
        "run_type": run_type,
        "state": state,
        "conf": {},
    }


def runs_url(dag_id: str) -> str:
    return f"{BASE}/api/v2/dags/{dag_id}/dagRuns"


#: Task instances of every run of any DAG (``dagRuns/~``): the retries the figure names.
RECENT_TIS = re.compile(rf"{re.escape(BASE)}/api/v2/dags/[^/]+/dagRuns/~/taskInstances")


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{BASE}/auth/token", json={"access_token": "jwt-1"}, status=201)
        mock.get(RECENT_TIS, json={"task_instances": [], "total_entries": 0})
        yield mock


def runs_listings(api) -> list:
    return [c.request for c in api.calls if urlparse(c.request.url).path.endswith("/dagRuns")]


def client() -> AirflowApi:
    return connect(BASE, "health", "s3cret")


def test_the_latest_run_of_each_dag_by_run_after_with_one_login(api):
    api.get(runs_url("drain_tweets"), json={"dag_runs": [run("running", "manual")], "total_entries": 40})
    api.get(runs_url("export_csv"), json={"dag_runs": [run("failed")], "total_entries": 3})
    api.get(runs_url("purge_expired"), json={"dag_runs": [], "total_entries": 0})

    figures, note = dag_last_run_figures(["drain_tweets", "export_csv", "purge_expired"], NOW, client)

    assert note is None
    assert [(f.subject, f.value, f.status, f.detail) for f in figures] == [
        ("drain_tweets", 900.0, OK, "running (manual, started 2026-11-23T09:00:00+00:00)"),
        ("export_csv", 900.0, WARN, "failed (scheduled, started 2026-11-23T09:00:00+00:00)"),
        ("purge_expired", 0.0, WARN, "no run yet"),
    ]
    logins = [c for c in api.calls if c.request.url.endswith("/auth/token")]
    assert len(logins) == 1
    assert json.loads(logins[0].request.body) == {"username": "health", "password": "s3cret"}
    listing = runs_listings(api)
    assert [r.headers["Authorization"] for r in listing] == ["Bearer jwt-1"] * 3
    assert parse_qs(urlparse(listing[0].url).query) == {"order_by": ["-run_after"], "limit": ["1"]}


def test_a_queued_run_is_aged_from_run_after(api):
    api.get(runs_url("drain_tweets"), json={"dag_runs": [run("queued", start=None)], "total_entries": 1})
    (figure,), _ = dag_last_run_figures(["drain_tweets"], NOW, client)
    assert (figure.value, figure.status) == (902.0, OK)
    assert figure.detail == "queued (scheduled, started 2026-11-23T08:59:58+00:00)"


def test_an_unknown_dag_or_a_server_error_is_a_warning_for_that_dag_only(api, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _: None)  # tenacity's waits between tries
    api.get(runs_url("gone"), json={"detail": "not found"}, status=404)
    api.get(runs_url("flaky"), status=503)
    api.get(runs_url("drain_tweets"), json={"dag_runs": [run("success")], "total_entries": 1})

    figures, note = dag_last_run_figures(["gone", "flaky", "drain_tweets"], NOW, client)

    assert note is None
    assert [(f.subject, f.status) for f in figures] == [("gone", WARN), ("flaky", WARN), ("drain_tweets", OK)]
    assert figures[0].detail == "unreadable: LookupError: DAG gone not found by the api-server"
    assert (
        figures[1].detail
        == "unreadable: RuntimeError: HTTP 503 from /api/v2/dags/flaky/dagRuns after 3 tries"
    )
    assert len([c for c in api.calls if c.request.url.startswith(runs_url("flaky"))]) == 3  # retried


def test_a_refused_login_is_one_warning_and_the_password_is_not_in_it(api):
    api.replace(responses.POST, f"{BASE}/auth/token", json={"detail": "Invalid credentials"}, status=401)

    figures, note = dag_last_run_figures(["drain_tweets", "export_csv"], NOW, client)

    (figure,) = figures
    assert (figure.subject, figure.status) == ("*", WARN)
    assert figure.detail == (
        f"unavailable: the api-server at {BASE} refused the login of connection "
        "'airflow_api_default' (HTTP 401)"
    )
    assert note == f"dag_last_run {figure.detail}"
    assert "s3cret" not in figure.detail


def test_a_dag_the_user_may_not_read_is_its_own_warning_a_rejected_token_is_one(api):
    api.get(runs_url("secret"), json={"detail": "Forbidden"}, status=403)
    api.get(runs_url("drain_tweets"), json={"dag_runs": [run("success")], "total_entries": 1})
    figures, note = dag_last_run_figures(["secret", "drain_tweets"], NOW, client)
    assert [(f.subject, f.status) for f in figures] == [("secret", WARN), ("drain_tweets", OK)]
    assert figures[0].detail == (
        "unreadable: PermissionError: the user of connection 'airflow_api_default' "
        "may not read the runs of secret"
    )
    assert note is None

    api.replace(responses.GET, runs_url("secret"), json={"detail": "Token expired"}, status=401)
    figures, note = dag_last_run_figures(["secret", "drain_tweets"], NOW, client)
    assert [(f.subject, f.status, f.detail) for f in figures] == [
        ("*", WARN, "unavailable: the api-server refused the token of connection 'airflow_api_default'")
    ]


def test_an_unreachable_api_server_is_one_warning(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _: None)
    with responses.RequestsMock():  # every request fails to connect
        figures, _ = dag_last_run_figures(["drain_tweets"], NOW, client)
    (figure,) = figures
    assert (figure.subject, figure.status) == ("*", WARN)
    assert figure.detail == (
        f"unavailable: api-server unreachable after 3 tries: ConnectionError from {BASE}"
    )


def test_the_client_comes_from_the_airflow_api_default_connection(api, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRFLOW_API_DEFAULT",
        json.dumps(
            {"conn_type": "http", "host": "airflow.test", "port": 8080, "login": "health", "password": "pw"}
        ),
    )
    api.get(runs_url("drain_tweets"), json={"dag_runs": [run("success")], "total_entries": 1})

    (figure,), note = dag_last_run_figures(["drain_tweets"], NOW)

    assert (figure.subject, figure.status, note) == ("drain_tweets", OK, None)
    assert json.loads(api.calls[0].request.body) == {"username": "health", "password": "pw"}


class Conn:
    def __init__(self, host, port=None, schema=None):
        self.conn_id, self.host, self.port, self.schema = "airflow_api_default", host, port, schema


def test_the_base_url_takes_a_host_with_or_without_scheme_and_port():
    assert api_base_url(Conn("http://127.0.0.1:8080/")) == "http://127.0.0.1:8080"
    assert api_base_url(Conn("127.0.0.1", 8080)) == "http://127.0.0.1:8080"
    assert api_base_url(Conn("airflow.example.com", schema="https")) == "https://airflow.example.com"
    assert api_base_url(Conn("https://airflow.example.com", 8443)) == "https://airflow.example.com:8443"
    assert api_base_url(Conn("https://example.com/airflow/", 8443)) == "https://example.com:8443/airflow"
    assert api_base_url(Conn("http://127.0.0.1:8080", 9999)) == "http://127.0.0.1:8080"
    with pytest.raises(RuntimeError, match="has no host"):
        api_base_url(Conn(""))


def test_a_drain_retried_after_a_kill_is_named_and_warns(api):
    run_id = "scheduled__2026-11-23T09:00:00+00:00"
    tis = (
        f"{BASE}/api/v2/dags/drain_tweets/dagRuns/scheduled__2026-11-23T09%3A00%3A00%2B00%3A00/taskInstances"
    )
    api.get(runs_url("drain_tweets"), json={"dag_runs": [run("running")], "total_entries": 1})
    api.replace(
        responses.GET,
        RECENT_TIS,
        json={
            "task_instances": [
                {
                    "task_id": "drain",
                    "dag_run_id": run_id,
                    "map_index": 0,
                    "try_number": 2,
                    "state": "success",
                },
                {"task_id": "wait_for_batch", "dag_run_id": run_id, "map_index": -1, "try_number": 1},
            ],
            "total_entries": 2,
        },
    )
    api.get(
        f"{tis}/drain/0/tries",
        json={
            "task_instances": [
                {"try_number": 1, "state": "up_for_retry"},
                {"try_number": 2, "state": "success"},
            ]
        },
    )
    api.get(f"{BASE}/api/v2/eventLogs", json={"event_logs": [], "total_entries": 0})
    api.get(
        f"{tis}/drain/logs/1",
        json={
            "content": [{"event": "Process terminated by signal.", "signal": -9, "signal_name": "SIGKILL"}]
        },
    )

    (figure,), note = dag_last_run_figures(["drain_tweets"], NOW, client, hours=2)

    assert (figure.subject, figure.status, note) == ("drain_tweets", WARN, None)
    assert figure.detail == (
        "running (scheduled, started 2026-11-23T09:00:00+00:00); retried: drain[0] of "
        f"{run_id}: try 1 killed by signal 9 (SIGKILL), now try 2 success"
    )
    recent = next(c.request for c in api.calls if "dagRuns/~/taskInstances" in c.request.url)
    assert parse_qs(urlparse(recent.url).query) == {
        "start_date_gte": ["2026-11-23T07:15:00+00:00"],
        "order_by": ["-try_number"],
        "limit": ["100"],
    }


def test_retries_that_cannot_be_read_leave_the_last_run_readable(api):
    api.get(runs_url("drain_tweets"), json={"dag_runs": [run("success")], "total_entries": 1})
    api.replace(responses.GET, RECENT_TIS, json={"detail": "Forbidden"}, status=403)
    (figure,), _ = dag_last_run_figures(["drain_tweets"], NOW, client)
    assert figure.status == WARN
    assert figure.detail.startswith(
        "success (scheduled, started 2026-11-23T09:00:00+00:00); retries unreadable: "
        "ApiError: GET /dags/drain_tweets/dagRuns/~/taskInstances: 403"
    )
