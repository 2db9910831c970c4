"""scripts/env.sh is sourced by the Makefile, the run command and the tests, sometimes twice."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[3]
ENV_SH = REPO / "scripts" / "env.sh"


@pytest.fixture
def state(tmp_path) -> Path:
    """Each test sources env.sh against its own state folder (env.sh may write secrets there)."""
    return tmp_path / "state"


def _environment(
    state: Path, script: str = f". {ENV_SH}", extra_env: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment after running ``script`` in a clean one (plus ``extra_env``)."""
    out = subprocess.run(
        ["bash", "-c", f"{script}; env -0"],
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "KAFKAPIPELINE_STATE": str(state), **(extra_env or {})},
    ).stdout.decode()
    return dict(item.partition("=")[::2] for item in out.split("\0") if item)


def _connections(state: Path, script: str, extra_env: dict[str, str] | None = None) -> dict[str, dict]:
    env = _environment(state, script, extra_env)
    return {key: json.loads(value) for key, value in env.items() if key.startswith("AIRFLOW_CONN_")}


def test_connections_are_valid_json_when_sourced_twice(state):
    once = _connections(state, f". {ENV_SH}")
    twice = _connections(state, f". {ENV_SH}; . {ENV_SH}")
    assert once == twice
    assert once["AIRFLOW_CONN_KAFKA_DEFAULT"]["extra"]["bootstrap.servers"] == "127.0.0.1:9092"
    assert once["AIRFLOW_CONN_CASSANDRA_DEFAULT"]["port"] == 9042


def test_caller_settings_win(state):
    conns = _connections(state, f". {ENV_SH}", {"KAFKA_PORT": "19092", "CASSANDRA_PORT": "19042"})
    assert conns["AIRFLOW_CONN_KAFKA_DEFAULT"]["extra"]["bootstrap.servers"] == "127.0.0.1:19092"
    assert conns["AIRFLOW_CONN_CASSANDRA_DEFAULT"]["port"] == 19042


def test_metadata_database_is_the_local_postgres_with_the_password_from_the_state_folder(state):
    env = _environment(state, f". {ENV_SH}; . {ENV_SH}")
    url = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (url.scheme, url.username, url.hostname, url.port, url.path) == (
        "postgresql+psycopg2",
        "airflow",
        "127.0.0.1",
        5432,
        "/airflow",
    )
    secret_file = state / "secrets" / "postgres.password"
    assert url.password == secret_file.read_text().strip()
    assert len(url.password) >= 32
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert (state / "secrets").stat().st_mode & 0o777 == 0o700
    # The SQLite lock workaround is for SQLite only.
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in env
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC" not in env
    # Helpers and the plain password do not leak into the caller's environment.
    assert not [key for key, value in env.items() if value == url.password]


def test_env_sh_and_scripts_services_agree_on_the_passwords(state):
    """Whichever runs first creates the file; the other reads the same value."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from services_lib.common import secret
    finally:
        sys.path.remove(str(REPO / "scripts"))
    redis_first = secret(state, "redis", "KAFKAPIPELINE_REDIS_PASSWORD")
    env = _environment(state, extra_env={"POSTGRES_PORT": "15432", "REDIS_PORT": "16379"})
    postgres_after = secret(state, "postgres", "KAFKAPIPELINE_POSTGRES_PASSWORD")
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).password == redis_first
    assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).password == postgres_after
    assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).port == 15432
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).port == 16379


def test_passwords_from_the_environment_win_and_write_no_file(state):
    env = _environment(
        state,
        extra_env={
            "KAFKAPIPELINE_POSTGRES_PASSWORD": "pg-from-the-user-1",
            "KAFKAPIPELINE_REDIS_PASSWORD": "redis-from-the-user-1",
            "KAFKAPIPELINE_CASSANDRA_PASSWORD": "cassandra-from-the-user-1",
            **{f"KAFKAPIPELINE_KAFKA_{role}_PASSWORD": f"kafka-{role}-1" for role in KAFKA_ROLES},
        },
    )
    assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).password == "pg-from-the-user-1"
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).password == "redis-from-the-user-1"
    assert json.loads(env["AIRFLOW_CONN_CASSANDRA_DEFAULT"])["password"] == "cassandra-from-the-user-1"
    assert json.loads(env["AIRFLOW_CONN_KAFKA_DRAIN"])["extra"]["sasl.password"] == "kafka-DRAIN-1"
    assert not (state / "secrets").exists()


KAFKA_ROLES = ("PIPELINE", "INGEST", "DRAIN", "REPLAY", "HEALTH")


def test_every_kafka_role_gets_its_own_scram_login(state):
    env = _environment(state)
    logins = {}
    for role in KAFKA_ROLES:
        name = "AIRFLOW_CONN_KAFKA_DEFAULT" if role == "PIPELINE" else f"AIRFLOW_CONN_KAFKA_{role}"
        extra = json.loads(env[name])["extra"]
        assert (extra["security.protocol"], extra["sasl.mechanism"]) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
        assert extra["sasl.password"] == (state / "secrets" / f"kafka-{role.lower()}.password").read_text()
        logins[extra["sasl.username"]] = extra["sasl.password"]
    assert sorted(logins) == sorted(f"kafkapipeline-{role.lower()}" for role in KAFKA_ROLES)
    assert len(set(logins.values())) == len(KAFKA_ROLES)  # one password each
    assert stat.S_IMODE((state / "secrets" / "kafka-drain.password").stat().st_mode) == 0o600


def test_a_kafka_default_of_your_own_sets_no_role_connections(state):
    own = json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": "broker.example:9092"}})
    env = _environment(state, extra_env={"AIRFLOW_CONN_KAFKA_DEFAULT": own})
    assert env["AIRFLOW_CONN_KAFKA_DEFAULT"] == own
    assert "AIRFLOW_CONN_KAFKA_DRAIN" not in env  # the roles fall back to yours, not to the local broker


def test_sqlite_on_request_waits_for_its_lock(state):
    sqlite = _environment(state, extra_env={"KAFKAPIPELINE_METADATA_DB": "sqlite"})
    assert sqlite["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{state}/airflow/airflow.db"
    assert (
        sqlite["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"]
        == "kafkapipeline.runtime.airflow_db.SQLITE_CONNECT_ARGS"
    )
    from kafkapipeline.runtime import airflow_db  # the dotted paths resolve to real dicts

    assert airflow_db.SQLITE_CONNECT_ARGS["timeout"] >= 30
    assert sqlite["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC"].endswith("SQLITE_CONNECT_ARGS_ASYNC")


def test_a_connection_string_of_the_users_own_wins(state):
    own = "postgresql+psycopg2://me:x@db.example/airflow"
    env = _environment(state, extra_env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": own})
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == own
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in env


def test_executor_is_celery_by_default_and_local_on_request_or_on_sqlite(state):
    assert _environment(state)["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    local = _environment(state, extra_env={"KAFKAPIPELINE_EXECUTOR": "local"})
    assert local["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    # SQLite takes one writer at a time: always the LocalExecutor, whatever was asked.
    sqlite = _environment(
        state, extra_env={"KAFKAPIPELINE_METADATA_DB": "sqlite", "KAFKAPIPELINE_EXECUTOR": "celery"}
    )
    assert (sqlite["AIRFLOW__CORE__EXECUTOR"], sqlite["KAFKAPIPELINE_EXECUTOR"]) == ("LocalExecutor", "local")
    own = _environment(state, extra_env={"AIRFLOW__CORE__EXECUTOR": "KubernetesExecutor"})
    assert own["AIRFLOW__CORE__EXECUTOR"] == "KubernetesExecutor"


def test_an_unknown_executor_setting_is_named(state):
    out = subprocess.run(
        ["bash", "-c", f". {ENV_SH}"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "KAFKAPIPELINE_STATE": str(state), "KAFKAPIPELINE_EXECUTOR": "dask"},
    )
    assert "KAFKAPIPELINE_EXECUTOR must be celery or local, not 'dask'" in out.stderr


def test_celery_provider_reads_the_settings(state):
    """The Celery provider's own config builder sees what env.sh sets, under the names it reads."""
    env = _environment(state, extra_env={"HOME": str(state), "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"})
    probe = (
        "import json; from airflow.configuration import conf;"
        "from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG as c;"
        "print(json.dumps({k: c[k] for k in ('broker_url', 'result_backend', 'task_acks_late',"
        " 'worker_prefetch_multiplier', 'broker_transport_options', 'worker_concurrency')} | {"
        "'heartbeat_timeout': conf.getint('scheduler', 'task_instance_heartbeat_timeout'),"
        "'detection': conf.getfloat('scheduler', 'task_instance_heartbeat_timeout_detection_interval'),"
        "'min_heartbeat': conf.getint('workers', 'min_heartbeat_interval')}))"
    )
    python = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "python"
    out = subprocess.run(
        [str(python), "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    config = json.loads(out.strip().splitlines()[-1])
    redis_password = (state / "secrets" / "redis.password").read_text().strip()
    postgres_password = (state / "secrets" / "postgres.password").read_text().strip()
    assert config["broker_url"] == f"redis://:{redis_password}@127.0.0.1:6379/0"
    assert config["result_backend"] == (
        f"db+postgresql+psycopg2://airflow:{postgres_password}@127.0.0.1:5432/airflow"
    )
    assert config["task_acks_late"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["worker_concurrency"] == 4
    # Redelivery of an unacknowledged message in minutes, not the provider's 24 h ...
    assert config["broker_transport_options"]["visibility_timeout"] == 900
    # ... and a task whose worker died is failed or retried within a minute.
    assert config["heartbeat_timeout"] + config["detection"] <= 60
    assert config["heartbeat_timeout"] >= 4 * config["min_heartbeat"], "too tight for the supervisor"


def test_the_venv_comes_first_on_path_once_so_the_readmes_airflow_commands_work(state):
    """docs/operations.md: `airflow backfill create ...` after `. scripts/env.sh`, a bare `airflow`."""
    venv_bin = str(REPO / ".venv" / "bin")
    twice = _environment(state, f". {ENV_SH}; . {ENV_SH}")
    entries = twice["PATH"].split(":")
    assert entries[0] == venv_bin
    assert entries.count(venv_bin) == 1
    assert entries[1:] == ["/usr/bin", "/bin"], "the caller's PATH follows, unchanged"
    found = subprocess.run(
        ["bash", "-c", f". {ENV_SH} && command -v airflow"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "KAFKAPIPELINE_STATE": str(state)},
    )
    assert found.returncode == 0 and found.stdout.strip() == f"{venv_bin}/airflow", found.stderr


def test_metrics_are_on_by_default_for_airflow_and_the_pipeline_at_one_address(state):
    env = _environment(state)
    assert env["KAFKAPIPELINE_METRICS"] == "on"
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "True"
    assert (
        (env["AIRFLOW__METRICS__STATSD_HOST"], env["AIRFLOW__METRICS__STATSD_PORT"])
        == (
            env["KAFKAPIPELINE_STATSD_HOST"],
            env["KAFKAPIPELINE_STATSD_PORT"],
        )
        == ("127.0.0.1", "9125")
    )
    # Labels from tags, no ids inside names: what deploy/prometheus/statsd-mapping.yml expects.
    assert env["AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED"] == "True"
    assert env["AIRFLOW__METRICS__LEGACY_NAMES_ON"] == "False"


def test_one_switch_turns_both_off_and_one_port_moves_both(state):
    env = _environment(
        state, extra_env={"KAFKAPIPELINE_METRICS": "off", "KAFKAPIPELINE_STATSD_PORT": "19125"}
    )
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "False"
    assert env["AIRFLOW__METRICS__STATSD_PORT"] == "19125"
