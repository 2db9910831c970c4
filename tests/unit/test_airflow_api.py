"""The REST client's polling: the first truthy answer, or a timeout that names what it waited for."""

from __future__ import annotations

import pytest

from kafkapipeline.airflow_api import wait_for


def test_wait_for_returns_the_first_truthy_answer():
    answers = iter([None, 0, "ready"])
    assert wait_for("the stack", lambda: next(answers), timeout=5, interval=0.01) == "ready"


def test_wait_for_names_what_it_waited_for_and_the_last_answer():
    with pytest.raises(TimeoutError, match=r"waiting for DAG x to be parsed \(last: False\)"):
        wait_for("DAG x to be parsed", lambda: False, timeout=0.05, interval=0.01)


def test_an_error_from_the_probe_is_not_waited_on():
    def probe():
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        wait_for("anything", probe, timeout=5, interval=0.01)
