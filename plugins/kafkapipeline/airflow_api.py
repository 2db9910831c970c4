"""The one client of Airflow's public REST API v2, logged in with ``POST /auth/token``.

Airflow 3 tasks cannot query the metadata database, so the health check reads other DAGs' runs
through it (:mod:`kafkapipeline.health.dag_runs`) and a retry reads how the tries before it ended
(:mod:`kafkapipeline.runtime.try_endings`); the run command's steps, the end-to-end tests and the
benchmarks drive a stack with it (:mod:`devtools.devstack`).

When a call is sent again is a named tenacity policy (:class:`ApiRetry`): :data:`NO_RETRY`,
:data:`SQLITE_WRITE_LOCK` (a stack on SQLite, whose one write lock makes the api-server answer
5xx while another component writes) and :data:`HEALTH_CHECK` (a few quick tries, unreachable
included). A request that would do something twice is never sent again after a 5xx that may
have carried it out; a 503 says it was not carried out, so it always may.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_base,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
    wait_incrementing,
    wait_none,
)
from tenacity.wait import wait_base

#: States a DAG run does not leave.
TERMINAL_STATES = {"success", "failed"}
#: Methods that can be sent again after any server error without doing anything twice.
REPEATABLE_METHODS = ("GET", "PATCH")
#: What a request that found no api-server raises.
UNREACHABLE = (requests.Timeout, requests.ConnectionError)


class ApiError(RuntimeError):
    """Airflow answered a REST call with an unexpected status (kept in ``status``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ApiRetry:
    """When a request is sent again.

    :param attempts: most sends of one request
    :param wait: tenacity wait between sends
    :param server_error: ``(status, repeatable) -> bool``: whether that answer is worth another send
    :param unreachable: whether a timeout or connection error is too
    """

    attempts: int
    wait: wait_base
    server_error: Callable[[int, bool], bool]
    unreachable: bool = False

    def retrying(self, repeatable: bool) -> Retrying:
        worth_it: retry_base = retry_if_result(
            lambda response: self.server_error(response.status_code, repeatable)
        )
        if self.unreachable:
            worth_it = worth_it | retry_if_exception_type(UNREACHABLE)
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait,
            retry=worth_it,
            retry_error_callback=_last_outcome,
        )


def _last_outcome(state: RetryCallState) -> Any:
    """Out of tries: the last answer, or the last error raised again."""
    assert state.outcome is not None  # tenacity calls this only after an attempt
    return state.outcome.result()


NO_RETRY = ApiRetry(attempts=1, wait=wait_none(), server_error=lambda _status, _repeatable: False)
#: SQLite's one write lock: 503 (not carried out) for any request, another 5xx only where a repeat
#: does nothing twice; 2, 4, ... 10 s apart. On Postgres a 5xx is a real error: use NO_RETRY.
SQLITE_WRITE_LOCK = ApiRetry(
    attempts=6,
    wait=wait_incrementing(start=2, increment=2),
    server_error=lambda status, repeatable: status == 503 or (status >= 500 and repeatable),
)
#: The health check: three tries 1 s then 2 s apart after any 5xx or an unreachable api-server.
HEALTH_CHECK = ApiRetry(
    attempts=3,
    wait=wait_exponential(multiplier=1, min=1, max=4),
    server_error=lambda status, _repeatable: status >= 500,
    unreachable=True,
)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 2.0) -> Any:
    """Poll ``probe`` until it returns something truthy; raise ``TimeoutError`` naming ``what``."""

    def timed_out(state: RetryCallState) -> Any:
        last = state.outcome.result() if state.outcome is not None else None
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")

    polling = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda found: not found),
        retry_error_callback=timed_out,
    )
    return polling(probe)


class AirflowApi:
    """Airflow's REST API v2 at ``base`` (e.g. ``http://127.0.0.1:8080``).

    :param retry: when a request is sent again (:data:`NO_RETRY` unless told)
    :param timeout: seconds per HTTP request
    """

    def __init__(
        self,
        base: str,
        *,
        retry: ApiRetry = NO_RETRY,
        timeout: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self.retry = retry
        self.timeout = timeout
        self.session = session or requests.Session()

    @classmethod
    def login(cls, base: str, username: str, password: str, **options: Any) -> AirflowApi:
        """A client logged in as ``username`` (the simple auth manager's JWT)."""
        api = cls(base, **options)
        api.log_in(username, password)
        return api

    def log_in(self, username: str, password: str) -> None:
        """Exchange a login and password for a JWT (``POST /auth/token``) sent with every later call."""
        response = self.request(
            "POST", "/auth/token", repeatable=True, json={"username": username, "password": password}
        )
        if response.status_code >= 400:
            raise ApiError(
                f"login to {self.base} failed: {response.status_code} {response.text[:300]}",
                response.status_code,
            )
        try:
            token = response.json().get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise ApiError(f"no access_token in the answer of {self.base}/auth/token", response.status_code)
        self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def request(
        self, method: str, path: str, *, repeatable: bool | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send ``method path`` (from the base URL) under the retry policy; the last answer.

        :param repeatable: whether sending it twice does nothing twice (default: GET and PATCH)
        :raises requests.RequestException: no answer (after the policy's tries, if it retries those)
        """
        if repeatable is None:
            repeatable = method in REPEATABLE_METHODS
        send = self.retry.retrying(repeatable)
        response: requests.Response = send(
            self.session.request, method, f"{self.base}{path}", timeout=self.timeout, **kwargs
        )
        return response

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        """``method /api/v2{path}``'s JSON body; :class:`ApiError` unless its status is in ``expect``."""
        response = self.request(method, f"/api/v2{path}", **kwargs)
        if response.status_code not in expect:
            status = response.status_code
            raise ApiError(f"{method} {path}: {status} {response.text[:800]}", status)
        return response.json() if response.content else None

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": True})

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None
    ) -> str:
        """Trigger a run and return its id.

        The run id is chosen here, so a trigger answered with a 5xx can be sent again safely: if
        the first send did create the run after all, the repeat gets 409 for that id.
        """
        run_id = f"manual__{datetime.now(UTC).isoformat()}_{uuid.uuid4().hex[:6]}"
        body = {"dag_run_id": run_id, "logical_date": logical_date, "conf": conf or {}}
        sends = 0

        def send(*args: Any, **kwargs: Any) -> requests.Response:
            nonlocal sends
            sends += 1
            return self.session.request(*args, **kwargs)

        path = f"/dags/{dag_id}/dagRuns"
        response: requests.Response = self.retry.retrying(repeatable=True)(
            send, "POST", f"{self.base}/api/v2{path}", json=body, timeout=self.timeout
        )
        if response.status_code == 200 or (response.status_code == 409 and sends > 1):
            return run_id
        raise ApiError(f"POST {path}: {response.status_code} {response.text[:800]}", response.status_code)

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
        created: dict[str, Any] = self.call(
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
        return created

    def backfills(self, dag_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})[
            "backfills"
        ]
        return found

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 200})[
            "dag_runs"
        ]
        return found

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")[
            "task_instances"
        ]
        return found

    def task_instances_since(self, dag_id: str, since: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Task instances of every run of ``dag_id`` whose latest try started at or after ``since``,
        most tries first."""
        found: list[dict[str, Any]] = self.call(
            "GET",
            f"/dags/{quote(dag_id, safe='')}/dagRuns/~/taskInstances",
            params={"start_date_gte": since.isoformat(), "order_by": "-try_number", "limit": limit},
        )["task_instances"]
        return found

    def task_tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """Every try of one task instance (``GET .../tries``): try_number, state, start and end dates."""
        where = f"{quote(task_id, safe='')}" + (f"/{map_index}" if map_index >= 0 else "")
        found: list[dict[str, Any]] = self.call(
            "GET",
            f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/{where}/tries",
        )["task_instances"]
        return found

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
    ) -> list[Any]:
        """The entries of one try's log: structured ones as dicts (``event`` and its fields), else lines."""
        body = self.call(
            "GET",
            f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
            f"{quote(task_id, safe='')}/logs/{try_number}",
            params={"map_index": map_index, "full_content": "true"},
            headers={"Accept": "application/json"},
        )
        content = body.get("content") if isinstance(body, dict) else None
        return list(content or [])

    def event_logs(self, **filters: Any) -> list[dict[str, Any]]:
        """Audit log entries (``GET /eventLogs``) matching ``filters`` (dag_id, run_id, event, ...)."""
        found: list[dict[str, Any]] = self.call("GET", "/eventLogs", params=filters)["event_logs"]
        return found

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
        """The final state of a run, once it has one."""
        state: str = wait_for(
            f"{dag_id} run {run_id} to finish",
            lambda: (state := self.run_state(dag_id, run_id)) in TERMINAL_STATES and state,
            timeout,
        )
        return state
