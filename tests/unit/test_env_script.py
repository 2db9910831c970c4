"""scripts/env.sh is sourced by the Makefile, the run command and the tests, sometimes twice."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ENV_SH = Path(__file__).resolve().parents[2] / "scripts" / "env.sh"


def _environment(script: str = f". {ENV_SH}", extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment after running ``script`` in a clean one (plus ``extra_env``)."""
    out = subprocess.run(
        ["bash", "-c", f"{script}; env -0"],
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", **(extra_env or {})},
    ).stdout.decode()
    return dict(item.partition("=")[::2] for item in out.split("\0") if item)


def _connections(script: str, extra_env: dict[str, str] | None = None) -> dict[str, dict]:
    env = _environment(script, extra_env)
    return {key: json.loads(value) for key, value in env.items() if key.startswith("AIRFLOW_CONN_")}


def test_connections_are_valid_json_when_sourced_twice():
    once = _connections(f". {ENV_SH}")
    twice = _connections(f". {ENV_SH}; . {ENV_SH}")
    assert once == twice
    assert once["AIRFLOW_CONN_KAFKA_DEFAULT"]["extra"]["bootstrap.servers"] == "127.0.0.1:9092"
    assert once["AIRFLOW_CONN_CASSANDRA_DEFAULT"]["port"] == 9042


def test_caller_settings_win():
    conns = _connections(f". {ENV_SH}", {"KAFKA_PORT": "19092", "CASSANDRA_PORT": "19042"})
    assert conns["AIRFLOW_CONN_KAFKA_DEFAULT"]["extra"]["bootstrap.servers"] == "127.0.0.1:19092"
    assert conns["AIRFLOW_CONN_CASSANDRA_DEFAULT"]["port"] == 19042


def test_the_embedded_sqlite_database_waits_for_its_lock_and_postgres_is_left_alone():
    sqlite = _environment()
    assert (
        sqlite["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"]
        == "kafkapipeline.airflow_db.SQLITE_CONNECT_ARGS"
    )
    from kafkapipeline import airflow_db  # the dotted paths resolve to real dicts

    assert airflow_db.SQLITE_CONNECT_ARGS["timeout"] >= 30
    assert sqlite["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC"].endswith("SQLITE_CONNECT_ARGS_ASYNC")

    postgres = _environment(
        extra_env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:x@postgres/airflow"}
    )
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in postgres
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC" not in postgres
