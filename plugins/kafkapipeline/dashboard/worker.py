"""What a dashboard worker process runs: its own Cassandra session, the reads, their aggregation.

The api-server hands each read to a worker process (:mod:`~kafkapipeline.dashboard.admission`) and gets
back the response's JSON as bytes, so decoding some 20,000 rows and aggregating them never holds the
api-server's GIL (a thread would, against the loop and the threads serving Airflow's own routes). A
failure comes back as the type the app's handlers know, with its message; any other exception as
:class:`ReadFailed` naming its type, since a driver's exception may not unpickle (and would break the pool).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from kafkapipeline import settings
from kafkapipeline.dashboard import queries
from kafkapipeline.dashboard.aggregation import pipeline_state, sentiment_against_weather
from kafkapipeline.dashboard.bounds import InvalidTimeRange, TimeRange
from kafkapipeline.dashboard.queries import CassandraUnavailable, DashboardSessions, SchemaMissing
from kafkapipeline.errors import ConfigurationError

#: Failures the app answers with their own status; each crosses back as exactly this type.
KNOWN_FAILURES: tuple[type[Exception], ...] = (
    CassandraUnavailable,
    SchemaMissing,
    ConfigurationError,
    InvalidTimeRange,
)


class _Process:
    """What this worker process holds: its session cache."""

    sessions: DashboardSessions | None = None


_PROCESS = _Process()


class ReadFailed(RuntimeError):
    """A read failed with an exception the app has no handler for; the message starts with its type."""


def start(
    conn_id: str = settings.CASSANDRA_CONN_ID,
    connect_timeout: float = queries.CONNECT_TIMEOUT_SECONDS,
    request_timeout: float = queries.REQUEST_TIMEOUT_SECONDS,
) -> None:
    """A worker process's initializer: its session cache, which connects on the first read.

    :param conn_id: Airflow connection to read Cassandra's address from (looked up at each read)
    :param connect_timeout: seconds allowed to open a connection
    :param request_timeout: seconds allowed for one partition read
    """
    if _PROCESS.sessions is not None:
        _PROCESS.sessions.close()
    _PROCESS.sessions = DashboardSessions(conn_id, connect_timeout, request_timeout)


def _own_sessions() -> DashboardSessions:
    if _PROCESS.sessions is None:  # called without start(): the defaults
        _PROCESS.sessions = DashboardSessions()
    return _PROCESS.sessions


def portable(err: Exception) -> Exception:
    """``err`` as an exception the api-server can rebuild: its known type, else :class:`ReadFailed`."""
    for kind in KNOWN_FAILURES:
        if isinstance(err, kind):
            return err if type(err) is kind else kind(str(err))
    return ReadFailed(f"{type(err).__name__}: {err}")


def answer(build: Callable[[DashboardSessions], BaseModel]) -> bytes:
    """``build``'s response, from this process's sessions, as JSON; a failure as :func:`portable` makes it
    (the worker's traceback, with the original exception, reaches the api-server's log)."""
    try:
        return build(_own_sessions()).model_dump_json().encode()
    except Exception as err:
        failure = portable(err)
        if failure is err:
            raise
        raise failure from err


def sentiment_weather(keyspace: str, city: str, time_range: TimeRange) -> bytes:
    """The sentiment-weather response as JSON, read and aggregated here (blocking)."""

    def build(sessions: DashboardSessions) -> BaseModel:
        tweets = queries.read_tweets(sessions, keyspace, city, time_range)
        weather = queries.read_weather(sessions, keyspace, city, time_range)
        return sentiment_against_weather(city, tweets, weather, time_range, keyspace=keyspace)

    return answer(build)


def pipeline_state_now(keyspace: str, time_range: TimeRange) -> bytes:
    """The pipeline-state response as JSON, read and aggregated here (blocking)."""

    def build(sessions: DashboardSessions) -> BaseModel:
        now = datetime.now(UTC)
        health_rows = queries.read_latest_health_check(sessions, keyspace, now)
        batches = queries.read_drain_batches(sessions, keyspace, time_range)
        return pipeline_state(health_rows, batches, time_range, now=now, keyspace=keyspace)

    return answer(build)
