"""Drive a local stack the way a user does: the run command, then Airflow's REST API v2.

Used by the end-to-end tests and the freshness benchmark, which both need an isolated
Airflow (own AIRFLOW_HOME, ports, keyspace, topics, Postgres database and Celery queue)
started by ``scripts/run-pipeline``,
and by the run command itself, through ``python -m devtools.devstack``: ``run-dag
bootstrap`` waits for the bootstrap DAG to succeed before ``unpause`` unpauses the DAGs that
need its topics (the REST API rather than the ``airflow`` CLI: one small process instead of a
CLI start per DAG). The REST client itself is :mod:`kafkapipeline.airflow_api`.
Not used by the DAGs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from kafkapipeline.airflow_api import NO_RETRY, SQLITE_WRITE_LOCK, AirflowApi, ApiError, ApiRetry

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_COMMAND = REPO_ROOT / "scripts" / "run-pipeline"


class StackError(RuntimeError):
    """The stack did not start or did not answer as expected."""


def sqlite_metadata(env: Mapping[str, str]) -> bool:
    """Whether Airflow's metadata database is the embedded SQLite (one writer at a time)."""
    conn = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or ""
    return conn.startswith("sqlite") or (not conn and env.get("KAFKAPIPELINE_METADATA_DB") == "sqlite")


def api_retry(env: Mapping[str, str]) -> ApiRetry:
    """Server errors are retried only on the SQLite metadata database; on Postgres a 5xx is a real
    error, said at once."""
    return SQLITE_WRITE_LOCK if sqlite_metadata(env) else NO_RETRY


def default_pipeline_dags(run_command: Path = RUN_COMMAND) -> list[str]:
    """The DAGs the run command unpauses when ``PIPELINE_DAGS`` is not set (its default list)."""
    match = re.search(r'^PIPELINE_DAGS="\$\{PIPELINE_DAGS-([^}]*)\}"$', run_command.read_text(), re.MULTILINE)
    if match is None:
        raise StackError(f"no default PIPELINE_DAGS in {run_command}")
    return match.group(1).split()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Settings a stack recomputes from its own (scripts/env.sh, run command) instead of inheriting
#: the caller's: they name the caller's database, executor or admin login.
RECOMPUTED = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW_CONN_AIRFLOW_API_DEFAULT",
)


def project_env(env: Mapping[str, str], *names: str) -> dict[str, str]:
    """``names`` as scripts/env.sh computes them in ``env`` (values stay out of any command line)."""
    script = f". {REPO_ROOT / 'scripts' / 'env.sh'} && env -0"
    out = subprocess.run(
        ["bash", "-c", script], env=dict(env), capture_output=True, check=True, timeout=60
    ).stdout.decode()
    found = dict(item.partition("=")[::2] for item in out.split("\0") if item)
    return {name: found.get(name, "") for name in names}


@dataclass
class LocalStack:
    """An Airflow started by the run command on its own home, port, keyspace and topics."""

    api: AirflowApi
    env: dict[str, str]
    airflow_home: Path

    @property
    def keyspace(self) -> str:
        return self.env["KAFKAPIPELINE_KEYSPACE"]

    @property
    def log(self) -> Path:
        """The main log: ``airflow standalone``'s (SQLite), else the scheduler's component log."""
        standalone = self.airflow_home / "logs" / "standalone.log"
        return standalone if sqlite_metadata(self.env) else self.component_logs / "scheduler.log"

    @property
    def component_logs(self) -> Path:
        return self.airflow_home / "logs" / "components"

    def logs_tail(self, lines: int = 40) -> str:
        """The last lines of every log the stack wrote, for a failing test's report."""
        paths = [self.log, *sorted(self.component_logs.glob("*.log"))]
        return "\n".join(f"--- {p}\n{tail(p, lines)}" for p in paths if p.exists())

    def airflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """The ``airflow`` CLI in the stack's environment (env.sh sourced, as docs/operations.md says)."""
        script = f'. scripts/env.sh && exec "{REPO_ROOT}/.venv/bin/airflow" "$@"'
        return subprocess.run(
            ["bash", "-c", script, "airflow", *args],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def drop_database(env: Mapping[str, str]) -> None:
    """Drop a test stack's own Postgres database (its owner, the airflow role, may).

    Only a database named ``stack_...`` that ``env`` names in ``KAFKAPIPELINE_POSTGRES_DB`` and
    whose metadata URL env.sh builds from it: never the user's ``airflow`` database.
    """
    import psycopg2  # the metadata database's driver; only stacks on Postgres get here
    from psycopg2 import sql

    database = env.get("KAFKAPIPELINE_POSTGRES_DB", "")
    if not database.startswith("stack_"):
        raise StackError(f"refusing to drop database {database!r}: not a test stack's (stack_...)")
    conn_url = project_env(env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    url = urlsplit(conn_url)
    if not conn_url.startswith("postgresql") or url.path.lstrip("/") != database:
        raise StackError(f"refusing to drop {database!r}: the stack's metadata URL names another database")
    conn = psycopg2.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        dbname="postgres",
        connect_timeout=10,
    )
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    finally:
        conn.close()


@contextmanager
def local_stack(airflow_home: Path, extra_env: dict[str, str] | None = None) -> Iterator[LocalStack]:
    """Start ``scripts/run-pipeline --detach`` isolated under ``airflow_home``; stop Airflow on exit.

    Kafka, Cassandra, Postgres and Redis are shared (``scripts/services``) and stay up; the
    keyspace, topics, Postgres database (created by the run command's ``scripts/services up``,
    dropped at the end), Celery queue (and the workers' node names), API port, scheduler
    health port and log-server ports are unique to this stack.
    """
    suffix = uuid.uuid4().hex[:10]
    password = f"local-{suffix}"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in RECOMPUTED}
    env |= {
        "KAFKAPIPELINE_KEYSPACE": f"stack_{suffix}",
        "KAFKAPIPELINE_TWEETS_TOPIC": f"stack_tweets_{suffix}",
        "KAFKAPIPELINE_WEATHER_TOPIC": f"stack_weather_{suffix}",
        "KAFKAPIPELINE_POSTGRES_DB": f"stack_{suffix}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"stack_{suffix}",
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
        "KAFKAPIPELINE_ADMIN_PASSWORD": password,
        "PIPELINE_DAGS": "",  # the callers unpause what they need; no first-run backfill either
        "KAFKAPIPELINE_FIRST_RUN_BACKFILL_HOURS": "0",
        **(extra_env or {}),
    }
    if sqlite_metadata(env):  # no Postgres database of its own, so none to create or drop
        env.pop("KAFKAPIPELINE_POSTGRES_DB")
        if "KAFKAPIPELINE_POSTGRES_DB" in os.environ:
            env["KAFKAPIPELINE_POSTGRES_DB"] = os.environ["KAFKAPIPELINE_POSTGRES_DB"]
    try:
        started = subprocess.run(
            [str(RUN_COMMAND), "--detach"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if started.returncode != 0:
            raise StackError(f"run command failed:\n{started.stdout[-3000:]}\n{started.stderr[-3000:]}")
        base = f"http://127.0.0.1:{port}"
        if base not in started.stdout:
            raise StackError(f"run command did not print the UI address {base}:\n{started.stdout[-2000:]}")
        api = AirflowApi.login(base, "admin", password, retry=api_retry(env))
        yield LocalStack(api, env, airflow_home)
    finally:
        subprocess.run([str(RUN_COMMAND), "--stop-airflow"], env=env, cwd=REPO_ROOT, timeout=300, check=False)
        if not sqlite_metadata(env):
            with suppress(Exception):  # best effort: a leftover database costs a few MiB
                drop_database(env)


def tail(path: Path, lines: int = 80) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_dag_and_wait(api: AirflowApi, dag_id: str, timeout: float) -> tuple[str, str, float]:
    """Unpause ``dag_id``, trigger it and wait for the run to end: (run id, final state, seconds)."""
    started = time.monotonic()
    api.unpause(dag_id)
    run_id = api.trigger(dag_id)
    state = api.wait_run(dag_id, run_id, timeout=timeout)
    return run_id, state, time.monotonic() - started


def _login_from_env(url: str) -> AirflowApi:
    """Log in as ``admin`` with the password from the simple auth manager's passwords file."""
    passwords = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "")
    try:
        password = json.loads(Path(passwords).read_text())["admin"]
    except (OSError, ValueError, KeyError) as err:
        raise StackError(f"no admin password in {passwords or '(unset)'}: {err}") from err
    return AirflowApi.login(url, "admin", password, retry=api_retry(os.environ))


def _run_dag(api: AirflowApi, args: argparse.Namespace) -> int:
    api.wait_dag(args.dag_id)
    run_id, state, seconds = run_dag_and_wait(api, args.dag_id, args.timeout)
    if state == "success":
        print(f"{args.dag_id} succeeded in {seconds:.0f} s (run {run_id})")
        return 0
    unfinished = [
        f"{ti['task_id']}={ti['state']}"
        for ti in api.task_instances(args.dag_id, run_id)
        if ti["state"] != "success"
    ]
    print(
        f"error: {args.dag_id} run {run_id} ended {state} after {seconds:.0f} s "
        f"({', '.join(unfinished) or 'no task failed'}); its task logs are in the UI at "
        f"{args.url}/dags/{args.dag_id}",
        file=sys.stderr,
    )
    return 1


def _unpause(api: AirflowApi, args: argparse.Namespace) -> int:
    """Unpause each DAG; one that is not parsed or refused is reported and the others go on."""
    failed = 0
    for dag_id in args.dag_ids:
        try:
            api.wait_dag(dag_id)
            api.unpause(dag_id)
        except (StackError, ApiError, TimeoutError) as err:
            print(f"error: unpause {dag_id}: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"Unpaused {dag_id}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """The run command's steps on the running Airflow, through its REST API.

    * ``run-dag DAG_ID``: trigger a DAG and wait until its run ends; exits 1 and says which
      tasks did not succeed when it failed.
    * ``unpause DAG_ID...``: wait until each DAG is parsed, then unpause it.

    Logs in as ``admin`` with the password from the simple auth manager's passwords file
    (``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE``), never from the command line.
    """
    parser = argparse.ArgumentParser(prog="python -m devtools.devstack")
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('AIRFLOW__API__PORT', '8080')}")
    sub = parser.add_subparsers(dest="command", required=True)
    run_dag = sub.add_parser("run-dag", help="trigger a DAG and wait for its run to end")
    run_dag.add_argument("dag_id")
    run_dag.add_argument("--timeout", type=float, default=600.0)
    run_dag.set_defaults(action=_run_dag, what=lambda a: a.dag_id)
    unpause = sub.add_parser("unpause", help="unpause DAGs once they are parsed")
    unpause.add_argument("dag_ids", nargs="+")
    unpause.set_defaults(action=_unpause, what=lambda a: "unpause")
    for subparser in (run_dag, unpause):  # also accepted after the command
        subparser.add_argument("--url", default=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        return args.action(_login_from_env(args.url), args)
    except (StackError, ApiError, TimeoutError, requests.RequestException, OSError) as err:
        print(f"error: {args.what(args)}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
