"""The one ``env_int`` of scripts/services and scripts/airflow-components: default, range, refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from services_lib.common import ServiceError, env_int, env_port  # noqa: E402


def test_unset_or_empty_is_the_default_and_a_number_is_read(monkeypatch):
    monkeypatch.delenv("KP_TEST_INT", raising=False)
    assert env_int("KP_TEST_INT", 7) == 7
    monkeypatch.setenv("KP_TEST_INT", "")
    assert env_int("KP_TEST_INT", 7) == 7
    monkeypatch.setenv("KP_TEST_INT", "12")
    assert env_int("KP_TEST_INT", 7) == 12


@pytest.mark.parametrize("raw", ["x", "1.5", "-1"])
def test_anything_else_names_the_variable_and_the_range(monkeypatch, raw):
    monkeypatch.setenv("KP_TEST_INT", raw)
    with pytest.raises(ServiceError, match=rf"^KP_TEST_INT='{raw}' is not a whole number >= 0$"):
        env_int("KP_TEST_INT", 7)


@pytest.mark.parametrize("raw", ["0", "65536", "http"])
def test_a_port_is_1_to_65535(monkeypatch, raw):
    monkeypatch.setenv("KP_TEST_PORT", raw)
    with pytest.raises(ServiceError, match=r"is not a whole number 1\.\.65535"):
        env_port("KP_TEST_PORT", 9092)
    monkeypatch.setenv("KP_TEST_PORT", "65535")
    assert env_port("KP_TEST_PORT", 9092) == 65535


def test_airflow_components_refuses_a_bad_number_the_same_way(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path), "AIRFLOW_COMPONENTS_STOP_TIMEOUT": "soon"}
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "airflow-components"), "stop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "ERROR: AIRFLOW_COMPONENTS_STOP_TIMEOUT='soon' is not a whole number >= 0" in done.stderr
