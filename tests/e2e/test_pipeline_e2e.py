"""End to end through Airflow itself, the way a user drives it.

Starts the stack with the README's run command (scripts/run-pipeline, detached, on its
own AIRFLOW_HOME, port, keyspace, topics, Postgres database and Celery queue), then through
Airflow's REST API v2 — the calls the UI makes — triggers bootstrap, triggers the ingest DAGs
with Params, creates backfills over a past range (one with the documented `airflow backfill
create` line, read from docs/operations.md, run with a bare `airflow` in a shell that sourced
scripts/env.sh while the scheduler is busy; one through the API), waits for the drains (3
partition groups each), and checks that Cassandra holds exactly the records the replay source
produced for those intervals and that every DAG run ended successfully. It also checks that the
stack is the default one: Postgres metadata database, CeleryExecutor, Celery worker processes.
Airflow is stopped at the end whatever happens.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from devtools.devstack import LocalStack
from kafkapipeline.airflow_api import AirflowApi, wait_for
from tests.conftest import REPO_ROOT
from tests.e2e.stacks import isolated_stack
from tests.private_files import exposed
from tests.readme_commands import readme_backfill_command

pytestmark = pytest.mark.e2e

TERMINAL = {"success", "failed"}
INGEST_DAGS = ("ingest_tweets", "ingest_weather")
DRAIN_DAGS = ("drain_tweets", "drain_weather")
CITIES = ["Vancouver", "Burnaby"]
TWEETS_PER_10_MINUTES = 12


@pytest.fixture(scope="module")
def stack(tmp_path_factory, cassandra, kafka_hook) -> Iterator[LocalStack]:
    """The run command's stack on an isolated AIRFLOW_HOME, port, keyspace and topics."""
    home = tmp_path_factory.mktemp("airflow-home")
    # Short waits so micro-batches follow the test's ingest runs quickly.
    # Scheduled runs use the same replay rate as the test's manual ones.
    extra = {
        "KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS": "3",
        "KAFKAPIPELINE_DRAIN_POLL_SECONDS": "1",
        "KAFKAPIPELINE_REPLAY_TWEETS_PER_10_MINUTES": str(TWEETS_PER_10_MINUTES),
        # The drains fan out: one mapped drain per partition (bootstrap, which the run command
        # triggers with its default Params, creates 3 partitions for both topics).
        "KAFKAPIPELINE_DRAIN_PARTITION_GROUPS": "3",
    }
    with isolated_stack(home, extra, cassandra, kafka_hook) as stack:
        yield stack


def run_as_the_readme_says(
    stack: LocalStack, command: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``command`` typed in a shell that sourced scripts/env.sh, in the stack's environment.

    The project's .venv is taken off PATH first, so a bare ``airflow`` works only because
    env.sh puts it there, as docs/operations.md promises.
    """
    venv_bin = (REPO_ROOT / ".venv" / "bin").resolve()
    path = [p for p in stack.env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != venv_bin]
    return subprocess.run(
        ["bash", "-c", f". scripts/env.sh && {command}"],
        env={**stack.env, "PATH": os.pathsep.join(path) or "/usr/bin:/bin"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _alive_cmdline(record: dict[str, Any]) -> str:
    """The command line (process title) of a component's process, '' when it is gone or a zombie.

    The same process as the record's: its start time matches (a pid can be reused).
    """
    pid = record["pid"]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        started = record.get("start_time")
        if fields[0] == "Z" or (started is not None and int(fields[19]) != started):
            return ""
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError, ValueError):
        return ""


def test_the_stack_runs_on_postgres_and_celery(stack):
    """The run command's default stack: Postgres metadata, CeleryExecutor, live Celery workers."""
    executor = stack.airflow("config", "get-value", "core", "executor")
    assert executor.returncode == 0, executor.stderr[-2000:]
    assert executor.stdout.strip().splitlines()[-1] == "CeleryExecutor"
    conn = stack.airflow("config", "get-value", "database", "sql_alchemy_conn")
    assert conn.returncode == 0, "airflow config get-value database sql_alchemy_conn failed"
    url = urlsplit(conn.stdout.strip().splitlines()[-1])  # holds the password: never in a message
    assert url.scheme.startswith("postgresql"), f"metadata database is {url.scheme}, not postgresql"
    assert url.path.lstrip("/") == stack.env["KAFKAPIPELINE_POSTGRES_DB"], "not the stack's own database"
    # Components, not `airflow standalone` (the SQLite mode's single process tree).
    assert not (stack.airflow_home / "standalone.pid").exists()
    records = sorted((stack.airflow_home / "run" / "components").glob("*.json"))
    components = {path.stem: json.loads(path.read_text()) for path in records}
    workers = sorted(name for name in components if name.startswith("worker-"))
    expected = int(stack.env.get("KAFKAPIPELINE_CELERY_WORKERS", "2"))
    assert workers == [f"worker-{i}" for i in range(1, expected + 1)], sorted(components)
    for name in ("scheduler", "api-server", "dag-processor", "triggerer", *workers):
        record = components[name]
        cmdline = _alive_cmdline(record)
        assert cmdline, f"{name} (pid {record['pid']}) is not running"
        if name.startswith("worker-"):
            # Started as `airflow celery worker ...`; Celery retitles it `[celeryd: ...] (celery worker ...)`.
            assert record["command"][1:3] == ["celery", "worker"], record["command"]
            assert "celery" in cmdline, f"{name} runs {cmdline!r}"


def _expected_records(api: AirflowApi, dag_id: str) -> tuple[set, list[dict[str, Any]]]:
    """Keys the replay source yields for every interval the finished ingest runs covered."""
    from kafkapipeline.sources.base import Interval
    from kafkapipeline.sources.replay import ReplayTweetSource, ReplayWeatherSource

    keys: set = set()
    summaries = []
    task_id = "produce_tweets" if dag_id == "ingest_tweets" else "produce_weather"
    for run in api.runs(dag_id):
        assert run["state"] == "success", f"{dag_id} {run['dag_run_id']} ended {run['state']}"
        summary = api.xcom(dag_id, run["dag_run_id"], task_id)
        assert summary["source"] == "replay", summary
        summaries.append(summary | {"run_type": run["run_type"]})
        interval = Interval(
            datetime.fromisoformat(summary["interval_start"]), datetime.fromisoformat(summary["interval_end"])
        )
        if dag_id == "ingest_tweets":
            records = ReplayTweetSource("Vancouver", TWEETS_PER_10_MINUTES).records(interval)
            keys |= {r.tweet_id for r in records}
        else:
            records = ReplayWeatherSource(summary["cities"]).records(interval)
            keys |= {(r.city, r.observed_at) for r in records}
        assert summary["produced"] == len(records), summary
    return keys, summaries


def _days(summaries: list[dict[str, Any]]) -> set:
    days = set()
    for summary in summaries:
        start = datetime.fromisoformat(summary["interval_start"])
        end = datetime.fromisoformat(summary["interval_end"])
        days |= {start.date(), (end - timedelta(microseconds=1)).date()}
    return days


def test_pipeline_through_airflow(stack, cassandra):
    api, keyspace = stack.api, stack.keyspace

    # Bootstrap through the API; the run command already ran it once, so this one is a no-op.
    api.unpause("bootstrap")
    run_id = api.trigger("bootstrap", {"tweets_partitions": 3, "weather_partitions": 3})
    assert api.wait_run("bootstrap", run_id) == "success"
    assert api.xcom("bootstrap", run_id, "report").startswith(("Nothing to do", "Bootstrap changed"))

    # Invalid Params are rejected before anything runs.
    response = api.session.post(
        f"{api.base}/api/v2/dags/ingest_tweets/dagRuns",
        json={"logical_date": None, "conf": {"max_pages": 0}},
        timeout=30,
    )
    assert response.status_code == 400 and "max_pages" in response.text, response.text

    for dag_id in (*INGEST_DAGS, *DRAIN_DAGS):
        api.unpause(dag_id)

    # Manual triggers with Params, over an hour two days ago.
    past = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    manual = [
        (
            "ingest_tweets",
            api.trigger(
                "ingest_tweets",
                {"source": "replay", "replay_tweets_per_10_minutes": TWEETS_PER_10_MINUTES},
                logical_date=past.isoformat(),
            ),
        ),
        (
            "ingest_weather",
            api.trigger("ingest_weather", {"source": "replay", "cities": CITIES}, past.isoformat()),
        ),
    ]
    # While the scheduler is busy with those runs: docs/operations.md's CLI backfill line, its dates
    # moved to a day before and its HH:00 -> HH:59 span kept (six 10-minute intervals of
    # ingest_tweets, the DAG's default Params: the replay source at the stack's rate), in the
    # stack's environment; and three of ingest_weather through the REST API.
    readme_cli = readme_backfill_command()
    assert readme_cli.dag_id == "ingest_tweets", "the expectations below are ingest_tweets'"
    backfill_from = past - timedelta(days=1)
    created = run_as_the_readme_says(stack, readme_cli.with_dates(backfill_from))
    assert created.returncode == 0, f"airflow backfill create failed:\n{created.stdout}\n{created.stderr}"
    assert "locked" not in created.stdout + created.stderr
    [cli_backfill] = api.backfills("ingest_tweets")
    api.backfill(
        "ingest_weather",
        backfill_from.isoformat(),
        (backfill_from + timedelta(minutes=20)).isoformat(),
        {"source": "replay", "cities": CITIES},
    )
    for dag_id, run_id in manual:
        assert api.wait_run(dag_id, run_id) == "success"

    def ingest_runs_done() -> bool:
        runs = [run for dag_id in INGEST_DAGS for run in api.runs(dag_id)]
        backfills = [run for run in runs if run["run_type"] == "backfill"]
        return len(backfills) >= 9 and all(run["state"] in TERMINAL for run in runs)

    wait_for("the ingest runs (manual and backfill) to finish", ingest_runs_done, timeout=600, interval=5)

    tweet_ids, tweet_summaries = _expected_records(api, "ingest_tweets")
    weather_keys, weather_summaries = _expected_records(api, "ingest_weather")
    cli_runs = [s for s in tweet_summaries if s["run_type"] == "backfill"]
    assert len(cli_runs) == 6, [s["interval_start"] for s in cli_runs]
    assert sorted(datetime.fromisoformat(s["interval_start"]) for s in cli_runs) == [
        backfill_from + timedelta(minutes=10 * i) for i in range(6)
    ]
    assert cli_backfill["dag_id"] == "ingest_tweets"
    assert sum(s["run_type"] == "backfill" for s in weather_summaries) == 3
    assert tweet_ids and weather_keys

    def rows_in_cassandra() -> tuple[set, set]:
        tweets: set = set()
        for day in _days(tweet_summaries):
            rows = cassandra.execute(
                f"SELECT tweet_id, sentiment_label FROM {keyspace}.tweets WHERE city = %s AND day = %s",
                ("Vancouver", day),
            )
            for row in rows:
                assert row.sentiment_label in {"Positive", "Negative", "Neutral"}
                tweets.add(row.tweet_id)
        weather: set = set()
        for day in _days(weather_summaries):
            for city in CITIES:
                rows = cassandra.execute(
                    f"SELECT city, observed_at FROM {keyspace}.weather_reports WHERE city = %s AND day = %s",
                    (city, day),
                )
                weather |= {(row.city, row.observed_at.replace(tzinfo=UTC)) for row in rows}
        return tweets, weather

    wait_for(
        "the drains to write every produced record",
        lambda: (found := rows_in_cassandra()) and found[0] >= tweet_ids and found[1] >= weather_keys,
        timeout=300,
        interval=5,
    )
    tweets, weather = rows_in_cassandra()
    assert tweets == tweet_ids, f"missing {len(tweet_ids - tweets)}, unexpected {len(tweets - tweet_ids)}"
    assert weather == weather_keys, (
        f"missing {len(weather_keys - weather)}, unexpected {len(weather - weather_keys)}"
    )

    # Every DAG run that ended, ended well (a drain's current run may still be waiting).
    for dag_id in ("bootstrap", *INGEST_DAGS, *DRAIN_DAGS):
        states = [run["state"] for run in api.runs(dag_id)]
        assert "failed" not in states, f"{dag_id} has failed runs: {states}"
    # The drain that wrote the last rows ends its run a moment later (the scheduler marks it).
    for dag_id in DRAIN_DAGS:
        wait_for(
            f"a successful {dag_id} run",
            lambda dag_id=dag_id: any(run["state"] == "success" for run in api.runs(dag_id)),
            timeout=180,
            interval=3,
        )
    # Each successful drain run mapped one drain per partition group (3 groups asked, both
    # topics have 3 partitions: one partition each), each reading exactly its own partitions.
    for dag_id in DRAIN_DAGS:
        run_id = next(run["dag_run_id"] for run in api.runs(dag_id) if run["state"] == "success")
        groups = api.xcom(dag_id, run_id, "wait_for_batch")  # the sensor returns the run's groups
        assert sorted(groups) == [[0], [1], [2]], f"{dag_id}: {groups}"
        drains = sorted(
            (ti for ti in api.task_instances(dag_id, run_id) if ti["task_id"] == "drain"),
            key=lambda ti: ti["map_index"],
        )
        assert [ti["map_index"] for ti in drains] == list(range(len(groups))), drains
        owned = [
            sorted(
                p["partition"]
                for p in api.xcom(dag_id, run_id, "drain", map_index=ti["map_index"])["partitions"]
            )
            for ti in drains
        ]
        assert owned == [sorted(group) for group in groups]

    # The Assets page: each topic and table with its producing and consuming DAGs, and events
    # whose extra holds the batch's counts (docs/assets.md).
    assert_assets_recorded(api)


def asset_events(api: AirflowApi, asset_id: int) -> list[dict[str, Any]]:
    response = api.session.get(
        f"{api.base}/api/v2/assets/events", params={"asset_id": asset_id, "limit": 100}, timeout=30
    )
    response.raise_for_status()
    return response.json()["asset_events"]


def assert_assets_recorded(api: AirflowApi) -> None:
    response = api.session.get(f"{api.base}/api/v2/assets", params={"limit": 100}, timeout=30)
    response.raise_for_status()
    assets = response.json()["assets"]

    def tasks(asset: dict[str, Any], key: str) -> set[str]:
        return {f"{ref['dag_id']}.{ref['task_id']}" for ref in asset[key]}

    for ingest, drain in zip(INGEST_DAGS, DRAIN_DAGS, strict=True):
        [topic] = [
            a for a in assets if f"{ingest}.produce_{ingest.split('_')[1]}" in tasks(a, "producing_tasks")
        ]
        assert topic["uri"].startswith("kafka://") and f"{drain}.drain" in tasks(topic, "consuming_tasks")
        assert any(e["extra"].get("records", 0) > 0 for e in asset_events(api, topic["id"])), topic["name"]
        tables = [
            a for a in assets if a["group"] == "cassandra" and f"{drain}.drain" in tasks(a, "producing_tasks")
        ]
        [table] = tables
        assert "export_csv" in {ref["dag_id"] for ref in table["scheduled_dags"]}
        batches = [e for e in asset_events(api, table["id"]) if e["source_dag_id"] == drain]
        assert any(e["extra"]["records"] > 0 and e["extra"]["offsets_committed"] for e in batches), batches
        assert all(e["extra"]["days"] for e in batches if e["extra"]["records"]), batches


def test_what_the_running_stack_writes_is_private(stack):
    """After a pipeline ran, no file of its Airflow home or of the services' state is readable by others."""
    for root in (stack.airflow_home, Path(stack.env["KAFKAPIPELINE_STATE"])):
        found = exposed(root)
        assert not found, f"readable or writable by group/others under {root}:\n" + "\n".join(found[:20])


def test_run_command_says_what_to_do_when_the_port_is_taken(tmp_path):
    """The run command refuses a busy UI port with a message naming the fix."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(REPO_ROOT / "scripts" / "run-pipeline"), "--detach"],
            env={**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__API__PORT": str(port)},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode != 0
    assert f"port {port} is already in use" in result.stderr
    assert "AIRFLOW__API__PORT" in result.stderr
    assert not Path(tmp_path, "standalone.pid").exists()
