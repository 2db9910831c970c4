"""``dag_last_run``: the latest run of other DAGs, read through Airflow's public REST API.

The Task SDK's public task-instance methods only reach the task's own DAG, need a run id, or
only count; so the check asks the api-server like any client (:mod:`kafkapipeline.airflow_api`),
logged in as the ``airflow_api_default`` connection (host: the api-server's base URL):
``GET /api/v2/dags/{dag_id}/dagRuns`` ordered by ``-run_after``, one run, so manual runs without
a logical date are seen too.

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

from kafkapipeline.airflow_api import HEALTH_CHECK, UNREACHABLE, AirflowApi, ApiError
from kafkapipeline.health.report import METRIC_DAG_RUN, OK, WARN, HealthFigure, detail_text, error_text
from kafkapipeline.times import utc

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
    return utc(datetime.fromisoformat(value.replace("Z", "+00:00"))) if value else None


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


def _unreachable(api: AirflowApi, err: Exception) -> AirflowApiUnavailable:
    tries = api.retry.attempts
    return AirflowApiUnavailable(
        f"api-server unreachable after {tries} tries: {type(err).__name__} from {api.base}"
    )


def connect(base_url: str, username: str, password: str, conn_id: str = AIRFLOW_API_CONN_ID) -> AirflowApi:
    """A client logged in for the check; :class:`AirflowApiUnavailable` when it cannot be."""
    api = AirflowApi(base_url, retry=HEALTH_CHECK, timeout=HTTP_TIMEOUT_SECONDS)
    try:
        api.log_in(username, password)
    except UNREACHABLE as err:
        api.close()
        raise _unreachable(api, err) from None
    except ApiError as err:
        api.close()
        if err.status >= 500:
            raise AirflowApiUnavailable(
                f"login failed: HTTP {err.status} after {api.retry.attempts} tries"
            ) from None
        if err.status >= 400:
            raise AirflowApiUnavailable(
                f"the api-server at {api.base} refused the login of connection '{conn_id}' "
                f"(HTTP {err.status})"
            ) from None
        raise AirflowApiUnavailable(str(err)) from None
    return api


def connect_from_connection(conn_id: str = AIRFLOW_API_CONN_ID) -> AirflowApi:
    """The logged-in client of connection ``conn_id``; :class:`AirflowApiUnavailable` when it is not set."""
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
    return connect(api_base_url(conn), conn.login or "", conn.password or "", conn_id)


def latest_run(api: AirflowApi, dag_id: str, conn_id: str = AIRFLOW_API_CONN_ID) -> LastRun | None:
    """The run of ``dag_id`` with the latest ``run_after`` (None when it has none)."""
    path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns"
    try:
        response = api.request("GET", path, params={"order_by": "-run_after", "limit": 1})
    except UNREACHABLE as err:
        raise _unreachable(api, err) from None
    status = response.status_code
    if status >= 500:
        raise RuntimeError(f"HTTP {status} from {path} after {api.retry.attempts} tries")
    if status == 404:
        raise LookupError(f"DAG {dag_id} not found by the api-server")
    if status == 401:
        raise AirflowApiUnavailable(f"the api-server refused the token of connection '{conn_id}'")
    if status == 403:
        raise PermissionError(f"the user of connection '{conn_id}' may not read the runs of {dag_id}")
    if status != 200:
        raise RuntimeError(f"HTTP {status} listing the runs of {dag_id}")
    runs = response.json().get("dag_runs") or []
    return LastRun.from_api(runs[0]) if runs else None


def dag_last_run_figures(
    dag_ids: Sequence[str],
    now: datetime,
    connect_api: Callable[[], AirflowApi] = connect_from_connection,
) -> tuple[list[HealthFigure], str | None]:
    """``dag_last_run`` per DAG; when the api-server cannot be asked at all, one ``warn`` figure
    (subject ``*``) saying why, and the same text as a note."""
    figures = []
    try:
        api = connect_api()
    except AirflowApiUnavailable as err:
        return _unavailable(err)
    try:
        for dag_id in dag_ids:
            try:
                run = latest_run(api, dag_id)
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
        api.close()
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
