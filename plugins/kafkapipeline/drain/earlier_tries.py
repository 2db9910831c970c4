"""What a drain's retry writes in its log about the tries before it: killed by which signal, or lost.

Airflow's own entry in a killed try's log says "Likely out of memory error (OOM)" for any SIGKILL,
and nothing runs when the process dies (:mod:`kafkapipeline.runtime.try_endings`). So the next try
says it: at its start it reads the earlier tries through the REST API (the ``airflow_api_default``
connection), in a thread of its own so the batch does not wait for the api-server, and logs one
line per try, e.g. ``try 1 was killed by signal 9 (SIGKILL); ...; nothing it read was committed,
this try reads it again``. Only tries after the first look; a try the api-server cannot tell about
logs why, and drains all the same.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kafkapipeline.airflow_api import AirflowApi
from kafkapipeline.health.dag_runs import connect_from_connection
from kafkapipeline.runtime.try_endings import earlier_try_endings

log = logging.getLogger(__name__)

#: Longest the drain waits at its end for the lines about the earlier tries, once it has drained.
JOIN_SECONDS = 5.0
#: What the drain's contract adds to each earlier try that did not commit.
NOT_COMMITTED = "nothing it read was committed, this try reads it again"


def report_earlier_tries(ti: Any, connect_api: Callable[[], AirflowApi] = connect_from_connection) -> None:
    """Log how each earlier try of ``ti`` (the Task SDK's task instance) ended; never raises."""
    where = f"{ti.dag_id}.{ti.task_id}" + (f"[{ti.map_index}]" if ti.map_index >= 0 else "")
    try:
        api = connect_api()
        try:
            endings = earlier_try_endings(
                api, ti.dag_id, ti.run_id, ti.task_id, map_index=ti.map_index, before=ti.try_number
            )
        finally:
            api.close()
    except Exception as err:  # the batch matters more than this line
        log.warning(
            "Try %d of %s: could not read how the earlier tries ended: %s: %s",
            ti.try_number,
            where,
            type(err).__name__,
            err,
        )
        return
    for ending in endings:
        log.warning("Try %d of %s: %s; %s", ti.try_number, where, ending.describe(), NOT_COMMITTED)


def start_reporting(
    ti: Any, connect_api: Callable[[], AirflowApi] = connect_from_connection
) -> threading.Thread | None:
    """Start :func:`report_earlier_tries` in a daemon thread when ``ti`` is a retry; the thread, or None."""
    if ti is None or int(getattr(ti, "try_number", 1) or 1) <= 1:
        return None
    reporter = threading.Thread(
        target=report_earlier_tries, args=(ti, connect_api), name="earlier-tries", daemon=True
    )
    reporter.start()
    return reporter
