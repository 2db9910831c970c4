"""How earlier tries ended, read from the REST API's tries, task logs and audit log (answers mocked by
``responses`` with the shapes Airflow 3.3's api-server sends)."""

from __future__ import annotations

import pytest
import responses

from kafkapipeline.airflow_api import AirflowApi
from kafkapipeline.runtime.try_endings import (
    HEARTBEAT_TIMEOUT_EVENT,
    TryEnding,
    earlier_try_endings,
    signal_in_log,
)

BASE = "http://airflow.test:8080"
RUN = "manual__2026-11-23T09:00:00+00:00_ab12cd"
TI_URL = (
    f"{BASE}/api/v2/dags/drain_tweets/dagRuns/manual__2026-11-23T09%3A00%3A00%2B00%3A00_ab12cd/taskInstances"
)
#: The entry Airflow 3.3's supervisor writes into the log of a try whose process a signal killed.
SUPERVISOR_SIGKILL = {
    "timestamp": "2026-11-23T09:01:02.345678Z",
    "event": "Process terminated by signal. Likely out of memory error (OOM). For more information, see "
    "https://airflow.apache.org/docs/apache-airflow/stable/troubleshooting.html#process-terminated-by-signal.",
    "level": "critical",
    "logger": "task",
    "signal": -9,
    "signal_name": "SIGKILL",
}
DRAIN_LINE = {"timestamp": "2026-11-23T09:01:00Z", "event": "Draining tweets", "level": "info"}


def test_the_supervisors_entry_names_the_signal():
    assert signal_in_log([DRAIN_LINE, SUPERVISOR_SIGKILL]) == (9, "SIGKILL")
    assert signal_in_log(
        [{"event": "Process terminated by signal.", "signal": -15, "signal_name": "SIGTERM"}]
    ) == (
        15,
        "SIGTERM",
    )


def test_an_unparsed_log_line_still_names_the_signal():
    line = (
        "[critical] Process terminated by signal. Likely out of memory error (OOM). "
        + "signal=-9 signal_name=SIGKILL"
    )
    assert signal_in_log(["[info] Draining tweets", line]) == (9, "SIGKILL")


def test_a_log_without_the_supervisors_entry_names_no_signal():
    assert signal_in_log([DRAIN_LINE, {"event": "Task failed with exception", "error_detail": []}]) is None
    assert signal_in_log(["signal handlers installed"]) is None


def test_a_sigkill_is_not_called_out_of_memory():
    text = TryEnding(1, "up_for_retry", 9, "SIGKILL").describe()
    assert text.startswith("try 1 was killed by signal 9 (SIGKILL)")
    assert "guesses 'Likely out of memory error (OOM)' for any SIGKILL" in text
    assert TryEnding(2, "failed", 15, "SIGTERM").describe() == "try 2 was killed by signal 15 (SIGTERM)"
    assert "heartbeat" in TryEnding(1, "failed", heartbeat_timeout=True).describe()
    assert TryEnding(1, "failed").describe() == "try 1 ended failed with an error of its own (see its log)"
    assert not TryEnding(1, "failed").killed and TryEnding(1, "failed", heartbeat_timeout=True).killed


def tries(*states: str) -> dict:
    return {
        "task_instances": [
            {"task_id": "drain", "dag_run_id": RUN, "map_index": 0, "try_number": n, "state": state}
            for n, state in enumerate(states, start=1)
        ],
        "total_entries": len(states),
    }


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def test_each_earlier_try_from_its_log_and_the_audit_log(api):
    api.get(f"{TI_URL}/drain/0/tries", json=tries("up_for_retry", "failed", "running"))
    api.get(
        f"{BASE}/api/v2/eventLogs",
        json={"event_logs": [{"event": HEARTBEAT_TIMEOUT_EVENT, "try_number": 2}], "total_entries": 1},
    )
    api.get(
        f"{TI_URL}/drain/logs/1",
        json={"content": [DRAIN_LINE, SUPERVISOR_SIGKILL], "continuation_token": None},
    )
    api.get(f"{TI_URL}/drain/logs/2", json={"content": [DRAIN_LINE], "continuation_token": None})

    endings = earlier_try_endings(AirflowApi(BASE), "drain_tweets", RUN, "drain", map_index=0, before=3)

    assert endings == [
        TryEnding(1, "up_for_retry", 9, "SIGKILL"),
        TryEnding(2, "failed", heartbeat_timeout=True),
    ]
    audit = next(c.request for c in api.calls if "/eventLogs" in c.request.url)
    assert f"event={HEARTBEAT_TIMEOUT_EVENT.replace(' ', '+')}" in audit.url and "try_number" not in audit.url
    logs = [c.request for c in api.calls if "/logs/" in c.request.url]
    assert all(r.headers["Accept"] == "application/json" and "map_index=0" in r.url for r in logs)


def test_a_first_try_that_succeeded_has_nothing_to_read(api):
    api.get(f"{TI_URL}/drain/tries", json=tries("success"))
    assert earlier_try_endings(AirflowApi(BASE), "drain_tweets", RUN, "drain", map_index=-1, before=2) == []
