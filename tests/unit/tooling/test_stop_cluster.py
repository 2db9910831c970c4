"""`make stop` / `make clean` stop a `make run CLUSTER=1` cluster too, whatever KAFKAPIPELINE_CLUSTER says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "scripts"))

from services_lib import cli  # noqa: E402

SERVICES_STUB = """#!/usr/bin/env bash
echo "services $*" >> "$CALLS"
"""
ENV_STUB = """export AIRFLOW_HOME="$KAFKAPIPELINE_STATE/airflow" AIRFLOW__API__PORT=8080
"""


def stubbed_repo(tmp_path: Path) -> Path:
    """A copy of scripts/run-pipeline beside stubs of what it calls: its calls are recorded, nothing runs."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "run-pipeline", repo / "scripts" / "run-pipeline")
    (repo / "scripts" / "env.sh").write_text(ENV_STUB)
    services = repo / "scripts" / "services"
    services.write_text(SERVICES_STUB)
    services.chmod(0o755)
    return repo


def test_stop_stops_the_cluster_without_the_cluster_variable(tmp_path):
    repo = stubbed_repo(tmp_path)
    calls = tmp_path / "calls"
    env = {k: v for k, v in os.environ.items() if k != "KAFKAPIPELINE_CLUSTER"}
    env |= {"CALLS": str(calls), "KAFKAPIPELINE_STATE": str(tmp_path / "state")}
    done = subprocess.run(
        ["bash", str(repo / "scripts" / "run-pipeline"), "--stop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == ["services down --cluster kafka cassandra", "services down"]


def test_make_clean_stops_the_cluster_before_deleting_the_state():
    plan = subprocess.run(
        ["make", "-n", "clean"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    cluster_down = next(i for i, line in enumerate(plan) if "services down --cluster" in line)
    deleted = next(i for i, line in enumerate(plan) if line.startswith("rm -rf .state"))
    assert cluster_down < deleted


def test_down_cluster_without_a_cluster_says_so_and_succeeds(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KAFKAPIPELINE_STATE", str(tmp_path))
    assert cli.main(["down", "--cluster"]) == 0
    assert "nothing to stop" in capsys.readouterr().out
    assert not (tmp_path / "cluster").exists()


def test_down_cluster_of_a_stopped_cluster_is_idempotent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KAFKAPIPELINE_STATE", str(tmp_path))
    monkeypatch.setenv("KAFKAPIPELINE_CLUSTER_ADDRESSES", "127.0.0.2,127.0.0.3,127.0.0.4")
    (tmp_path / "cluster").mkdir()
    assert cli.main(["down", "--cluster"]) == 0
    out = capsys.readouterr().out
    assert out.count("not running") == 6, out
