"""``python -m kafkapipeline.devstack run-dag``: what the run command uses to wait for bootstrap."""

from __future__ import annotations

import json

import pytest
import responses

from kafkapipeline import devstack


def test_run_dag_without_a_passwords_file_says_which_file(monkeypatch, tmp_path, capsys):
    missing = tmp_path / "passwords.json"
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(missing))
    assert devstack.main(["run-dag", "bootstrap"]) == 1
    assert f"no admin password in {missing}" in capsys.readouterr().err


def test_run_dag_against_an_airflow_that_is_not_there_fails_cleanly(monkeypatch, tmp_path, capsys):
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": "secret-value"}))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    closed = devstack.free_port()  # nothing listens there
    assert devstack.main(["run-dag", "bootstrap", "--url", f"http://127.0.0.1:{closed}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: bootstrap:")
    assert "secret-value" not in err  # the password never reaches the output


@responses.activate
def test_api_calls_are_retried_after_a_server_error_only_where_that_does_nothing_twice(monkeypatch):
    monkeypatch.setattr(devstack.time, "sleep", lambda _seconds: None)
    base = "http://airflow.test"
    responses.patch(f"{base}/api/v2/dags/bootstrap", status=500, json={"detail": "Database error"})
    responses.patch(f"{base}/api/v2/dags/bootstrap", status=200, json={"is_paused": False})
    responses.post(f"{base}/api/v2/dags/bootstrap/dagRuns", status=500, json={"detail": "Database error"})
    responses.post(f"{base}/api/v2/dags/bootstrap/dagRuns", status=409, json={"detail": "already exists"})
    responses.post(f"{base}/api/v2/dags/bootstrap/dagRuns", status=400, json={"detail": "bad conf"})
    locked = "Database is locked. Backfill creation is not supported on SQLite under concurrent access."
    responses.post(f"{base}/api/v2/backfills", status=503, json={"detail": locked})
    responses.post(f"{base}/api/v2/backfills", status=200, json={"id": 7})
    api = devstack.AirflowApi(base)

    api.unpause("bootstrap")  # the 500 was retried
    # The 500 came after the run was made: the repeat, same run id, is told it exists.
    run_id = api.trigger("bootstrap")
    sent = [json.loads(call.request.body)["dag_run_id"] for call in responses.calls[2:4]]
    assert sent == [run_id, run_id] and run_id.startswith("manual__")
    with pytest.raises(devstack.StackError, match="400"):
        api.trigger("bootstrap")  # a client error is not sent again
    # A 503 says the request was not carried out: sent again, whatever the method.
    assert api.backfill("ingest_tweets", "2026-11-20", "2026-11-21", {}) == {"id": 7}

    methods = [(call.request.method, call.request.url.rsplit("/", 1)[-1]) for call in responses.calls]
    assert methods == [
        ("PATCH", "bootstrap"),
        ("PATCH", "bootstrap"),
        ("POST", "dagRuns"),
        ("POST", "dagRuns"),
        ("POST", "dagRuns"),
        ("POST", "backfills"),
        ("POST", "backfills"),
    ]
