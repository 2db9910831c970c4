"""Who may see the dashboard: the auth manager must allow the website and reading DAG runs.

The auth managers are real: Airflow's simple auth manager, and a subclass of it configured the public
way (``[core] auth_manager``) that gives one user the website but no DAG, which the simple auth
manager's roles cannot express. The user is what Airflow's token check would return (that check needs
the metadata database; the e2e test signs in for real).
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.api_fastapi.app import create_auth_manager, purge_cached_app
from airflow.api_fastapi.auth.managers.models.resource_details import AccessView, DagAccessEntity
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from fastapi.testclient import TestClient

from kafkapipeline.dashboard import app as dashboard_module
from kafkapipeline.dashboard.access import FORBIDDEN_DETAIL, airflow_user

WEBSITE_ONLY = "website-only"
PROTECTED = ["/", "/openapi.json", "/api/cities"]


class WebsiteWithoutDagsAuthManager(SimpleAuthManager):
    """The simple auth manager, except that user ``website-only`` may read no DAG; records DAG checks."""

    dag_checks: list[dict[str, Any]] = []

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        self.dag_checks.append({"method": method, "access_entity": access_entity, "details": details})
        if user.username == WEBSITE_ONLY:
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )


@pytest.fixture
def auth_manager(request, monkeypatch):
    """The auth manager of the api-server process, configured as [core] auth_manager; reset after."""
    cls = request.param
    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", f"{cls.__module__}.{cls.__qualname__}")
    purge_cached_app()
    manager = create_auth_manager()
    assert type(manager) is cls
    yield manager
    purge_cached_app()


def client_as(user: SimpleAuthManagerUser) -> TestClient:
    app = dashboard_module.create_app()
    app.dependency_overrides[airflow_user] = lambda: user
    return TestClient(app, follow_redirects=False)


@pytest.mark.parametrize("auth_manager", [WebsiteWithoutDagsAuthManager], indirect=True)
def test_a_user_with_the_website_but_no_dag_read_access_is_refused(auth_manager):
    WebsiteWithoutDagsAuthManager.dag_checks.clear()
    user = SimpleAuthManagerUser(username=WEBSITE_ONLY, role="admin")  # admin, yet no DAG: denied
    assert auth_manager.is_authorized_view(access_view=AccessView.WEBSITE, user=user)
    with client_as(user) as client:
        for path in [*PROTECTED, "/api/sentiment-weather", "/api/pipeline-state"]:
            response = client.get(path)
            assert response.status_code == 403, path
            assert response.json() == {"detail": FORBIDDEN_DETAIL}
    # What was asked: reading the runs of every DAG (no DAG named).
    assert WebsiteWithoutDagsAuthManager.dag_checks[0] == {
        "method": "GET",
        "access_entity": DagAccessEntity.RUN,
        "details": None,
    }


@pytest.mark.parametrize("auth_manager", [WebsiteWithoutDagsAuthManager, SimpleAuthManager], indirect=True)
def test_a_viewer_may_see_the_dashboard(auth_manager):
    with client_as(SimpleAuthManagerUser(username="reader", role="viewer")) as client:
        for path in PROTECTED:
            assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("auth_manager", [SimpleAuthManager], indirect=True)
def test_a_user_without_a_role_is_refused(auth_manager):
    with client_as(SimpleAuthManagerUser(username="nobody", role=None)) as client:
        for path in PROTECTED:
            assert client.get(path).status_code == 403, path


@pytest.mark.parametrize("auth_manager", [SimpleAuthManager], indirect=True)
def test_without_a_login_the_page_sends_the_browser_to_the_airflow_login_and_the_api_says_401(auth_manager):
    app = dashboard_module.create_app()
    with TestClient(app, follow_redirects=False) as anonymous:
        page = anonymous.get("/", params={"city": "Burnaby"})
        assert page.status_code == 307
        assert page.headers["location"] == ("/auth/login?next=http%3A%2F%2Ftestserver%2F%3Fcity%3DBurnaby")
        for path in ("/openapi.json", "/api/cities"):
            response = anonymous.get(path)
            assert response.status_code == 401, path
            assert response.json() == {"detail": "Not authenticated"}
