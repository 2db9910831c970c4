"""Settings for Airflow's own metadata database when it is SQLite (``KAFKAPIPELINE_METADATA_DB=sqlite``).

SQLite lets one writer in at a time, and at the driver's default busy timeout Airflow's components writing
at once fail with ``database is locked``; ``scripts/env.sh`` points ``sql_alchemy_connect_args`` here, so
writers queue longer.
"""

from __future__ import annotations

#: Keyword arguments for ``sqlite3.connect`` (seconds to wait for a lock). Airflow adds to the
#: dict it is given, so the async engine gets a dict of its own.
SQLITE_CONNECT_ARGS: dict[str, object] = {"timeout": 30}
#: The same for ``aiosqlite.connect``, which hands them to ``sqlite3.connect``.
SQLITE_CONNECT_ARGS_ASYNC: dict[str, object] = {"timeout": 30}
