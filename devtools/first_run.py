"""A first run that shows a day: backfill the ingest DAGs' last hours once per install.

``scripts/run-pipeline`` calls ``python -m devtools.first_run`` so that a new install's
dashboard holds a full day within minutes instead of one 10-minute interval. It uses
Airflow's own backfill (a Backfill in the UI, runs of type ``backfill``) with the DAGs'
default Params, i.e. their default source (the replay source produces any past interval).

Two ways to create it, the same Backfill either way:

* ``--cli AIRFLOW`` (the embedded SQLite of ``airflow standalone``): ``airflow backfill
  create`` *before* the standalone starts. Creating 144 runs is one long series of writes,
  and SQLite refuses it ("Database is locked", HTTP 503 from ``POST /backfills``) whenever
  the scheduler, triggerer or dag-processor commits meanwhile, which on a running
  standalone is every time. Before the start nothing else writes. The DAGs are paused at
  creation, so the runs wait queued until the run command unpauses them after bootstrap.
* ``--url URL`` (any other metadata database): ``POST /api/v2/backfills`` after bootstrap.

A new install is one without the marker file (written once every DAG has its backfill);
through the API, a DAG that already has a backfill is also left alone.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from devtools.devstack import StackError, _login_from_env
from kafkapipeline import settings
from kafkapipeline.airflow_api import AirflowApi, ApiError

#: Backfill runs of one DAG at a time. Backfill tasks, scheduled runs and drains share the
#: machine: more runs at once only queue on the CPU.
MAX_ACTIVE_RUNS = 4
HOURS_SETTING = settings.env_name("first_run_backfill_hours")

#: Creates the backfill of one DAG over [start, end]; returns its id, None when every
#: interval already has a run. Raises StackError or ApiError when it could not.
Creator = Callable[[str, datetime, datetime], "int | None"]


def window(now: datetime, hours: int) -> tuple[datetime, datetime]:
    """From the top of the hour ``hours`` before the current one (full hourly buckets) to ``now``.

    A backfill only makes runs for the intervals that have ended inside it.
    """
    now = now.astimezone(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours), now


def first_run_backfill(
    dag_ids: list[str], hours: int, marker: Path, create: Creator, *, now: datetime | None = None
) -> list[str]:
    """Backfill the last ``hours`` of each DAG unless this install had it; one line per DAG."""
    if hours <= 0:
        return [f"off ({HOURS_SETTING}={hours})"]
    if marker.exists():
        return [f"already made for this install ({marker}); none created"]
    start, end = window(now or datetime.now(UTC), hours)
    made: dict[str, int | None] = {}
    lines = []
    for dag_id in dag_ids:
        made[dag_id] = create(dag_id, start, end)
        what = f"backfill {made[dag_id]}" if made[dag_id] is not None else "no backfill needed"
        lines.append(
            f"{dag_id}: {what} over {start:%Y-%m-%d %H:%M} - {end:%H:%M} UTC "
            f"({hours} h, newest first, {MAX_ACTIVE_RUNS} runs at a time)"
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    record = {"created_at": datetime.now(UTC).isoformat(), "hours": hours, "backfills": made}
    marker.write_text(json.dumps(record, indent=2) + "\n")
    return lines


def api_creator(api: AirflowApi) -> Creator:
    """``POST /api/v2/backfills``; a DAG with a backfill already keeps it (its id is returned)."""

    def create(dag_id: str, start: datetime, end: datetime) -> int | None:
        api.wait_dag(dag_id)
        if existing := api.backfills(dag_id):
            return existing[-1]["id"]
        try:
            made = api.backfill(
                dag_id,
                start.isoformat(),
                end.isoformat(),
                None,  # the DAG's default Params: its default source
                max_active_runs=MAX_ACTIVE_RUNS,
                reprocess_behavior="none",  # intervals with a run keep it
                run_backwards=True,  # the most recent hours first
            )
        except ApiError as err:
            if err.status == 409:  # made meanwhile, e.g. by a request answered 503
                return api.backfills(dag_id)[-1]["id"]
            if err.status == 422 and "No runs to create" in str(err):
                return None
            raise
        return made["id"]

    return create


def cli_creator(airflow: str) -> Creator:
    """``airflow backfill create``, after ``airflow dags reserialize`` has put the DAGs in the database."""
    state = {"serialized": False}

    def run(*args: str) -> str:
        done = subprocess.run([airflow, *args], capture_output=True, text=True, timeout=600, check=False)
        output = done.stdout + done.stderr
        if done.returncode != 0:
            last = "\n".join(output.strip().splitlines()[-5:])
            raise StackError(f"airflow {' '.join(args[:2])} failed ({done.returncode}):\n{last}")
        return output

    def create(dag_id: str, start: datetime, end: datetime) -> int | None:
        if not state["serialized"]:
            run("dags", "reserialize")
            state["serialized"] = True
        try:
            output = run(
                "backfill", "create", "--dag-id", dag_id,
                "--from-date", start.isoformat(), "--to-date", end.isoformat(),
                "--reprocess-behavior", "none", "--run-backwards",
                "--max-active-runs", str(MAX_ACTIVE_RUNS),
            )  # fmt: skip
        except StackError as err:
            if "No runs to create" in str(err):
                return None
            raise
        found = re.search(r"backfill_id=(\d+)", output)
        return int(found.group(1)) if found else None

    return create


def main(argv: list[str] | None = None) -> int:
    """``python -m devtools.first_run DAG_ID... --hours N --marker FILE (--cli AIRFLOW | --url URL)``."""
    parser = argparse.ArgumentParser(prog="python -m devtools.first_run")
    parser.add_argument("dag_ids", nargs="+")
    parser.add_argument("--hours", type=int, default=None, help=f"default: {HOURS_SETTING}, else 24")
    parser.add_argument("--marker", required=True, help="file written once every DAG has its backfill")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--cli", metavar="AIRFLOW", help="the airflow command (Airflow not running yet)")
    how.add_argument("--url", help="the running Airflow's base URL")
    args = parser.parse_args(argv)
    try:
        hours = settings.param_or_setting(args.hours, "first_run_backfill_hours")
        create = cli_creator(args.cli) if args.cli else api_creator(_login_from_env(args.url))
        for line in first_run_backfill(args.dag_ids, hours, Path(args.marker), create):
            print(f"First-run backfill: {line}")
    except (StackError, ApiError, TimeoutError, requests.RequestException, OSError) as err:
        print(f"error: first-run backfill: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
