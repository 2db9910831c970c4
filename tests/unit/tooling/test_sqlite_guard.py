"""No test silently runs Airflow on SQLite: tests/conftest.py stops the session unless asked."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ALLOW_SQLITE, REPO_ROOT, sqlite_metadata_reasons

POSTGRES = "postgresql+psycopg2://airflow:pw@127.0.0.1:5432/airflow"


def test_postgres_is_no_reason():
    assert sqlite_metadata_reasons({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": POSTGRES}) == []
    env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": POSTGRES, "KAFKAPIPELINE_METADATA_DB": "postgres"}
    assert sqlite_metadata_reasons(env) == []


def test_an_sqlite_url_or_sqlite_stacks_are_named():
    [own] = sqlite_metadata_reasons(
        {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////tmp/a/airflow.db?x=1"}
    )
    assert own == "this process's metadata database is sqlite:////tmp/a/airflow.db"
    # This process on Postgres, but the e2e stacks recompute their URL from the setting.
    [stacks] = sqlite_metadata_reasons(
        {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": POSTGRES, "KAFKAPIPELINE_METADATA_DB": "sqlite"}
    )
    assert stacks.startswith("KAFKAPIPELINE_METADATA_DB=sqlite")


def _pytest_on(metadata_db: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """A pytest session (collection only) whose conftest builds the environment from scratch."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__DATABASE__", "KAFKAPIPELINE_METADATA_DB", ALLOW_SQLITE))
    }
    env |= {"KAFKAPIPELINE_METADATA_DB": metadata_db, **extra}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", "-o", "addopts=",
         "tests/unit/csvio/test_csv_lines.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip


def test_a_session_on_sqlite_stops_with_the_reason_and_the_way_out():
    done = _pytest_on("sqlite")
    output = done.stdout + done.stderr
    assert done.returncode == 4, output[-2000:]  # pytest's usage error
    assert "the tests would run Airflow on SQLite" in output
    assert "KAFKAPIPELINE_METADATA_DB=sqlite" in output and f"{ALLOW_SQLITE}=1" in output
    assert "<Function " not in output, "nothing was collected"


def test_sqlite_on_purpose_runs_and_says_so_in_the_header():
    done = _pytest_on("sqlite", **{ALLOW_SQLITE: "1"})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert f"Airflow metadata database: sqlite (SQLite, allowed by {ALLOW_SQLITE})" in output
    assert "<Function " in output
