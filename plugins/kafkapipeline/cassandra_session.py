"""A Cassandra session from the ``cassandra_default`` connection that is always shut down.

``CassandraHook`` reads its connection in ``__init__``, so it must only be created inside
a task; this module is the one place that does it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowNotFoundException
from cassandra.cluster import Session

from kafkapipeline import settings
from kafkapipeline.errors import missing_connection

CASSANDRA_CONN_EXAMPLE = json.dumps({"conn_type": "cassandra", "host": "127.0.0.1", "port": 9042})


@contextmanager
def cassandra_session(conn_id: str = settings.CASSANDRA_CONN_ID) -> Iterator[Session]:
    """Yield a connected session; the cluster is shut down on exit, whatever happens."""
    from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook

    try:
        hook = CassandraHook(cassandra_conn_id=conn_id)
    except AirflowNotFoundException as err:
        raise missing_connection(conn_id, CASSANDRA_CONN_EXAMPLE) from err
    try:
        yield hook.get_conn()
    finally:
        hook.shutdown_cluster()
