"""A drain's retry says in its log how the tries before it ended (the api-server mocked by ``responses``)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import responses

from kafkapipeline.airflow_api import AirflowApi
from kafkapipeline.drain.earlier_tries import NOT_COMMITTED, report_earlier_tries, start_reporting
from kafkapipeline.health.dag_runs import AirflowApiUnavailable

BASE = "http://airflow.test:8080"
TIS = f"{BASE}/api/v2/dags/drain_tweets/dagRuns/manual__1/taskInstances"


def ti(try_number: int, map_index: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        dag_id="drain_tweets", run_id="manual__1", task_id="drain", map_index=map_index, try_number=try_number
    )


def test_the_retry_names_the_signal_that_killed_the_try_before(caplog):
    with responses.RequestsMock() as api:
        api.get(
            f"{TIS}/drain/0/tries",
            json={
                "task_instances": [
                    {"try_number": 1, "state": "up_for_retry"},
                    {"try_number": 2, "state": "running"},
                ]
            },
        )
        api.get(f"{BASE}/api/v2/eventLogs", json={"event_logs": [], "total_entries": 0})
        api.get(
            f"{TIS}/drain/logs/1",
            json={
                "content": [
                    {"event": "Process terminated by signal.", "signal": -9, "signal_name": "SIGKILL"}
                ]
            },
        )
        with caplog.at_level(logging.WARNING, logger="kafkapipeline.drain.earlier_tries"):
            report_earlier_tries(ti(2), lambda: AirflowApi(BASE))
    [line] = caplog.messages
    assert line.startswith("Try 2 of drain_tweets.drain[0]: try 1 was killed by signal 9 (SIGKILL); ")
    assert line.endswith(NOT_COMMITTED)


def test_an_api_server_it_cannot_ask_is_one_warning_not_a_failure(caplog):
    def unavailable() -> AirflowApi:
        raise AirflowApiUnavailable("the Airflow connection 'airflow_api_default' is not set")

    with caplog.at_level(logging.WARNING, logger="kafkapipeline.drain.earlier_tries"):
        report_earlier_tries(ti(3, map_index=-1), unavailable)
    assert caplog.messages == [
        "Try 3 of drain_tweets.drain: could not read how the earlier tries ended: AirflowApiUnavailable: "
        "the Airflow connection 'airflow_api_default' is not set"
    ]


@pytest.mark.parametrize("first", [None, ti(1)])
def test_a_first_try_asks_nothing(first):
    def refuse() -> AirflowApi:
        raise AssertionError("a first try must not ask the api-server")

    assert start_reporting(first, refuse) is None


def test_a_retry_reports_in_a_thread_of_its_own(caplog):
    asked = []

    def unavailable() -> AirflowApi:
        asked.append(True)
        raise AirflowApiUnavailable("down")

    reporter = start_reporting(ti(2), unavailable)
    assert reporter is not None and reporter.daemon
    reporter.join(5)
    assert asked == [True] and not reporter.is_alive()
