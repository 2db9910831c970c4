"""Bounded Cassandra reads for the dashboard, over a session that is created lazily and recovers.

Every read names its partition: for each (city, day) or (day) partition the range touches,
one prepared ``SELECT ... WHERE <partition key> = ? AND <clustering column> >= ? AND < ?``,
run concurrently. No full-table scan, no ALLOW FILTERING, no secondary index.

The session is never opened when the plugin loads (the api-server must start, and the rest
of the Airflow UI keep working, while Cassandra is down). The first request connects with
a short timeout; the session is then reused, and dropped after a connection failure or
when the ``cassandra_default`` connection changes, so the next request reconnects.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kafkapipeline import settings
from kafkapipeline.dashboard.aggregation import TimeRange
from kafkapipeline.errors import ConfigurationError, missing_connection

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
    """One cached Cassandra session for the api-server process, rebuilt whenever it fails.

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

        hook = CassandraHook(cassandra_conn_id=self.conn_id)
        hook.cluster.connect_timeout = self.connect_timeout
        hook.cluster.control_connection_timeout = self.connect_timeout
        try:
            session = hook.get_conn()
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
                raise_on_first_error=True,
            )
            return [row for _success, result in results for row in result]
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


def _bounds(time_range: TimeRange, day: date) -> tuple[datetime, datetime]:
    """The part of the range inside one UTC day (the clustering bounds for that partition)."""
    day_start = datetime(day.year, day.month, day.day, tzinfo=time_range.start.tzinfo)
    return max(time_range.start, day_start), min(time_range.end, day_start + timedelta(days=1))


def read_tweets(sessions: DashboardSessions, keyspace: str, city: str, time_range: TimeRange) -> list[Any]:
    """Tweets of one city in the range: one bounded read per (city, day) partition."""
    cql = (
        "SELECT created_at, sentiment_score, sentiment_label "
        f"FROM {checked_keyspace(keyspace)}.tweets "
        "WHERE city = ? AND day = ? AND created_at >= ? AND created_at < ?"
    )
    return sessions.read_partitions(
        cql, [(city, day, *_bounds(time_range, day)) for day in time_range.days()]
    )


def read_weather(sessions: DashboardSessions, keyspace: str, city: str, time_range: TimeRange) -> list[Any]:
    """Weather reports of one city in the range: one bounded read per (city, day) partition."""
    cql = (
        "SELECT observed_at, temperature_c, description "
        f"FROM {checked_keyspace(keyspace)}.weather_reports "
        "WHERE city = ? AND day = ? AND observed_at >= ? AND observed_at < ?"
    )
    return sessions.read_partitions(
        cql, [(city, day, *_bounds(time_range, day)) for day in time_range.days()]
    )


def read_drain_batches(sessions: DashboardSessions, keyspace: str, time_range: TimeRange) -> list[Any]:
    """Drain micro-batches finished in the range: one bounded read per day partition."""
    cql = (
        "SELECT finished_at, topic, messages_read, rows_written, dead_lettered, lag_after, seconds "
        f"FROM {checked_keyspace(keyspace)}.drain_batches "
        "WHERE day = ? AND finished_at >= ? AND finished_at < ?"
    )
    return sessions.read_partitions(cql, [(day, *_bounds(time_range, day)) for day in time_range.days()])


def read_latest_health_check(sessions: DashboardSessions, keyspace: str, now: datetime) -> list[Any]:
    """Rows of the newest pipeline_health check, looking back a few day partitions; [] if none."""
    keyspace = checked_keyspace(keyspace)
    latest_cql = f"SELECT checked_at FROM {keyspace}.pipeline_health WHERE day = ? LIMIT 1"
    rows_cql = (
        "SELECT checked_at, metric, subject, value, status, detail "
        f"FROM {keyspace}.pipeline_health WHERE day = ? AND checked_at = ?"
    )
    today = now.date()
    for offset in range(HEALTH_LOOKBACK_DAYS + 1):
        day = today - timedelta(days=offset)
        latest = sessions.read_partitions(latest_cql, [(day,)])
        if latest:
            return sessions.read_partitions(rows_cql, [(day, latest[0].checked_at)])
    return []
