"""Who may see the dashboard: a signed-in Airflow user whom the auth manager lets read DAG runs.

Authentication is Airflow's API's own (its session cookie, or ``Authorization: Bearer`` from
``POST /auth/token``); Airflow does not authenticate plugin apps itself. The dashboard shows the pipeline
DAGs' last run states, so the configured auth manager must allow the Airflow website and reading DAGs and
their runs (``is_authorized_dag(method="GET", access_entity=RUN)`` with no DAG named: every DAG). With the
simple auth manager that is every role from ``viewer`` up; with FAB, "can read" on DAGs and DAG Runs.

Airflow's security modules are imported inside the functions, so that loading the plugin in a scheduler
or a worker does not pull in the api-server's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

#: The bearer token scheme of the OpenAPI schema; a missing token is not an error here (the cookie may do).
BEARER = HTTPBearer(
    auto_error=False,
    description="An Airflow API token (POST /auth/token); in a browser the Airflow UI's session cookie "
    "works too.",
)
FORBIDDEN_DETAIL = "Forbidden: the dashboard shows DAG runs, which this Airflow user may not read"


async def airflow_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
) -> Any:
    """The Airflow user of the request, authenticated exactly as Airflow's API does (401 without one)."""
    # Airflow's plugin docs (apache/airflow#72655, #72935) authenticate plugin apps with core_api.security.
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, credentials)


def require_dashboard_reader(user: Annotated[Any, Depends(airflow_user)]) -> None:
    """Every dashboard endpoint's dependency: 401 without a login, 403 unless the auth manager lets
    ``user`` see the website and read every DAG and its runs.

    Synchronous, like Airflow's own ``requires_access_*`` checks (FastAPI runs it off the event loop):
    an auth manager may ask its database.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView, DagAccessEntity

    auth_manager = get_auth_manager()
    allowed = auth_manager.is_authorized_view(
        access_view=AccessView.WEBSITE, user=user
    ) and auth_manager.is_authorized_dag(method="GET", access_entity=DagAccessEntity.RUN, user=user)
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, FORBIDDEN_DETAIL)
