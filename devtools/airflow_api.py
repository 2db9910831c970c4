"""A small client of Airflow's REST API v2, logged in through the simple auth manager.

Used by the run command's steps (:mod:`devtools.devstack`, :mod:`devtools.first_run`),
the end-to-end tests and the freshness benchmark. Not used by the DAGs.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

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

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int | None = None) -> Any:
        """A task's return value; ``map_index`` picks one task of a mapped task (e.g. a drain group)."""
        params: dict[str, str] = {"deserialize": "true"}
        if map_index is not None:
            params["map_index"] = str(map_index)
        entry = self.call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params=params,
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        return wait_for(
            f"{dag_id} run {run_id} to finish",
            lambda: (state := self.run_state(dag_id, run_id)) in TERMINAL_STATES and state,
            timeout,
        )
