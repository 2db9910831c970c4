"""``python -m kafkapipeline.devstack run-dag``: what the run command uses to wait for bootstrap."""

from __future__ import annotations

import json

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
