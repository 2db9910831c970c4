"""Drive a local stack the way a user does: the run command, then Airflow's REST API v2.

Used by the end-to-end tests and the freshness benchmark, which both need an isolated
Airflow (own AIRFLOW_HOME, port, keyspace and topics) started by ``scripts/run-pipeline``,
and by the run command itself, through ``python -m kafkapipeline.devstack``: ``run-dag
bootstrap`` waits for the bootstrap DAG to succeed before ``unpause`` unpauses the DAGs that
need its topics (the REST API rather than the ``airflow`` CLI: one small process instead of a
CLI start per DAG); :mod:`kafkapipeline.first_run` uses its client too.
Not used by the DAGs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_COMMAND = REPO_ROOT / "scripts" / "run-pipeline"
TERMINAL_STATES = {"success", "failed"}


class StackError(RuntimeError):
    """The stack did not start or did not answer as expected."""


class ApiError(StackError):
    """Airflow answered a REST call with an unexpected status (kept in ``status``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def sqlite_metadata(env: Mapping[str, str]) -> bool:
    """Whether Airflow's metadata database is the embedded SQLite (one writer at a time)."""
    conn = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or ""
    return conn.startswith("sqlite") or (not conn and env.get("KAFKAPIPELINE_METADATA_DB") == "sqlite")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 2.0) -> Any:
    """Poll ``probe`` until it returns something truthy; raise with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class AirflowApi:
    """A small REST API v2 client logged in through the simple auth manager."""

    base: str
    session: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def login(
        cls, base: str, username: str, password: str, *, retry_server_errors: bool | None = None
    ) -> AirflowApi:
        response = requests.post(
            f"{base}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        if response.status_code >= 400:
            raise StackError(f"login to {base} failed: {response.status_code} {response.text[:300]}")
        api = cls(base, retry_server_errors=retry_server_errors)
        api.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return api

    #: Methods that can be sent again after any server error without doing anything twice.
    RETRIED_METHODS = ("GET", "PATCH")
    RETRIES = 5
    #: Server errors are retried only on the SQLite metadata database (``None``: decided from
    #: ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``); on Postgres a 5xx is a real error, said at once.
    retry_server_errors: bool | None = None

    def __post_init__(self) -> None:
        if self.retry_server_errors is None:
            self.retry_server_errors = sqlite_metadata(os.environ)

    @property
    def retries(self) -> int:
        return self.RETRIES if self.retry_server_errors else 0

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        for attempt in range(self.retries + 1):
            response = self.session.request(method, f"{self.base}/api/v2{path}", timeout=60, **kwargs)
            if attempt == self.retries or not self._worth_retrying(method, response.status_code):
                break
            time.sleep(2.0 * (attempt + 1))
        if response.status_code not in expect:
            status = response.status_code
            raise ApiError(f"{method} {path}: {status} {response.text[:800]}", status)
        return response.json() if response.content else None

    @classmethod
    def _worth_retrying(cls, method: str, status: int) -> bool:
        """On SQLite a 5xx is most often its one write lock taken by another component.

        A 503 means the request was not carried out (Airflow answers it, for one, when a
        backfill could not lock SQLite), so any method is sent again; after another 5xx only
        methods that cannot do anything twice are.
        """
        return status == 503 or (status >= 500 and method in cls.RETRIED_METHODS)

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": True})

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None
    ) -> str:
        """Trigger a run and return its id.

        The run id is chosen here, so a trigger answered with a 5xx (on SQLite, where it is
        retried) can be sent again safely: if the first attempt did create the run after all,
        the repeat gets 409 for that id.
        """
        run_id = f"manual__{datetime.now(UTC).isoformat()}_{uuid.uuid4().hex[:6]}"
        body = {"dag_run_id": run_id, "logical_date": logical_date, "conf": conf or {}}
        url = f"{self.base}/api/v2/dags/{dag_id}/dagRuns"
        for attempt in range(self.retries + 1):
            response = self.session.post(url, json=body, timeout=60)
            if response.status_code == 200 or (response.status_code == 409 and attempt > 0):
                return run_id
            if response.status_code < 500 or attempt == self.retries:
                break
            time.sleep(2.0 * (attempt + 1))
        raise ApiError(
            f"POST /dags/{dag_id}/dagRuns: {response.status_code} {response.text[:800]}", response.status_code
        )

    def dag_exists(self, dag_id: str) -> bool:
        """Whether the dag-processor has parsed ``dag_id`` yet (the API answers 404 until then)."""
        try:
            self.call("GET", f"/dags/{dag_id}")
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return True

    def wait_dag(self, dag_id: str, timeout: float = 180) -> None:
        what = f"DAG {dag_id} to be parsed (see the UI's import errors)"
        wait_for(what, lambda: self.dag_exists(dag_id), timeout)

    def backfill(
        self,
        dag_id: str,
        from_date: str,
        to_date: str,
        conf: dict[str, Any] | None = None,
        *,
        max_active_runs: int = 2,
        reprocess_behavior: str = "completed",
        run_backwards: bool = False,
    ) -> dict[str, Any]:
        """``POST /backfills``: a run per ended interval whose logical date is in [from, to].

        ``reprocess_behavior``: ``none`` skips intervals that have a run, ``failed`` re-runs
        failed ones, ``completed`` every finished one. ``max_active_runs`` limits the
        backfill's runs, independently of the DAG's own ``max_active_runs``.
        """
        return self.call(
            "POST",
            "/backfills",
            json={
                "dag_id": dag_id,
                "from_date": from_date,
                "to_date": to_date,
                "run_backwards": run_backwards,
                "dag_run_conf": conf,
                "reprocess_behavior": reprocess_behavior,
                "max_active_runs": max_active_runs,
            },
        )

    def backfills(self, dag_id: str) -> list[dict[str, Any]]:
        return self.call("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})["backfills"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 200})["dag_runs"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        entry = self.call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"deserialize": "true"},
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        return wait_for(
            f"{dag_id} run {run_id} to finish",
            lambda: (state := self.run_state(dag_id, run_id)) in TERMINAL_STATES and state,
            timeout,
        )


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
        """``airflow standalone``'s log (SQLite); the components log under :attr:`component_logs`."""
        return self.airflow_home / "logs" / "standalone.log"

    @property
    def component_logs(self) -> Path:
        return self.airflow_home / "logs" / "components"

    def logs_tail(self, lines: int = 40) -> str:
        """The last lines of every log the stack wrote, for a failing test's report."""
        paths = [self.log, *sorted(self.component_logs.glob("*.log"))]
        return "\n".join(f"--- {p}\n{tail(p, lines)}" for p in paths if p.exists())

    def airflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """The ``airflow`` CLI in the stack's environment (env.sh sourced, as the README says)."""
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
        api = AirflowApi.login(base, "admin", password, retry_server_errors=sqlite_metadata(env))
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
    return AirflowApi.login(url, "admin", password)


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
        except (StackError, TimeoutError) as err:
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
    parser = argparse.ArgumentParser(prog="python -m kafkapipeline.devstack")
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
    except (StackError, TimeoutError, requests.RequestException, OSError) as err:
        print(f"error: {args.what(args)}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
