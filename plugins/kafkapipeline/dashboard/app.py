"""The dashboard's FastAPI app, mounted by the Airflow api-server at ``/kafkapipeline``.

The page, ``api/cities``, ``api/sentiment-weather`` and ``api/pipeline-state``, documented in
``/kafkapipeline/openapi.json`` (no Swagger UI or ReDoc: they load scripts from a CDN). Auth is Airflow's
own (session cookie or bearer token, website access); only static assets are public. Errors are JSON:
503 when Cassandra or its schema is unavailable, 422 for a bad parameter or range.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request, Security, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BeforeValidator

from kafkapipeline import settings
from kafkapipeline.dashboard import queries
from kafkapipeline.dashboard.aggregation import pipeline_state, sentiment_against_weather
from kafkapipeline.dashboard.bounds import (
    EARLIEST,
    LATEST,
    MAX_CITIES,
    MAX_CITY_LENGTH,
    MAX_RANGE_DAYS,
    MAX_ROWS,
    InvalidTimeRange,
    resolve_time_range,
)
from kafkapipeline.dashboard.models import (
    CitiesResponse,
    ErrorResponse,
    PipelineStateResponse,
    SentimentWeatherResponse,
)
from kafkapipeline.dashboard.queries import CassandraUnavailable, DashboardSessions, SchemaMissing
from kafkapipeline.errors import ConfigurationError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_CITIES = ("Vancouver",)
NO_STORE = {"Cache-Control": "no-store"}

ERROR_RESPONSES: dict[int | str, dict] = {
    status.HTTP_401_UNAUTHORIZED: {"description": "No Airflow session cookie or bearer token"},
    status.HTTP_403_FORBIDDEN: {"description": "The Airflow auth manager denies this user the website"},
    status.HTTP_422_UNPROCESSABLE_CONTENT: {
        "model": ErrorResponse,
        "description": f"A malformed parameter, or start/end cannot be shown (more than {MAX_RANGE_DAYS} "
        f"days, start not before end, or outside {EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d})",
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": ErrorResponse,
        "description": "Cassandra is unreachable, its schema is missing, or cassandra_default is not set",
    },
}

#: No control characters in a city (it becomes a Cassandra partition key and a page label).
CITY_PATTERN = r"^[^\x00-\x1f\x7f]+$"
#: "2021-02-09T00:00:00 00:00": a "+00:00" offset sent unencoded, which the query string made a space.
_SPACED_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2}T[\d:.]+) (\d{2}(?::?\d{2})?)$")


def _plus_offset(value: object) -> object:
    """Read the space of an unencoded "+HH:MM" offset as the "+" it was (the page does the same)."""
    return _SPACED_OFFSET.sub(r"\1+\2", value.strip()) if isinstance(value, str) else value


StartParam = Annotated[
    datetime | None,
    BeforeValidator(_plus_offset),
    Query(
        description=f"Range start, ISO-8601 (naive = UTC, a date alone = midnight UTC), from "
        f"{EARLIEST:%Y-%m-%d}; defaults to 24 hours before end"
    ),
]
EndParam = Annotated[
    datetime | None,
    BeforeValidator(_plus_offset),
    Query(
        description=f"Range end (exclusive), ISO-8601, until {LATEST:%Y-%m-%d}; defaults to now. "
        f"end - start may be at most {MAX_RANGE_DAYS} days"
    ),
]

_bearer = HTTPBearer(
    auto_error=False,
    description="An Airflow API token (POST /auth/token); in a browser the Airflow UI's session cookie "
    "works too.",
)


def dashboard_cities() -> list[str]:
    """Cities the page offers: KAFKAPIPELINE_DASHBOARD_CITIES, else KAFKAPIPELINE_CITIES (comma separated).

    At most MAX_CITIES, each at most MAX_CITY_LENGTH characters (longer names are left out).
    """
    configured = settings.current()
    cities = [
        city for city in configured.dashboard_cities or configured.cities if len(city) <= MAX_CITY_LENGTH
    ]
    return cities[:MAX_CITIES] or list(DEFAULT_CITIES)


async def require_airflow_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    """Authenticate exactly as Airflow's API does (cookie or bearer token) and require website access.

    Airflow's security helpers are imported here, not at module level, so that loading the
    plugin in a scheduler or worker does not pull in the API server's modules.
    """
    # No public SDK API for this: Airflow's plugin docs (apache/airflow#72655, #72935) use core_api.security.
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import get_user, requires_access_view

    user = await get_user(request, None, credentials)
    requires_access_view(AccessView.WEBSITE)(request, user)


def _error(status_code: int, error: str, detail: str) -> JSONResponse:
    body = ErrorResponse(error=error, detail=detail).model_dump()
    return JSONResponse(status_code=status_code, content=body, headers=NO_STORE)


def create_app(sessions: DashboardSessions | None = None) -> FastAPI:
    """Build the dashboard app; ``sessions`` is the Cassandra session cache (one per process)."""
    sessions = sessions or DashboardSessions()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        sessions.close()

    app = FastAPI(
        title="Kafka pipeline dashboard",
        description=(
            "Tweet sentiment against weather per city, and the pipeline's own state, read from "
            "Cassandra over bounded hour slices of its day partitions. Times are UTC (ISO-8601; "
            f"a date alone is midnight); a range is at most {MAX_RANGE_DAYS} days between "
            f"{EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} and defaults to the last 24 hours. "
            "A request reads at most "
            + ", ".join(f"{n:,} {table}" for table, n in MAX_ROWS.items())
            + " rows, spread evenly over the range's hours; an hour holding more is flagged "
            "`truncated` and carries Cassandra's count. Authenticate as for the Airflow API."
        ),
        version="2",
        lifespan=lifespan,
        # No Swagger UI / ReDoc (their pages load scripts from a CDN) and no public schema:
        # /openapi.json is served below behind the same login as the API.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.sessions = sessions
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(CassandraUnavailable)
    async def cassandra_unavailable(_request: Request, err: CassandraUnavailable) -> JSONResponse:
        log.warning("Dashboard: %s", err)
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, "cassandra_unreachable", str(err))

    @app.exception_handler(SchemaMissing)
    async def schema_missing(_request: Request, err: SchemaMissing) -> JSONResponse:
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, "schema_missing", str(err))

    @app.exception_handler(ConfigurationError)
    async def configuration_error(_request: Request, err: ConfigurationError) -> JSONResponse:
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, "configuration", str(err))

    @app.exception_handler(InvalidTimeRange)
    async def invalid_range(_request: Request, err: InvalidTimeRange) -> JSONResponse:
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid_range", str(err))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'][1:])}: {error['msg']}" for error in err.errors()
        )
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid_request", problems)

    @app.get("/", include_in_schema=False)
    async def dashboard_page(request: Request) -> Response:
        """The page; without an Airflow session it sends the browser to the Airflow login."""
        try:
            await require_airflow_user(request, await _bearer(request))
        except HTTPException as err:
            if err.status_code != status.HTTP_401_UNAUTHORIZED:
                raise
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)))
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=NO_STORE)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Security(require_airflow_user)])
    def openapi_schema() -> JSONResponse:
        """This app's OpenAPI schema, for signed-in Airflow users only."""
        return JSONResponse(app.openapi(), headers=NO_STORE)

    @app.get(
        "/api/cities",
        response_model=CitiesResponse,
        dependencies=[Security(require_airflow_user)],
        responses=ERROR_RESPONSES,
        tags=["dashboard"],
    )
    def cities() -> CitiesResponse:
        """Cities the page offers (KAFKAPIPELINE_DASHBOARD_CITIES); the data endpoints accept any city."""
        configured = dashboard_cities()
        return CitiesResponse(cities=configured, default_city=configured[0])

    @app.get(
        "/api/sentiment-weather",
        response_model=SentimentWeatherResponse,
        dependencies=[Security(require_airflow_user)],
        responses=ERROR_RESPONSES,
        tags=["dashboard"],
    )
    def sentiment_weather(
        response: Response,
        city: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_CITY_LENGTH,
                pattern=CITY_PATTERN,
                description="City; defaults to the first configured one",
            ),
        ] = None,
        start: StartParam = None,
        end: EndParam = None,
    ) -> SentimentWeatherResponse:
        """Per UTC hour: tweet sentiment shares and mean score, against mean temperature (°C) and the most
        frequent weather description.
        """
        time_range = resolve_time_range(start, end, now=datetime.now(UTC))
        city = city or dashboard_cities()[0]
        keyspace = settings.keyspace()
        tweets = queries.read_tweets(sessions, keyspace, city, time_range)
        weather = queries.read_weather(sessions, keyspace, city, time_range)
        response.headers.update(NO_STORE)
        return sentiment_against_weather(city, tweets, weather, time_range, keyspace=keyspace)

    @app.get(
        "/api/pipeline-state",
        response_model=PipelineStateResponse,
        dependencies=[Security(require_airflow_user)],
        responses=ERROR_RESPONSES,
        tags=["dashboard"],
    )
    def pipeline_state_endpoint(
        response: Response,
        start: StartParam = None,
        end: EndParam = None,
    ) -> PipelineStateResponse:
        """The latest pipeline_health check (consumer lag, rows per hour, dead letters, freshness,
        last DAG runs) and the drains' committed batches per hour in the range."""
        now = datetime.now(UTC)
        time_range = resolve_time_range(start, end, now=now)
        keyspace = settings.keyspace()
        health_rows = queries.read_latest_health_check(sessions, keyspace, now)
        batches = queries.read_drain_batches(sessions, keyspace, time_range)
        response.headers.update(NO_STORE)
        return pipeline_state(health_rows, batches, time_range, now=now, keyspace=keyspace)

    return app


#: The app the plugin mounts. Creating it opens no connection.
app = create_app()
