"""The run command's steps: ``python -m devtools.devstack`` (run-dag, unpause), first-run backfill."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
import responses

from devtools import devstack, first_run
from kafkapipeline.airflow_api import SQLITE_WRITE_LOCK, AirflowApi, ApiError


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
def test_on_sqlite_api_calls_are_retried_after_a_server_error_only_where_that_does_nothing_twice(
    monkeypatch,
):
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
    api = AirflowApi(base, retry=SQLITE_WRITE_LOCK)

    api.unpause("bootstrap")  # the 500 was retried
    # The 500 came after the run was made: the repeat, same run id, is told it exists.
    run_id = api.trigger("bootstrap")
    sent = [json.loads(call.request.body)["dag_run_id"] for call in responses.calls[2:4]]
    assert sent == [run_id, run_id] and run_id.startswith("manual__")
    with pytest.raises(ApiError, match="400"):
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


@responses.activate
def test_on_postgres_a_server_error_is_reported_at_once(monkeypatch):
    """No lock to wait for: the SQLite retries would only hide a real error for a minute."""
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://a:b@127.0.0.1/x")
    base = "http://airflow.test"
    responses.post(f"{base}/api/v2/backfills", status=503, json={"detail": "unavailable"})
    responses.patch(f"{base}/api/v2/dags/bootstrap", status=500, json={"detail": "boom"})
    api = AirflowApi(base, retry=devstack.api_retry(os.environ))
    with pytest.raises(ApiError, match="503"):
        api.backfill("ingest_tweets", "2026-11-20", "2026-11-21", {})
    with pytest.raises(ApiError, match="500"):
        api.unpause("bootstrap")
    assert len(responses.calls) == 2


@pytest.mark.parametrize(
    ("env", "sqlite"),
    [
        ({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////tmp/airflow.db"}, True),
        ({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://a:b@h/x"}, False),
        ({"KAFKAPIPELINE_METADATA_DB": "sqlite"}, True),  # env.sh will build the sqlite URL
        ({"KAFKAPIPELINE_METADATA_DB": "postgres"}, False),
        ({}, False),
    ],
)
def test_which_metadata_database_is_sqlite(env, sqlite):
    assert devstack.sqlite_metadata(env) is sqlite


def test_only_a_test_stacks_own_database_is_ever_dropped(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_STATE", "/nonexistent-state")  # no password file is written
    common = {"PATH": "/usr/bin:/bin", "KAFKAPIPELINE_POSTGRES_PASSWORD": "x"}
    with pytest.raises(devstack.StackError, match="refusing to drop database 'airflow'"):
        devstack.drop_database(common | {"KAFKAPIPELINE_POSTGRES_DB": "airflow"})
    # The caller's own URL (another database) would win in env.sh: refused too.
    own = "postgresql+psycopg2://airflow:x@127.0.0.1:5432/airflow"
    with pytest.raises(devstack.StackError, match="names another database"):
        devstack.drop_database(
            common | {"KAFKAPIPELINE_POSTGRES_DB": "stack_1", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": own}
        )


# --- the run command's other steps: unpause, first-run backfill ---------------------------

BASE = "http://airflow.test"
NOW = datetime(2026, 12, 1, 14, 37, 12, tzinfo=UTC)


@pytest.fixture
def passwords(monkeypatch, tmp_path):
    path = tmp_path / "passwords.json"
    path.write_text(json.dumps({"admin": "secret-value"}))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(path))
    responses.post(f"{BASE}/auth/token", status=201, json={"access_token": "token"})
    return path


def backfill_answer(backfill_id: int, dag_id: str) -> dict:
    return {"id": backfill_id, "dag_id": dag_id, "is_paused": False, "completed_at": None}


@responses.activate
def test_unpause_goes_on_past_a_dag_it_cannot_unpause_and_says_which(passwords, capsys):
    for dag_id in ("ingest_tweets", "import_csv"):
        responses.get(f"{BASE}/api/v2/dags/{dag_id}", json={"dag_id": dag_id})
    responses.patch(f"{BASE}/api/v2/dags/ingest_tweets", status=403, json={"detail": "Forbidden"})
    responses.patch(f"{BASE}/api/v2/dags/import_csv", json={"is_paused": False})

    assert devstack.main(["--url", BASE, "unpause", "ingest_tweets", "import_csv"]) == 1

    out, err = capsys.readouterr()
    assert "error: unpause ingest_tweets: PATCH /dags/ingest_tweets: 403" in err
    assert out == "Unpaused import_csv\n"
    patched = [json.loads(c.request.body) for c in responses.calls if c.request.method == "PATCH"]
    assert patched == [{"is_paused": False}, {"is_paused": False}]


@responses.activate
def test_unpause_waits_until_the_dag_processor_has_parsed_the_dag(passwords, monkeypatch, capsys):
    monkeypatch.setattr(devstack.time, "sleep", lambda _seconds: None)
    responses.get(f"{BASE}/api/v2/dags/export_csv", status=404, json={"detail": "not found"})
    responses.get(f"{BASE}/api/v2/dags/export_csv", status=404, json={"detail": "not found"})
    responses.get(f"{BASE}/api/v2/dags/export_csv", json={"dag_id": "export_csv"})
    responses.patch(f"{BASE}/api/v2/dags/export_csv", json={"is_paused": False})

    assert devstack.main(["--url", BASE, "unpause", "export_csv"]) == 0
    assert capsys.readouterr().out == "Unpaused export_csv\n"
    assert [c.request.method for c in responses.calls][-4:] == ["GET", "GET", "GET", "PATCH"]


def test_the_window_is_whole_hours_back_from_the_current_hour_up_to_now():
    start, end = first_run.window(NOW, 24)
    assert start == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    assert end == NOW
    later = datetime(2026, 12, 1, 9, 37, tzinfo=timezone(timedelta(hours=-5)))  # 14:37 UTC
    assert first_run.window(later, 2) == (datetime(2026, 12, 1, 12, 0, tzinfo=UTC), later)


@responses.activate
def test_first_run_backfills_each_dag_once_then_the_marker_stops_it(passwords, tmp_path):
    marker = tmp_path / "state" / "first-run.json"
    for backfill_id, dag_id in enumerate(("ingest_weather", "ingest_tweets"), start=1):
        responses.get(f"{BASE}/api/v2/dags/{dag_id}", json={"dag_id": dag_id})
        responses.get(f"{BASE}/api/v2/backfills", json={"backfills": [], "total_entries": 0})
        responses.post(f"{BASE}/api/v2/backfills", json=backfill_answer(backfill_id, dag_id))
    api = AirflowApi.login(BASE, "admin", "secret-value")

    lines = first_run.first_run_backfill(
        ["ingest_weather", "ingest_tweets"], 24, marker, first_run.api_creator(api), now=NOW
    )

    posted = [json.loads(c.request.body) for c in responses.calls if c.request.url.endswith("/backfills")]
    assert posted == [
        {
            "dag_id": dag_id,
            "from_date": "2026-11-30T14:00:00+00:00",
            "to_date": NOW.isoformat(),
            "run_backwards": True,
            "dag_run_conf": None,  # the DAG's default Params: its default source
            "reprocess_behavior": "none",
            "max_active_runs": first_run.MAX_ACTIVE_RUNS,
        }
        for dag_id in ("ingest_weather", "ingest_tweets")
    ]
    listed = [c.request.url for c in responses.calls if "/backfills?" in c.request.url]
    assert listed == [
        f"{BASE}/api/v2/backfills?dag_id={d}&limit=100" for d in ("ingest_weather", "ingest_tweets")
    ]
    assert lines[0].startswith("ingest_weather: backfill 1 over 2026-11-30 14:00 - 14:37 UTC (24 h")
    assert lines[1].startswith("ingest_tweets: backfill 2 over")
    assert json.loads(marker.read_text())["backfills"] == {"ingest_weather": 1, "ingest_tweets": 2}

    calls = len(responses.calls)
    again = first_run.first_run_backfill(["ingest_weather"], 24, marker, first_run.api_creator(api), now=NOW)
    assert len(responses.calls) == calls  # nothing asked, nothing created
    assert again == [f"already made for this install ({marker}); none created"]


@responses.activate
def test_a_dag_that_has_a_backfill_keeps_it_and_nothing_left_to_run_is_not_an_error(passwords, tmp_path):
    marker = tmp_path / "first-run.json"
    responses.get(f"{BASE}/api/v2/dags/ingest_weather", json={"dag_id": "ingest_weather"})
    responses.get(
        f"{BASE}/api/v2/backfills",
        json={"backfills": [backfill_answer(5, "ingest_weather")], "total_entries": 1},
    )
    responses.get(f"{BASE}/api/v2/dags/ingest_tweets", json={"dag_id": "ingest_tweets"})
    responses.get(f"{BASE}/api/v2/backfills", json={"backfills": [], "total_entries": 0})
    responses.post(
        f"{BASE}/api/v2/backfills",
        status=422,
        json={"detail": "No runs to create for Dag ingest_tweets in the range [...]"},
    )
    api = AirflowApi.login(BASE, "admin", "secret-value")

    lines = first_run.first_run_backfill(
        ["ingest_weather", "ingest_tweets"], 24, marker, first_run.api_creator(api), now=NOW
    )

    assert [c.request.method for c in responses.calls if "/backfills" in c.request.url] == [
        "GET",
        "GET",
        "POST",
    ]
    assert lines[0].startswith("ingest_weather: backfill 5 over")
    assert lines[1].startswith("ingest_tweets: no backfill needed over")
    assert json.loads(marker.read_text())["backfills"] == {"ingest_weather": 5, "ingest_tweets": None}


@responses.activate
def test_a_backfill_made_meanwhile_is_reported_not_made_twice(passwords, tmp_path):
    responses.get(f"{BASE}/api/v2/dags/ingest_tweets", json={"dag_id": "ingest_tweets"})
    responses.get(f"{BASE}/api/v2/backfills", json={"backfills": [], "total_entries": 0})
    responses.post(
        f"{BASE}/api/v2/backfills", status=409, json={"detail": "There is already a running backfill"}
    )
    responses.get(
        f"{BASE}/api/v2/backfills",
        json={"backfills": [backfill_answer(9, "ingest_tweets")], "total_entries": 1},
    )
    api = AirflowApi.login(BASE, "admin", "secret-value")

    lines = first_run.first_run_backfill(
        ["ingest_tweets"], 6, tmp_path / "m.json", first_run.api_creator(api), now=NOW
    )
    assert lines == [
        "ingest_tweets: backfill 9 over 2026-12-01 08:00 - 14:37 UTC (6 h, newest first, 4 runs at a time)"
    ]


@responses.activate
def test_a_failed_backfill_writes_no_marker_and_the_command_says_why(passwords, tmp_path, capsys):
    marker = tmp_path / "first-run.json"
    responses.get(f"{BASE}/api/v2/dags/ingest_tweets", json={"dag_id": "ingest_tweets"})
    responses.get(f"{BASE}/api/v2/backfills", json={"backfills": [], "total_entries": 0})
    responses.post(f"{BASE}/api/v2/backfills", status=500, json={"detail": "Internal Server Error"})

    code = first_run.main(["ingest_tweets", "--hours", "24", "--marker", str(marker), "--url", BASE])

    assert code == 1
    assert not marker.exists()  # the next start tries again
    err = capsys.readouterr().err
    assert err.startswith("error: first-run backfill: POST /backfills: 500")
    assert "secret-value" not in err
    assert (
        len([c for c in responses.calls if c.request.method == "POST" and "backfills" in c.request.url]) == 1
    )


def test_zero_hours_turns_the_first_run_backfill_off(tmp_path, capsys):
    marker = tmp_path / "first-run.json"

    def create(*_args):
        raise AssertionError("nothing is created when the setting is 0")

    assert first_run.first_run_backfill(["ingest_tweets"], 0, marker, create) == [
        "off (KAFKAPIPELINE_FIRST_RUN_BACKFILL_HOURS=0)"
    ]
    assert not marker.exists()


def test_the_cli_way_serializes_the_dags_once_then_creates_each_backfill(tmp_path):
    """``--cli``: the ``airflow`` commands and arguments the run command relies on."""
    calls = tmp_path / "calls.txt"
    airflow = tmp_path / "airflow"
    airflow.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'case "$*" in *ingest_weather*) echo "Created backfill Dag run. backfill_id=3";; esac\n'
        'case "$*" in *ingest_tweets*) echo "Warning: No runs to create for Dag" >&2; exit 1;; esac\n'
    )
    airflow.chmod(0o755)
    marker = tmp_path / "first-run.json"

    lines = first_run.first_run_backfill(
        ["ingest_weather", "ingest_tweets"], 24, marker, first_run.cli_creator(str(airflow)), now=NOW
    )

    assert calls.read_text().splitlines() == [
        "dags reserialize",
        *(
            f"backfill create --dag-id {dag_id} --from-date 2026-11-30T14:00:00+00:00 "
            f"--to-date {NOW.isoformat()} --reprocess-behavior none --run-backwards --max-active-runs 4"
            for dag_id in ("ingest_weather", "ingest_tweets")
        ),
    ]
    assert lines[0].startswith("ingest_weather: backfill 3 over")
    assert lines[1].startswith("ingest_tweets: no backfill needed")
    assert json.loads(marker.read_text())["backfills"] == {"ingest_weather": 3, "ingest_tweets": None}


def test_the_cli_way_stops_at_a_failing_airflow_command_and_writes_no_marker(tmp_path):
    airflow = tmp_path / "airflow"
    airflow.write_text('#!/bin/sh\necho "DagNotFound: Could not find dag ingest_tweets" >&2\nexit 1\n')
    airflow.chmod(0o755)
    marker = tmp_path / "first-run.json"

    with pytest.raises(devstack.StackError, match=r"(?s)airflow dags reserialize failed \(1\).*DagNotFound"):
        first_run.first_run_backfill(
            ["ingest_tweets"], 24, marker, first_run.cli_creator(str(airflow)), now=NOW
        )
    assert not marker.exists()
