"""A Cassandra session from the ``cassandra_default`` connection that is always shut down.

``CassandraHook`` reads its connection in ``__init__``, so it must only be created inside
a task; this module is the one place that does it. Its sessions read at
``KAFKAPIPELINE_READ_CONSISTENCY`` by default (the driver's own default, LOCAL_ONE, can miss a
write a quorum acknowledged); writes name ``write_consistency()`` on their statements.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowNotFoundException
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, Session
from cassandra.policies import TokenAwarePolicy

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import read_consistency
from kafkapipeline.errors import missing_connection

CASSANDRA_CONN_EXAMPLE = json.dumps({"conn_type": "cassandra", "host": "127.0.0.1", "port": 9042})


def use_settings_consistency(session: Session) -> Session:
    """Make ``KAFKAPIPELINE_READ_CONSISTENCY`` the default level of ``session``'s statements.

    The driver reads that default from the default execution profile (a cluster built with
    profiles) or from the session (one built with legacy parameters, as the hook's is: it always
    passes a load-balancing policy). Both are set: a profile-mode cluster refuses the legacy
    setter with ``ValueError`` and reads its own profile; any other cluster reads the session's.
    """
    level = read_consistency()
    session.get_execution_profile(EXEC_PROFILE_DEFAULT).consistency_level = level
    with warnings.catch_warnings():  # the legacy setter is deprecated, but it is that mode's only one
        warnings.simplefilter("ignore", DeprecationWarning)
        with contextlib.suppress(ValueError):
            session.default_consistency_level = level
    return session


def skip_schema_metadata(cluster: Cluster) -> None:
    """Connect ``cluster`` without reading the schema into the driver's metadata.

    A session that only runs statements needs none of it, and reading it is a good part of a
    connect's time and Cassandra CPU (docs/benchmarks.md). Kept when the connection routes by token
    (``TokenAwarePolicy`` needs the keyspaces' replication) and for DDL, where the driver only
    reports schema agreement after refreshing that metadata.
    """
    if not isinstance(cluster.load_balancing_policy, TokenAwarePolicy):
        cluster.schema_metadata_enabled = False
        cluster.token_metadata_enabled = False


@contextmanager
def cassandra_session(
    conn_id: str = settings.CASSANDRA_CONN_ID, *, schema_metadata: bool = True
) -> Iterator[Session]:
    """Yield a connected session; the cluster is shut down on exit, whatever happens.

    :param conn_id: the Cassandra connection
    :param schema_metadata: False for a session that runs no DDL and reads no ``cluster.metadata``
        keyspaces (:func:`skip_schema_metadata`)
    """
    from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook

    try:
        hook = CassandraHook(cassandra_conn_id=conn_id)
    except AirflowNotFoundException as err:
        raise missing_connection(conn_id, CASSANDRA_CONN_EXAMPLE) from err
    if not schema_metadata:
        skip_schema_metadata(hook.get_cluster())
    try:
        yield use_settings_consistency(hook.get_conn())
    finally:
        hook.shutdown_cluster()
