"""``dag_last_run``: the latest run of other DAGs, read through Airflow's public REST API.

The Task SDK's public task-instance methods only reach the task's own DAG, need a run id, or
only count; so the check asks the api-server like any client (:mod:`kafkapipeline.airflow_api`),
logged in as the ``airflow_api_default`` connection (host: the api-server's base URL):
``GET /api/v2/dags/{dag_id}/dagRuns`` ordered by ``-run_after``, one run, so manual runs without
a logical date are seen too.

The figure also names the task instances of the DAG retried in the last hours (the check's
``hours``): ``GET .../dagRuns/~/taskInstances`` by try number, then how each earlier try ended
(:mod:`kafkapipeline.runtime.try_endings`): ``retried: drain[0] try 1 killed by signal 9 (SIGKILL)``.
Any retry makes the figure ``warn``: the pipeline recovered, and someone should know why it had to.

Without that connection the figure says it is unavailable and which connection to set (``warn``,
never a failure of the check); a login the api-server refuses, or an api-server that cannot be
reached, is one ``warn`` figure as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from kafkapipeline.airflow_api import HEALTH_CHECK, UNREACHABLE, AirflowApi, ApiError
from kafkapipeline.health.report import METRIC_DAG_RUN, OK, WARN, HealthFigure, detail_text, error_text
from kafkapipeline.runtime.try_endings import earlier_try_endings
from kafkapipeline.times import utc

AIRFLOW_API_CONN_ID = "airflow_api_default"
AIRFLOW_API_CONN_ENV = f"AIRFLOW_CONN_{AIRFLOW_API_CONN_ID.upper()}"
AIRFLOW_API_CONN_EXAMPLE = json.dumps(
    {"conn_type": "http", "host": "http://127.0.0.1:8080", "login": "admin", "password": "<password>"}
)
HTTP_TIMEOUT_SECONDS = 10.0
#: Subject of the one figure that stands for every DAG when none can be read.
ALL_DAGS = "*"
#: Most retried task instances of one DAG whose earlier tries are read (the most retried first).
MAX_RETRIED_READ = 3


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


def retries_since(api: AirflowApi, dag_id: str, since: datetime) -> list[str]:
    """Per task instance of ``dag_id`` retried since ``since`` (most tries first), how its earlier
    tries ended, e.g. ``drain[0] of <run>: try 1 killed by signal 9 (SIGKILL)``."""
    retried = [ti for ti in api.task_instances_since(dag_id, since) if int(ti.get("try_number") or 0) > 1]
    described = []
    for ti in retried[:MAX_RETRIED_READ]:
        map_index = int(ti.get("map_index", -1))
        name = ti["task_id"] + (f"[{map_index}]" if map_index >= 0 else "")
        endings = earlier_try_endings(
            api, dag_id, ti["dag_run_id"], ti["task_id"], map_index=map_index, before=int(ti["try_number"])
        )
        said = ", ".join(e.short() for e in endings) or f"{int(ti['try_number']) - 1} earlier tries"
        described.append(
            f"{name} of {ti['dag_run_id']}: {said}, now try {ti['try_number']} {ti.get('state')}"
        )
    if len(retried) > MAX_RETRIED_READ:
        described.append(f"and {len(retried) - MAX_RETRIED_READ} more")
    return described


def dag_last_run_figures(
    dag_ids: Sequence[str],
    now: datetime,
    connect_api: Callable[[], AirflowApi] = connect_from_connection,
    hours: float = 1,
) -> tuple[list[HealthFigure], str | None]:
    """``dag_last_run`` per DAG, naming the retries of its last ``hours``; when the api-server cannot
    be asked at all, one ``warn`` figure (subject ``*``) saying why, and the same text as a note."""
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
            figure = last_run_figure(dag_id, run, now)
            try:
                retries = retries_since(api, dag_id, now - timedelta(hours=hours)) if run else []
                figures.append(with_retries(figure, retries))
            except AirflowApiUnavailable:
                raise
            except Exception as err:
                figures.append(with_retries(figure, [error_text(err)], heading="retries unreadable"))
    except AirflowApiUnavailable as err:
        return _unavailable(err)
    finally:
        api.close()
    return figures, None


def _unavailable(err: AirflowApiUnavailable) -> tuple[list[HealthFigure], str]:
    reason = f"unavailable: {err}"
    return [HealthFigure(METRIC_DAG_RUN, ALL_DAGS, 0.0, WARN, detail_text(reason))], f"dag_last_run {reason}"


def with_retries(figure: HealthFigure, retries: Sequence[str], heading: str = "retried") -> HealthFigure:
    """``figure`` with the retries named in its detail, and ``warn``, when there were any."""
    if not retries:
        return figure
    detail = detail_text(f"{figure.detail}; {heading}: " + "; ".join(retries))
    return HealthFigure(figure.metric, figure.subject, figure.value, WARN, detail)


def last_run_figure(dag_id: str, run: LastRun | None, now: datetime) -> HealthFigure:
    """The figure of one DAG: age of its latest run's start, ``warn`` when it failed or has none."""
    if run is None:
        return HealthFigure(METRIC_DAG_RUN, dag_id, 0.0, WARN, "no run yet")
    started = run.start_date or run.run_after
    age = max(0.0, (now - started).total_seconds()) if started else 0.0
    detail = f"{run.state} ({run.run_type}, started {started.isoformat() if started else 'not yet'})"
    return HealthFigure(METRIC_DAG_RUN, dag_id, age, WARN if run.state == "failed" else OK, detail)
