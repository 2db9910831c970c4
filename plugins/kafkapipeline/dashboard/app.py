"""The dashboard's FastAPI app, mounted by the Airflow api-server at ``/kafkapipeline``.

The page, ``api/cities``, ``api/sentiment-weather`` and ``api/pipeline-state``, documented in
``/kafkapipeline/openapi.json`` (no Swagger UI or ReDoc: they load scripts from a CDN). Access is Airflow's
login plus read access to DAG runs (:mod:`~kafkapipeline.dashboard.access`); only static assets are public.
Reads run in worker processes, a few at a time per api-server process, and are reused for a few seconds
(:mod:`~kafkapipeline.dashboard.admission`, :mod:`~kafkapipeline.dashboard.worker`,
:mod:`~kafkapipeline.dashboard.cache`). Errors are JSON: 503
when Cassandra or its schema is unavailable, 429 when this process runs its most reads, 422 for a bad
parameter or range; their bodies name no host and quote no driver text (the log does, under the request
id the body gives). Every response forbids framing by other sites and content sniffing.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BeforeValidator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kafkapipeline import settings
from kafkapipeline.dashboard import worker
from kafkapipeline.dashboard.access import require_dashboard_reader
from kafkapipeline.dashboard.admission import DashboardBusy, ReadPool, result_of
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
from kafkapipeline.dashboard.cache import ResultCache
from kafkapipeline.dashboard.models import (
    CitiesResponse,
    ErrorResponse,
    PipelineStateResponse,
    SentimentWeatherResponse,
)
from kafkapipeline.dashboard.queries import (
    CONNECT_TIMEOUT_SECONDS,
    READ_MODULES,
    REQUEST_TIMEOUT_SECONDS,
    CassandraUnavailable,
    SchemaMissing,
)
from kafkapipeline.errors import ConfigurationError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_CITIES = ("Vancouver",)
NO_STORE = {"Cache-Control": "no-store"}
#: On every response: no other site may frame the page (the Airflow UI, same origin, does), and a
#: browser takes each response as the type it says it is.
SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
}
#: What an error body says; the detail (hosts, driver messages) is logged under the body's request id.
UNREACHABLE_DETAIL = "Cassandra did not answer the dashboard's read."
SCHEMA_DETAIL = (
    "The pipeline's tables do not exist in this keyspace yet: trigger the 'bootstrap' DAG, which "
    "applies the CQL migrations."
)
CONFIGURATION_DETAIL = (
    "The dashboard's Cassandra connection (cassandra_default) or a KAFKAPIPELINE_* setting is missing "
    "or invalid."
)
INTERNAL_DETAIL = "The dashboard could not build this response."

T = TypeVar("T")

ERROR_RESPONSES: dict[int | str, dict] = {
    status.HTTP_401_UNAUTHORIZED: {"description": "No Airflow session cookie or bearer token"},
    status.HTTP_403_FORBIDDEN: {
        "description": "The Airflow auth manager denies this user the website or reading DAG runs"
    },
    status.HTTP_422_UNPROCESSABLE_CONTENT: {
        "model": ErrorResponse,
        "description": f"A malformed parameter, or start/end cannot be shown (more than {MAX_RANGE_DAYS} "
        f"days, start not before end, or outside {EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d})",
    },
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "model": ErrorResponse,
        "description": "This api-server process already runs its most dashboard reads "
        "(KAFKAPIPELINE_DASHBOARD_MAX_CONCURRENT_REQUESTS); retry after Retry-After seconds",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    },
    status.HTTP_500_INTERNAL_SERVER_ERROR: {
        "model": ErrorResponse,
        "description": "An unexpected failure; the api-server's log has it under the request id",
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": ErrorResponse,
        "description": "Cassandra is unreachable, its schema is missing, or cassandra_default is not set; "
        "the api-server's log has the detail under the request id",
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


def dashboard_cities() -> list[str]:
    """Cities the page offers: KAFKAPIPELINE_DASHBOARD_CITIES, else KAFKAPIPELINE_CITIES (comma separated).

    At most MAX_CITIES, each at most MAX_CITY_LENGTH characters (longer names are left out).
    """
    configured = settings.current()
    cities = [
        city for city in configured.dashboard_cities or configured.cities if len(city) <= MAX_CITY_LENGTH
    ]
    return cities[:MAX_CITIES] or list(DEFAULT_CITIES)


def _error(
    status_code: int, error: str, detail: str, request_id: str | None = None, **headers: str
) -> JSONResponse:
    body = ErrorResponse(error=error, detail=detail, request_id=request_id).model_dump()
    return JSONResponse(status_code=status_code, content=body, headers={**NO_STORE, **headers})


def _logged_error(status_code: int, error: str, detail: str, err: BaseException) -> JSONResponse:
    """An error body without ``err``'s text, which is logged instead, under a new request id."""
    request_id = uuid.uuid4().hex[:16]
    unexpected = error == "internal"  # with its traceback; the others are known conditions
    log.log(
        logging.ERROR if unexpected else logging.WARNING,
        "Dashboard request %s: %s: %s",
        request_id,
        error,
        err,
        exc_info=err if unexpected else None,
    )
    return _error(
        status_code, error, f"{detail} Request id {request_id} (in the api-server's log).", request_id
    )


class DashboardFailure(RuntimeError):
    """A read failed in a way no handler expects; the cause is logged, the body says nothing of it."""


class SecurityHeaders:
    """ASGI middleware setting :data:`SECURITY_HEADERS` on every response of the app."""

    _names = {name.lower().encode("latin-1") for name in SECURITY_HEADERS}
    _values = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self._names]
                message = {**message, "headers": [*kept, *self._values]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def read_pool(
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS, request_timeout: float = REQUEST_TIMEOUT_SECONDS
) -> ReadPool:
    """The dashboard's worker processes, at most KAFKAPIPELINE_DASHBOARD_MAX_CONCURRENT_REQUESTS at once,
    each with its own session to ``cassandra_default`` (``connect_timeout``/``request_timeout`` seconds)."""
    return ReadPool(
        lambda: settings.current().dashboard_max_concurrent_requests,
        worker.start,
        (settings.CASSANDRA_CONN_ID, connect_timeout, request_timeout),
        preload=READ_MODULES,
    )


def json_body(body: bytes) -> Response:
    """A response's JSON as a worker made it (validated by its model there), not to be made again here."""
    return Response(body, media_type="application/json", headers=NO_STORE)


#: Failures with their own handler; any other exception of a read becomes a :class:`DashboardFailure`.
_HANDLED = (CassandraUnavailable, SchemaMissing, ConfigurationError, InvalidTimeRange, DashboardBusy)


async def cached_read(
    pool: ReadPool, cache: ResultCache, key: Hashable, fn: Callable[..., T], *args: Any
) -> T:
    """``fn(*args)`` in one of ``pool``'s workers, or the cached or running read of ``key``.

    :raises DashboardBusy: the pool runs its most reads (and ``key`` has none cached or running)
    :raises DashboardFailure: ``fn`` failed with an exception no handler knows
    """
    try:
        result: T = await result_of(cache.get_or_start(key, lambda: pool.submit(fn, *args)))
    except _HANDLED:
        raise
    except Exception as err:
        raise DashboardFailure(f"{type(err).__name__}: {err}") from err
    return result


def add_error_handlers(app: FastAPI) -> None:
    """Every error as an :class:`ErrorResponse`; 5xx bodies say what to do, the log says what happened."""

    @app.exception_handler(CassandraUnavailable)
    async def cassandra_unavailable(_request: Request, err: CassandraUnavailable) -> JSONResponse:
        return _logged_error(
            status.HTTP_503_SERVICE_UNAVAILABLE, "cassandra_unreachable", UNREACHABLE_DETAIL, err
        )

    @app.exception_handler(SchemaMissing)
    async def schema_missing(_request: Request, err: SchemaMissing) -> JSONResponse:
        return _logged_error(status.HTTP_503_SERVICE_UNAVAILABLE, "schema_missing", SCHEMA_DETAIL, err)

    @app.exception_handler(ConfigurationError)
    async def configuration_error(_request: Request, err: ConfigurationError) -> JSONResponse:
        return _logged_error(status.HTTP_503_SERVICE_UNAVAILABLE, "configuration", CONFIGURATION_DETAIL, err)

    @app.exception_handler(DashboardFailure)
    async def dashboard_failure(_request: Request, err: DashboardFailure) -> JSONResponse:
        cause = err.__cause__ or err
        return _logged_error(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal", INTERNAL_DETAIL, cause)

    @app.exception_handler(DashboardBusy)
    async def busy(_request: Request, err: DashboardBusy) -> JSONResponse:
        detail = (
            f"This api-server is answering {err.running} dashboard reads, the most it runs at once: "
            f"retry in {err.retry_after} s."
        )
        return _error(
            status.HTTP_429_TOO_MANY_REQUESTS, "busy", detail, None, **{"Retry-After": str(err.retry_after)}
        )

    @app.exception_handler(InvalidTimeRange)
    async def invalid_range(_request: Request, err: InvalidTimeRange) -> JSONResponse:
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid_range", str(err))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'][1:])}: {error['msg']}" for error in err.errors()
        )
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid_request", problems)


def create_app(pool: ReadPool | None = None, cache: ResultCache | None = None) -> FastAPI:
    """Build the dashboard app; ``pool`` runs the reads (:func:`read_pool`, started on the first read),
    ``cache`` keeps the responses a few seconds. Creating it starts no process and opens no connection."""
    pool = pool or read_pool()
    cache = cache or ResultCache(lambda: settings.current().dashboard_cache_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        pool.close()

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
    app.state.pool = pool
    app.state.cache = cache
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    add_error_handlers(app)

    @app.get("/", include_in_schema=False, dependencies=[Depends(require_dashboard_reader)])
    async def dashboard_page() -> Response:
        """The page; without an Airflow session the browser goes to the Airflow login (see below)."""
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=NO_STORE)

    @app.exception_handler(StarletteHTTPException)
    async def login_for_the_page(request: Request, err: StarletteHTTPException) -> Response:
        """A 401 of the page is the Airflow login, coming back to the page; any other is the usual JSON."""
        if (
            err.status_code == status.HTTP_401_UNAUTHORIZED
            and request.scope.get("endpoint") is dashboard_page
        ):
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)))
        return await http_exception_handler(request, err)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_dashboard_reader)])
    async def openapi_schema() -> JSONResponse:
        """This app's OpenAPI schema, for the users who may see the dashboard only."""
        return JSONResponse(app.openapi(), headers=NO_STORE)

    @app.get(
        "/api/cities",
        response_model=CitiesResponse,
        dependencies=[Depends(require_dashboard_reader)],
        responses=ERROR_RESPONSES,
        tags=["dashboard"],
    )
    async def cities() -> CitiesResponse:
        """Cities the page offers (KAFKAPIPELINE_DASHBOARD_CITIES); the data endpoints accept any city."""
        configured = dashboard_cities()
        return CitiesResponse(cities=configured, default_city=configured[0])

    @app.get(
        "/api/sentiment-weather",
        response_model=SentimentWeatherResponse,
        dependencies=[Depends(require_dashboard_reader)],
        responses=ERROR_RESPONSES,
        tags=["dashboard"],
    )
    async def sentiment_weather(
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
    ) -> Response:
        """Per UTC hour: tweet sentiment shares and mean score, against mean temperature (°C) and the most
        frequent weather description.
        """
        time_range = resolve_time_range(start, end, now=datetime.now(UTC))
        city = city or dashboard_cities()[0]
        keyspace = settings.keyspace()
        key = ("sentiment-weather", keyspace, city, time_range.start, time_range.end)
        return json_body(
            await cached_read(pool, cache, key, worker.sentiment_weather, keyspace, city, time_range)
        )

    @app.get(
        "/api/pipeline-state",
        response_model=PipelineStateResponse,
        dependencies=[Depends(require_dashboard_reader)],
        responses=ERROR_RESPONSES,
        tags=["dashboard"],
    )
    async def pipeline_state_endpoint(
        start: StartParam = None,
        end: EndParam = None,
    ) -> Response:
        """The latest pipeline_health check (consumer lag, rows per hour, dead letters, freshness,
        last DAG runs) and the drains' committed batches per hour in the range."""
        time_range = resolve_time_range(start, end, now=datetime.now(UTC))
        keyspace = settings.keyspace()
        key = ("pipeline-state", keyspace, time_range.start, time_range.end)
        return json_body(await cached_read(pool, cache, key, worker.pipeline_state_now, keyspace, time_range))

    return app


#: The app the plugin mounts. Creating it starts no process and opens no connection.
app = create_app()
