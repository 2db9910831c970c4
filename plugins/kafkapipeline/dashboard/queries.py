"""Bounded Cassandra reads for the dashboard, over a session that is created lazily and recovers.

Every read is a prepared, LIMITed slice of one partition (no scan, no ALLOW FILTERING, no index). The
session is never opened at plugin load, so the api-server starts while Cassandra is down; it is reused,
and dropped after a failure or a change of ``cassandra_default`` so the next request reconnects.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

from kafkapipeline import settings
from kafkapipeline.dashboard.bounds import (
    DRAIN_BATCHES_TABLE,
    MAX_HEALTH_ROWS,
    CappedRows,
    HourSlice,
    TimeRange,
    rows_per_hour,
)
from kafkapipeline.errors import ConfigurationError, missing_connection
from kafkapipeline.streams.tweets import TWEETS_TABLE
from kafkapipeline.streams.weather import WEATHER_TABLE

if TYPE_CHECKING:
    from cassandra.cluster import Session
    from cassandra.query import PreparedStatement

log = logging.getLogger(__name__)

#: Seconds to wait for a TCP connection / the control connection; the page must answer fast when down.
CONNECT_TIMEOUT_SECONDS = 3.0
#: Seconds a single partition read may take.
REQUEST_TIMEOUT_SECONDS = 10.0
#: Partition reads in flight at once for one request.
READ_CONCURRENCY = 16
#: Days before today searched for the latest pipeline_health check.
HEALTH_LOOKBACK_DAYS = 2

#: What a read imports when it first runs (inside functions, so that loading the plugin stays light); the
#: dashboard's worker processes have them imported once, by the forkserver they are forked from.
READ_MODULES = (
    "airflow.providers.apache.cassandra.hooks.cassandra",
    "airflow.sdk.exceptions",
    "cassandra.cluster",
    "cassandra.concurrent",
    "kafkapipeline.cassandra.session",
)

CASSANDRA_CONN_EXAMPLE = '{"conn_type": "cassandra", "host": "127.0.0.1", "port": 9042}'


class CassandraUnavailable(RuntimeError):
    """Cassandra could not be reached or did not answer in time; the message says where it was looked for."""


class SchemaMissing(RuntimeError):
    """The keyspace or a table the dashboard reads does not exist yet."""


def checked_keyspace(name: str) -> str:
    """:func:`kafkapipeline.settings.checked_keyspace`, as the configuration error the API answers 503 to."""
    try:
        return settings.checked_keyspace(name)
    except ValueError as err:
        raise ConfigurationError(str(err)) from err


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    from cassandra import OperationTimedOut, ReadTimeout, Unavailable, UnresolvableContactPoints
    from cassandra.cluster import NoHostAvailable
    from cassandra.connection import ConnectionException

    return (
        NoHostAvailable,
        OperationTimedOut,
        ReadTimeout,
        Unavailable,
        UnresolvableContactPoints,
        ConnectionException,
        OSError,
    )


def _is_schema_error(err: BaseException) -> bool:
    from cassandra import InvalidRequest

    message = str(err).lower()
    return isinstance(err, InvalidRequest) and (
        "does not exist" in message or "unconfigured table" in message
    )


class DashboardSessions:
    """One cached Cassandra session for the process (a dashboard worker), rebuilt whenever it fails.

    :param conn_id: Airflow connection to read Cassandra's address from.
    :param connect_timeout: seconds allowed to open a connection.
    :param request_timeout: seconds allowed for one read.
    """

    def __init__(
        self,
        conn_id: str = settings.CASSANDRA_CONN_ID,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        if connect_timeout <= 0 or request_timeout <= 0:
            raise ValueError("connect_timeout and request_timeout must be positive")
        self.conn_id = conn_id
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._lock = threading.Lock()
        self._hook: Any = None
        self._session: Session | None = None
        self._fingerprint: str | None = None
        self._prepared: dict[str, PreparedStatement] = {}

    def _connection_fingerprint(self) -> tuple[str, str]:
        """A digest of the connection (to notice it changed) and a secret-free address for messages."""
        from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = CassandraHook.get_connection(self.conn_id)
        except AirflowNotFoundException as err:
            raise missing_connection(self.conn_id, CASSANDRA_CONN_EXAMPLE) from err
        digest = hashlib.sha256(conn.get_uri().encode("utf-8")).hexdigest()
        return digest, f"{conn.host}:{conn.port or 9042}"

    def session(self) -> Session:
        """The cached session, connecting first if there is none or the connection changed."""
        fingerprint, address = self._connection_fingerprint()
        with self._lock:
            if self._session is not None and not self._session.is_shutdown:
                if fingerprint == self._fingerprint:
                    return self._session
                self._shutdown_locked()
            self._session = self._connect_locked(address)
            self._fingerprint = fingerprint
            return self._session

    def _connect_locked(self, address: str) -> Session:
        from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook

        from kafkapipeline.cassandra.session import use_settings_consistency

        hook = CassandraHook(cassandra_conn_id=self.conn_id)
        hook.cluster.connect_timeout = self.connect_timeout
        hook.cluster.control_connection_timeout = self.connect_timeout
        try:
            session = use_settings_consistency(hook.get_conn())  # KAFKAPIPELINE_READ_CONSISTENCY
        except _unavailable_errors() as err:
            hook.shutdown_cluster()
            raise CassandraUnavailable(
                f"Cassandra is unreachable at {address} (connection '{self.conn_id}'): {err}"
            ) from err
        except BaseException:
            hook.shutdown_cluster()
            raise
        session.default_timeout = self.request_timeout
        self._hook = hook
        log.info("Dashboard connected to Cassandra at %s", address)
        return session

    def prepared(self, session: Session, cql: str) -> PreparedStatement:
        """A prepared statement for ``cql`` on ``session``, prepared once per session."""
        with self._lock:
            statement = self._prepared.get(cql) if session is self._session else None
        if statement is None:
            statement = session.prepare(cql)
            with self._lock:
                if session is self._session:  # not cached for a session replaced meanwhile
                    self._prepared[cql] = statement
        return statement

    def invalidate(self) -> None:
        """Forget the session after a failure; the next request connects again."""
        with self._lock:
            self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        hook, self._hook, self._session, self._fingerprint = self._hook, None, None, None
        self._prepared.clear()
        if hook is not None:
            try:
                hook.shutdown_cluster()
            except Exception:  # a cluster that is already broken may fail to shut down cleanly
                log.warning("Dashboard: shutting down the Cassandra cluster failed", exc_info=True)

    def close(self) -> None:
        self.invalidate()

    def read_partitions(self, cql: str, parameters: Sequence[Sequence[Any]]) -> list[Any]:
        """Run the prepared ``cql`` once per parameter tuple, concurrently, and return all rows."""
        return [row for rows in self.read_each(cql, parameters) for row in rows]

    @overload
    def read_each(
        self, cql: str, parameters: Sequence[Sequence[Any]], *, best_effort: Literal[False] = False
    ) -> list[list[Any]]: ...
    @overload
    def read_each(
        self, cql: str, parameters: Sequence[Sequence[Any]], *, best_effort: bool
    ) -> list[list[Any] | None]: ...
    def read_each(
        self, cql: str, parameters: Sequence[Sequence[Any]], *, best_effort: bool = False
    ) -> list[list[Any] | None] | list[list[Any]]:
        """The rows of the prepared ``cql`` per parameter tuple, in order, read concurrently.

        ``best_effort``: a read that fails gives None instead of failing the request (for the
        counts of truncated hours, which may time out on a huge partition).
        """
        from cassandra.concurrent import execute_concurrent_with_args

        if not parameters:
            return []
        try:
            session = self.session()
            results = execute_concurrent_with_args(
                session,
                self.prepared(session, cql),
                parameters,
                concurrency=min(READ_CONCURRENCY, len(parameters)),
                raise_on_first_error=not best_effort,
            )
            if best_effort:
                for success, result in results:
                    if not success:
                        log.warning("Dashboard: a best-effort read failed: %s", result)
                return [list(result) if success else None for success, result in results]
            return [list(result) for _success, result in results]
        except (CassandraUnavailable, ConfigurationError):
            raise
        except Exception as err:
            if _is_schema_error(err):
                raise SchemaMissing(
                    f"{err}. The pipeline's tables do not exist in this keyspace yet: "
                    "trigger the 'bootstrap' DAG, which applies the CQL migrations."
                ) from err
            if isinstance(err, _unavailable_errors()):
                self.invalidate()
                raise CassandraUnavailable(f"Cassandra did not answer the dashboard's read: {err}") from err
            raise


def read_capped(
    sessions: DashboardSessions,
    table: str,
    *,
    keyspace: str,
    columns: str,
    key: dict[str, Any],
    clustering: str,
    time_range: TimeRange,
) -> CappedRows:
    """``columns`` of ``table`` in the range, at most ``rows_per_hour`` rows from each UTC hour.

    ``key`` names the partition key columns other than ``day``. A day partition is read once with LIMIT,
    and hour by hour only when it holds more than its share; hours that fill their LIMIT are counted
    (best effort: None when the count fails) and returned as capped.
    """
    keyspace = checked_keyspace(keyspace)
    where = " AND ".join([*(f"{column} = ?" for column in key), "day = ?"])
    where += f" AND {clustering} >= ? AND {clustering} < ?"
    select = f"SELECT {columns} FROM {keyspace}.{table} WHERE {where} LIMIT ?"
    slices = time_range.hour_slices()
    limit = rows_per_hour(table, len(slices))
    days: dict[Any, list[HourSlice]] = {}
    for part in slices:
        days.setdefault(part.day, []).append(part)
    day_results = sessions.read_each(
        select,
        [
            (*key.values(), day, parts[0].start, parts[-1].end, limit * len(parts) + 1)
            for day, parts in days.items()
        ],
    )
    rows: list[Any] = []
    crowded: list[HourSlice] = []
    for parts, result in zip(days.values(), day_results, strict=True):
        if len(result or ()) <= limit * len(parts):
            rows.extend(result or ())
        else:
            crowded.extend(parts)
    hour_results = sessions.read_each(
        select, [(*key.values(), part.day, part.start, part.end, limit) for part in crowded]
    )
    rows.extend(row for result in hour_results for row in result or ())
    full = [part for part, result in zip(crowded, hour_results, strict=True) if len(result or ()) >= limit]
    counts = sessions.read_each(
        f"SELECT count(*) FROM {keyspace}.{table} WHERE {where}",
        [(*key.values(), part.day, part.start, part.end) for part in full],
        best_effort=True,
    )
    capped: dict[Any, int | None] = {}
    for part, counted in zip(full, counts, strict=True):
        stored = int(counted[0][0]) if counted else None
        if stored is None or stored > limit:  # exactly `limit` rows stored is not truncated
            capped[part.hour] = stored
    return CappedRows(rows, limit, capped)


def read_tweets(sessions: DashboardSessions, keyspace: str, city: str, time_range: TimeRange) -> CappedRows:
    """Tweets of one city in the range: bounded reads per (city, day) partition and hour."""
    return read_capped(
        sessions,
        TWEETS_TABLE.name,
        keyspace=keyspace,
        columns=f"{TWEETS_TABLE.time_column}, sentiment_score, sentiment_label, sentiment_model, "
        "sentiment_model_version, hashtags",
        key={"city": city},
        clustering=TWEETS_TABLE.time_column,
        time_range=time_range,
    )


def read_weather(sessions: DashboardSessions, keyspace: str, city: str, time_range: TimeRange) -> CappedRows:
    """Weather reports of one city in the range: bounded reads per (city, day) partition and hour."""
    return read_capped(
        sessions,
        WEATHER_TABLE.name,
        keyspace=keyspace,
        columns=f"{WEATHER_TABLE.time_column}, temperature_c, description",
        key={"city": city},
        clustering=WEATHER_TABLE.time_column,
        time_range=time_range,
    )


def read_drain_batches(sessions: DashboardSessions, keyspace: str, time_range: TimeRange) -> CappedRows:
    """Drain micro-batches finished in the range: bounded reads per day partition and hour."""
    return read_capped(
        sessions,
        DRAIN_BATCHES_TABLE,
        keyspace=keyspace,
        columns="finished_at, topic, messages_read, rows_written, dead_lettered, lag_after, seconds",
        key={},
        clustering="finished_at",
        time_range=time_range,
    )


def read_latest_health_check(sessions: DashboardSessions, keyspace: str, now: datetime) -> list[Any]:
    """Rows of the newest pipeline_health check, looking back a few day partitions; [] if none."""
    keyspace = checked_keyspace(keyspace)
    latest_cql = f"SELECT checked_at FROM {keyspace}.pipeline_health WHERE day = ? LIMIT 1"
    rows_cql = (
        "SELECT checked_at, metric, subject, value, status, detail "
        f"FROM {keyspace}.pipeline_health WHERE day = ? AND checked_at = ? LIMIT {MAX_HEALTH_ROWS:d}"
    )
    today = now.date()
    for offset in range(HEALTH_LOOKBACK_DAYS + 1):
        day = today - timedelta(days=offset)
        latest = sessions.read_partitions(latest_cql, [(day,)])
        if latest:
            return sessions.read_partitions(rows_cql, [(day, latest[0].checked_at)])
    return []
