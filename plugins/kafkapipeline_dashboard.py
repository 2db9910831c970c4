"""Registers the Kafka pipeline dashboard with Airflow: tweet sentiment against weather, and pipeline state.

* ``fastapi_apps``: the api-server mounts the dashboard's FastAPI app at ``/kafkapipeline``
  (page at ``/kafkapipeline/``, JSON under ``/kafkapipeline/api/``, OpenAPI at
  ``/kafkapipeline/openapi.json``; all of them need the Airflow login and read access to DAG runs,
  only ``static/`` is public).
* ``external_views``: a top-level entry in the Airflow UI's navigation that renders that
  page inside the UI (an iframe, because ``url_route`` is set) at ``/plugin/pipeline-dashboard``.

Loading this plugin opens no connection: Cassandra is contacted only when a dashboard
endpoint is called, so the api-server starts and the rest of the UI works while it is down.
The app's module holds the logic; this file is only the registration Airflow's plugin
manager looks for at the top of the plugins folder.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from kafkapipeline.dashboard.app import app as dashboard_app

URL_PREFIX = "/kafkapipeline"


class KafkaPipelineDashboardPlugin(AirflowPlugin):
    """The dashboard's FastAPI app and its entry in the Airflow UI's navigation."""

    name = "kafkapipeline_dashboard"
    fastapi_apps = [
        {"app": dashboard_app, "url_prefix": URL_PREFIX, "name": "Kafka pipeline dashboard"},
    ]
    external_views = [
        {
            "name": "Dashboard",
            # Relative (no leading slash) so it follows the api-server's base URL.
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "url_route": "pipeline-dashboard",
            "destination": "nav",
            "icon": f"{URL_PREFIX.lstrip('/')}/static/icon.svg",
            "nav_top_level": True,
        },
    ]
