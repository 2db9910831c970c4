"""Settings for Airflow's own metadata database when it is SQLite (``KAFKAPIPELINE_METADATA_DB=sqlite``).

The default is the local Postgres of ``scripts/services``, which needs none of this.

SQLite lets one writer in at a time; the others wait up to the driver's busy timeout, 5 s by
default. On a 2-core machine the scheduler, dag-processor, triggerer and api-server writing
at once (a restart with every DAG unpaused starts a burst of runs) exceed that, and the loser
gets ``database is locked``: a 500 in the UI, a failed task state update. ``scripts/env.sh``
points ``[database] sql_alchemy_connect_args`` (and its async twin) here, only while the
metadata database is SQLite, so writers queue for up to 30 s instead.
"""

from __future__ import annotations

#: Keyword arguments for ``sqlite3.connect`` (seconds to wait for a lock). Airflow adds to the
#: dict it is given, so the async engine gets a dict of its own.
SQLITE_CONNECT_ARGS: dict[str, object] = {"timeout": 30}
#: The same for ``aiosqlite.connect``, which hands them to ``sqlite3.connect``.
SQLITE_CONNECT_ARGS_ASYNC: dict[str, object] = {"timeout": 30}
