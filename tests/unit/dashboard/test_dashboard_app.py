"""The dashboard plugin without services: registration, auth, validation, static assets, OpenAPI."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kafkapipeline.dashboard import app as dashboard_module
from kafkapipeline.dashboard.access import require_dashboard_reader
from kafkapipeline.dashboard.bounds import MAX_CITIES, MAX_CITY_LENGTH, MAX_RANGE_DAYS, MAX_ROWS
from kafkapipeline.dashboard.queries import checked_keyspace
from kafkapipeline.errors import ConfigurationError

CLOSED_PORT_CONN = json.dumps({"conn_type": "cassandra", "host": "127.0.0.1", "port": 1})


@pytest.fixture
def client() -> TestClient:
    """A fresh app with authentication satisfied (the auth itself is tested separately)."""
    app = dashboard_module.create_app()
    app.dependency_overrides[require_dashboard_reader] = lambda: None
    with TestClient(app) as test_client:
        yield test_client


def test_airflow_plugin_manager_loads_the_dashboard_from_the_plugins_folder():
    from airflow import plugins_manager, settings

    assert Path(settings.PLUGINS_FOLDER).resolve() == Path(__file__).resolve().parents[3] / "plugins"
    assert not [source for source in plugins_manager.get_import_errors() if "kafkapipeline" in source]
    info = {plugin["name"]: plugin for plugin in plugins_manager.get_plugin_info()}
    plugin = info["kafkapipeline_dashboard"]
    assert str(plugin["source"]).endswith("kafkapipeline_dashboard.py")
    (fastapi_app,) = plugin["fastapi_apps"]
    assert (fastapi_app["url_prefix"], fastapi_app["app"]) == (
        "/kafkapipeline",
        "fastapi.applications.FastAPI",
    )
    (view,) = plugin["external_views"]
    assert view["destination"] == "nav"
    assert view["url_route"] == "pipeline-dashboard"  # url_route set: rendered inside the UI (iframe)
    assert view["href"] == "kafkapipeline/"  # relative: follows the api-server's base URL
    # plugins/.airflowignore keeps the library package out of plugin discovery, so none of its
    # modules is executed again as a top-level module (sources/http.py would shadow the stdlib's http).
    assert not [name for name, item in info.items() if "plugins/kafkapipeline/" in str(item["source"])]
    assert hasattr(sys.modules["http"], "HTTPStatus")


def test_the_app_serves_the_page_and_the_documented_endpoints():
    import kafkapipeline_dashboard

    paths = {route.path for route in kafkapipeline_dashboard.dashboard_app.routes}
    assert paths >= {"/", "/static", "/api/cities", "/api/sentiment-weather", "/api/pipeline-state"}


def test_loading_the_plugin_starts_no_process_and_opens_no_connection():
    # In a fresh interpreter, as the api-server loads it: nothing but the import may happen.
    script = (
        "import socket, psutil\n"
        "connects = []\n"
        "socket.socket.connect = lambda self, address: connects.append(address)\n"
        "import kafkapipeline_dashboard\n"
        "print(len(psutil.Process().children(recursive=True)), connects,"
        " kafkapipeline_dashboard.dashboard_app.state.pool.started)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "[]", "False"]


def test_api_requires_airflow_credentials():
    app = dashboard_module.create_app()
    with TestClient(app) as anonymous:
        for path in ("/api/cities", "/api/sentiment-weather", "/api/pipeline-state"):
            response = anonymous.get(path)
            assert response.status_code == 401, path
            assert response.json() == {"detail": "Not authenticated"}


def test_static_assets_are_served_with_the_vendored_chart_library(client):
    chart = client.get("/static/vendor/chart.umd.min.js")
    assert chart.status_code == 200
    assert chart.text.startswith("/*!\n * Chart.js v4.")
    assert "Released under the MIT License" in chart.text[:200]
    assert client.get("/static/dashboard.js").status_code == 200
    page = (dashboard_module.STATIC_DIR / "index.html").read_text()
    assert 'src="static/vendor/chart.umd.min.js"' in page  # relative, never a CDN
    assert "http://" not in page and "https://" not in page


def test_openapi_documents_the_endpoints_their_errors_and_their_bounds(client):
    spec = client.get("/openapi.json").json()
    sentiment = spec["paths"]["/api/sentiment-weather"]["get"]
    parameters = {parameter["name"]: parameter for parameter in sentiment["parameters"]}
    assert set(parameters) == {"city", "start", "end"}
    assert sentiment["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    assert "/api/pipeline-state" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    # The bounds are part of the contract: in the parameters, the 422, the response models.
    assert f"at most {MAX_RANGE_DAYS} days" in parameters["end"]["description"]
    assert parameters["city"]["schema"]["anyOf"][0]["maxLength"] == MAX_CITY_LENGTH
    assert "more than 14 days" in sentiment["responses"]["422"]["description"]
    assert f"{MAX_ROWS['tweets']:,} tweets" in spec["info"]["description"]
    schemas = spec["components"]["schemas"]
    assert {"max_range_days", "max_rows", "rows_per_hour"} <= set(schemas["ReadLimits"]["properties"])
    for response in ("SentimentWeatherResponse", "PipelineStateResponse"):
        assert {"truncated", "truncated_hours", "limits"} <= set(schemas[response]["required"])
    assert {"truncated", "tweets_stored"} <= set(schemas["SentimentHour"]["required"])


def test_openapi_needs_the_airflow_login_and_there_is_no_docs_page():
    app = dashboard_module.create_app()
    with TestClient(app) as anonymous:
        response = anonymous.get("/openapi.json")
        assert response.status_code == 401
        assert "paths" not in response.text
        # Swagger UI and ReDoc would load their scripts from a CDN: they are off, not public.
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            assert anonymous.get(path).status_code == 404, path


def test_cities_come_from_the_environment(client, monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_DASHBOARD_CITIES", " Burnaby, Vancouver ,,Burnaby")
    assert client.get("/api/cities").json() == {"cities": ["Burnaby", "Vancouver"], "default_city": "Burnaby"}
    monkeypatch.delenv("KAFKAPIPELINE_DASHBOARD_CITIES")
    monkeypatch.delenv("KAFKAPIPELINE_CITIES", raising=False)
    assert client.get("/api/cities").json() == {"cities": ["Vancouver"], "default_city": "Vancouver"}


def test_the_city_list_is_bounded(client, monkeypatch):
    names = [f"City{number}" for number in range(MAX_CITIES + 10)]
    monkeypatch.setenv("KAFKAPIPELINE_DASHBOARD_CITIES", ",".join(["X" * (MAX_CITY_LENGTH + 1), *names]))
    body = client.get("/api/cities").json()
    assert body["cities"] == names[:MAX_CITIES]  # the over-long name is left out, the rest capped
    assert body["default_city"] == "City0"


@pytest.mark.parametrize(
    "params",
    [
        {"start": "yesterday"},
        {"start": "2021-02-30T00:00:00Z"},  # no such day
        {"start": "2021-02-09T25:00:00Z"},
        {"end": "nan"},
        {"start": "1e30"},
        {"start": "99999999999999999999"},
        {"start": "0001-01-01T00:00:00+14:00"},  # no UTC equivalent
        {"end": "0001-01-01"},  # 24 hours before it would not exist
        {"end": "9999-12-31T23:59:59-14:00"},
        {"start": "1969-12-31T00:00:00Z", "end": "1970-01-01T01:00:00Z"},
        {"start": "2100-01-01T00:00:00Z", "end": "2100-01-01T01:00:00Z"},
        {"start": "-1"},
        {"start": "2021-02-10", "end": "2021-02-09"},
        {"start": "2021-02-01", "end": "2021-02-15T00:00:01Z"},
        {"city": ""},
        {"city": "x" * (MAX_CITY_LENGTH + 1)},
        {"city": "Van\ncouver"},
    ],
)
def test_malformed_or_out_of_range_parameters_are_422_never_500(params, monkeypatch):
    # Cassandra "lives" on a closed port: reaching it would give 503, so 422 proves it was not asked.
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", CLOSED_PORT_CONN)
    app = dashboard_module.create_app()
    app.dependency_overrides[require_dashboard_reader] = lambda: None
    with TestClient(app, raise_server_exceptions=False) as client:
        paths = ["/api/sentiment-weather"] + ([] if "city" in params else ["/api/pipeline-state"])
        for path in paths:
            response = client.get(path, params=params)
            assert response.status_code == 422, (path, response.text)
            assert response.json()["error"] in {"invalid_range", "invalid_request"}


def test_a_range_too_long_is_rejected_before_cassandra_is_contacted(client, monkeypatch):
    # Cassandra "lives" on a closed port: reaching it would give 503, so 422 proves it was not asked.
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", CLOSED_PORT_CONN)
    response = client.get(
        "/api/sentiment-weather",
        params={"city": "Vancouver", "start": "2026-01-01T00:00:00Z", "end": "2026-01-20T00:00:00Z"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_range"
    assert "at most 14 days" in response.json()["detail"]
    response = client.get(
        "/api/pipeline-state", params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01"}
    )
    assert response.status_code == 422
    assert "must be before end" in response.json()["detail"]


def test_a_malformed_parameter_is_a_422_in_the_same_error_shape(client):
    response = client.get("/api/sentiment-weather", params={"start": "yesterday"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["detail"].startswith("start: Input should be a valid datetime")


def test_a_missing_connection_is_a_503_whose_log_says_what_to_set(client, monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_CASSANDRA_DEFAULT")
    with caplog.at_level(logging.WARNING):
        response = client.get("/api/pipeline-state")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "configuration"
    assert "connection (cassandra_default)" in body["detail"]
    assert "127.0.0.1" not in response.text  # the example address of the log's hint stays there
    (logged,) = [r.getMessage() for r in caplog.records if body["request_id"] in r.getMessage()]
    assert "set the environment variable AIRFLOW_CONN_CASSANDRA_DEFAULT" in logged


@pytest.mark.parametrize("name", ["kafkapipeline", "test_0a1b2c3d4e", "k2"])
def test_plain_keyspace_names_pass(name):
    assert checked_keyspace(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "K2", "ks; DROP TABLE x", "ks.tweets", "a" * 49])
def test_keyspace_names_that_could_inject_cql_are_refused(name):
    with pytest.raises(ConfigurationError, match="not a valid Cassandra keyspace name"):
        checked_keyspace(name)
