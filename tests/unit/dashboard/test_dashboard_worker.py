"""The dashboard's worker processes: their reads' failures reach the api-server as the types it handles.

The reads run in real worker processes against a real driver (a closed port for an unreachable
Cassandra); the other failures are raised in a worker as a read would raise them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from kafkapipeline.dashboard import worker
from kafkapipeline.dashboard.admission import ReadPool
from kafkapipeline.dashboard.bounds import InvalidTimeRange, TimeRange
from kafkapipeline.dashboard.queries import (
    READ_MODULES,
    CassandraUnavailable,
    DashboardSessions,
    SchemaMissing,
)
from kafkapipeline.errors import ConfigurationError
from kafkapipeline.settings import CASSANDRA_CONN_ID, SettingsError

CLOSED_PORT_CONN = json.dumps({"conn_type": "cassandra", "host": "127.0.0.1", "port": 1})
DAY = TimeRange(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
SECONDS = 60


class Stubborn(Exception):
    """An exception pickle cannot rebuild (its constructor wants two arguments), as some libraries have."""

    def __init__(self, table: str, column: str) -> None:
        super().__init__(f"{table}.{column} is odd")


FAILURES = {
    "schema": lambda: SchemaMissing("unconfigured table tweets"),
    "range": lambda: InvalidTimeRange("start must be before end"),
    "settings": lambda: SettingsError("KAFKAPIPELINE_READ_CONSISTENCY: not a consistency level"),
    "stubborn": lambda: Stubborn("tweets", "hashtags"),
}


def failing_read(kind: str) -> bytes:
    """A read that fails with ``FAILURES[kind]`` in the worker."""

    def build(_sessions: DashboardSessions) -> BaseModel:
        raise FAILURES[kind]()

    return worker.answer(build)


@pytest.fixture
def pool():
    pool = ReadPool(lambda: 2, worker.start, (CASSANDRA_CONN_ID, 0.5, 1.0), preload=READ_MODULES)
    yield pool
    pool.close()


def test_an_unreachable_cassandra_crosses_as_itself_with_the_address(pool, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", CLOSED_PORT_CONN)
    with pytest.raises(CassandraUnavailable, match=r"unreachable at 127\.0\.0\.1:1 \(connection"):
        pool.submit(worker.sentiment_weather, "kafkapipeline", "Vancouver", DAY).result(SECONDS)
    with pytest.raises(CassandraUnavailable):  # and again: the failed session was dropped, not kept
        pool.submit(worker.pipeline_state_now, "kafkapipeline", DAY).result(SECONDS)


def test_a_missing_connection_crosses_as_a_configuration_error(pool, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", raising=False)
    with pytest.raises(
        ConfigurationError, match="set the environment variable AIRFLOW_CONN_CASSANDRA_DEFAULT"
    ):
        pool.submit(worker.pipeline_state_now, "kafkapipeline", DAY).result(SECONDS)


def test_a_keyspace_that_could_inject_cql_is_refused_in_the_worker(pool):
    with pytest.raises(ConfigurationError, match="not a valid Cassandra keyspace name"):
        pool.submit(worker.sentiment_weather, "ks; DROP TABLE x", "Vancouver", DAY).result(SECONDS)


@pytest.mark.parametrize(
    ("kind", "expected", "message"),
    [
        ("schema", SchemaMissing, "unconfigured table tweets"),
        ("range", InvalidTimeRange, "start must be before end"),
        ("settings", ConfigurationError, "KAFKAPIPELINE_READ_CONSISTENCY: not a consistency level"),
        ("stubborn", worker.ReadFailed, "Stubborn: tweets.hashtags is odd"),
    ],
)
def test_a_failure_crosses_as_the_type_its_handler_expects_and_the_pool_goes_on(
    pool, kind, expected, message
):
    with pytest.raises(expected) as raised:
        pool.submit(failing_read, kind).result(SECONDS)
    assert type(raised.value) is expected  # a subclass (SettingsError) as the handled type itself
    assert str(raised.value) == message
    assert pool.submit(str, 1).result(SECONDS) == "1"  # an unpicklable exception broke nothing
