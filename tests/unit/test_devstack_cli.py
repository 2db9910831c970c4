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
def test_api_calls_that_can_be_repeated_are_retried_after_a_server_error(monkeypatch):
    monkeypatch.setattr(devstack.time, "sleep", lambda _seconds: None)
    base = "http://airflow.test"
    responses.patch(f"{base}/api/v2/dags/bootstrap", status=500, json={"detail": "Database error"})
    responses.patch(f"{base}/api/v2/dags/bootstrap", status=200, json={"is_paused": False})
    responses.post(f"{base}/api/v2/dags/bootstrap/dagRuns", status=500, json={"detail": "Database error"})
    locked = "Database is locked. Backfill creation is not supported on SQLite under concurrent access."
    responses.post(f"{base}/api/v2/backfills", status=503, json={"detail": locked})
    responses.post(f"{base}/api/v2/backfills", status=200, json={"id": 7})
    api = devstack.AirflowApi(base)

    api.unpause("bootstrap")  # the 500 was retried
    with pytest.raises(devstack.StackError, match="500"):
        api.trigger("bootstrap")  # a trigger is not after a 500: it might have created the run
    # A 503 says the request was not carried out: sent again, whatever the method.
    assert api.backfill("ingest_tweets", "2026-11-20", "2026-11-21", {}) == {"id": 7}

    methods = [(call.request.method, call.request.url.rsplit("/", 1)[-1]) for call in responses.calls]
    assert methods == [
        ("PATCH", "bootstrap"),
        ("PATCH", "bootstrap"),
        ("POST", "dagRuns"),
        ("POST", "backfills"),
        ("POST", "backfills"),
    ]
