"""``dag_last_run``: the latest run of other DAGs, read through Airflow's public REST API.

Airflow 3 tasks cannot query the metadata database, and the Task SDK's public task-instance
methods only reach the task's own DAG (``get_previous_dagrun``) or need a run id
(``get_dagrun_state``) or only count (``get_dr_count``). So the check asks the api-server like any
client: ``POST /auth/token`` with the login and password of the ``airflow_api_default``
connection (host: the api-server's base URL), then ``GET /api/v2/dags/{dag_id}/dagRuns``
ordered by ``-run_after``, one run. Manual runs without a logical date are seen too.

Without that connection the figure says it is unavailable and which connection to set (``warn``,
never a failure of the check); a login the api-server refuses, or an api-server that cannot be
reached, is one ``warn`` figure as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from kafkapipeline.health.report import (
    METRIC_DAG_RUN,
    OK,
    WARN,
    HealthFigure,
    as_utc,
    detail_text,
    error_text,
)

AIRFLOW_API_CONN_ID = "airflow_api_default"
AIRFLOW_API_CONN_ENV = f"AIRFLOW_CONN_{AIRFLOW_API_CONN_ID.upper()}"
AIRFLOW_API_CONN_EXAMPLE = json.dumps(
    {"conn_type": "http", "host": "http://127.0.0.1:8080", "login": "admin", "password": "<password>"}
)
HTTP_TIMEOUT_SECONDS = 10.0
#: Subject of the one figure that stands for every DAG when none can be read.
ALL_DAGS = "*"


class AirflowApiUnavailable(RuntimeError):
    """The api-server cannot be asked at all (no connection, refused login, unreachable)."""


class _Retryable(RuntimeError):
    """A timeout, connection error (``unreachable``) or 5xx answer: worth another try."""

    def __init__(self, message: str, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


#: One policy for the api-server calls: three tries, 1 s then 2 s apart.
_retried = retry(
    retry=retry_if_exception_type(_Retryable),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=1, min=1, max=4),
    reraise=True,
)


@dataclass(frozen=True)
class LastRun:
    """The fields of a ``DAGRunResponse`` the figure uses."""

    run_id: str
    state: str
    run_type: str
    start_date: datetime | None
    run_after: datetime | None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> LastRun:
        return cls(
            run_id=str(body.get("dag_run_id", "")),
            state=str(body.get("state")),
            run_type=str(body.get("run_type")),
            start_date=_moment(body.get("start_date")),
            run_after=_moment(body.get("run_after")),
        )


def _moment(value: Any) -> datetime | None:
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00"))) if value else None


def api_base_url(conn: Any) -> str:
    """The api-server's base URL from a connection: ``host`` with or without a scheme (and path),
    and ``port`` unless the host names one."""
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise AirflowApiUnavailable(
            f"the Airflow connection '{conn.conn_id}' has no host: set it to the api-server's base URL, "
            f"for example {AIRFLOW_API_CONN_ENV}='{AIRFLOW_API_CONN_EXAMPLE}'"
        )
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}"
    url = urlsplit(host)
    if conn.port and url.port is None:
        url = url._replace(netloc=f"{url.netloc}:{conn.port}")
    return urlunsplit(url)


class AirflowRunsClient:
    """Reads the latest run of DAGs from the api-server, logged in once per check.

    :param base_url: the api-server, e.g. ``http://127.0.0.1:8080``
    :param username: a user allowed to read DAG runs
    :param password: their password (never logged)
    :param conn_id: the connection they come from, named in errors
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        session: requests.Session | None = None,
        conn_id: str = AIRFLOW_API_CONN_ID,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.conn_id = conn_id
        self._credentials = {"username": username, "password": password}
        self._session = session or requests.Session()
        self._token: str | None = None

    @classmethod
    def from_connection(cls, conn_id: str = AIRFLOW_API_CONN_ID) -> AirflowRunsClient:
        """The client for connection ``conn_id``; :class:`AirflowApiUnavailable` when it is not set."""
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException as err:
            raise AirflowApiUnavailable(
                f"the Airflow connection '{conn_id}' is not set: set it (Admin > Connections or "
                f"AIRFLOW_CONN_{conn_id.upper()}) to the api-server's base URL as host and the login "
                "and password of a user allowed to read DAG runs"
            ) from err
        return cls(api_base_url(conn), conn.login or "", conn.password or "", conn_id=conn_id)

    def close(self) -> None:
        self._session.close()

    @_retried
    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(
                method, f"{self.base_url}{path}", timeout=HTTP_TIMEOUT_SECONDS, **kwargs
            )
        except (requests.Timeout, requests.ConnectionError) as err:
            raise _Retryable(f"{type(err).__name__} from {self.base_url}", unreachable=True) from None
        if response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code} from {path}", unreachable=False)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self._request(method, path, **kwargs)
        except _Retryable as err:
            if err.unreachable:
                raise AirflowApiUnavailable(f"api-server unreachable after 3 tries: {err}") from None
            raise RuntimeError(f"{err} after 3 tries") from None

    def login(self) -> None:
        """Exchange the connection's login and password for a JWT (``POST /auth/token``)."""
        try:
            response = self._call("POST", "/auth/token", json=self._credentials)
        except AirflowApiUnavailable:
            raise
        except RuntimeError as err:
            raise AirflowApiUnavailable(f"login failed: {err}") from None
        if response.status_code not in (200, 201):
            raise AirflowApiUnavailable(
                f"the api-server at {self.base_url} refused the login of connection "
                f"'{self.conn_id}' (HTTP {response.status_code})"
            )
        try:
            token = response.json().get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise AirflowApiUnavailable(f"no access_token in the answer of {self.base_url}/auth/token")
        self._token = str(token)

    def latest_run(self, dag_id: str) -> LastRun | None:
        """The run of ``dag_id`` with the latest ``run_after`` (None when it has none)."""
        if self._token is None:
            self.login()
        response = self._call(
            "GET",
            f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns",
            params={"order_by": "-run_after", "limit": 1},
            headers={"Authorization": f"Bearer {self._token}"},
        )
        if response.status_code == 404:
            raise LookupError(f"DAG {dag_id} not found by the api-server")
        if response.status_code == 401:
            raise AirflowApiUnavailable(f"the api-server refused the token of connection '{self.conn_id}'")
        if response.status_code == 403:
            raise PermissionError(
                f"the user of connection '{self.conn_id}' may not read the runs of {dag_id}"
            )
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code} listing the runs of {dag_id}")
        runs = response.json().get("dag_runs") or []
        return LastRun.from_api(runs[0]) if runs else None


def dag_last_run_figures(
    dag_ids: Sequence[str],
    now: datetime,
    client_factory: Callable[[], AirflowRunsClient] = AirflowRunsClient.from_connection,
) -> tuple[list[HealthFigure], str | None]:
    """``dag_last_run`` per DAG; when the api-server cannot be asked at all, one ``warn`` figure
    (subject ``*``) saying why, and the same text as a note."""
    figures = []
    try:
        client = client_factory()
    except AirflowApiUnavailable as err:
        return _unavailable(err)
    try:
        for dag_id in dag_ids:
            try:
                run = client.latest_run(dag_id)
            except AirflowApiUnavailable:
                raise
            except Exception as err:
                figures.append(
                    HealthFigure(
                        METRIC_DAG_RUN, dag_id, 0.0, WARN, detail_text(f"unreadable: {error_text(err)}")
                    )
                )
                continue
            figures.append(last_run_figure(dag_id, run, now))
    except AirflowApiUnavailable as err:
        return _unavailable(err)
    finally:
        client.close()
    return figures, None


def _unavailable(err: AirflowApiUnavailable) -> tuple[list[HealthFigure], str]:
    reason = f"unavailable: {err}"
    return [HealthFigure(METRIC_DAG_RUN, ALL_DAGS, 0.0, WARN, detail_text(reason))], f"dag_last_run {reason}"


def last_run_figure(dag_id: str, run: LastRun | None, now: datetime) -> HealthFigure:
    """The figure of one DAG: age of its latest run's start, ``warn`` when it failed or has none."""
    if run is None:
        return HealthFigure(METRIC_DAG_RUN, dag_id, 0.0, WARN, "no run yet")
    started = run.start_date or run.run_after
    age = max(0.0, (now - started).total_seconds()) if started else 0.0
    detail = f"{run.state} ({run.run_type}, started {started.isoformat() if started else 'not yet'})"
    return HealthFigure(METRIC_DAG_RUN, dag_id, age, WARN if run.state == "failed" else OK, detail)
