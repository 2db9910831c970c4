"""docker-compose.yaml runs the same pipeline as the project's own path (``make run``).

No Docker engine runs where the tests run, so these tests read the files: the compose file
must name the same connections, variables and Airflow settings as scripts/env.sh, install
the versions requirements.txt locks, and start every service only once what it needs is
healthy. A change to env.sh, requirements.txt or scripts/services that the compose file
does not follow makes a test here fail.

Secrets have no default in the file: ``interpolate`` applies compose's variable rules
(``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``...) so the tests can show that
the file does not resolve without them and does with what scripts/compose-secrets writes.

Authentication follows the local path too: ``broker_properties`` turns the kafka service's
``KAFKA_*`` variables into server.properties as the apache/kafka image does, so the broker's
security settings can be compared with scripts/services.d/kafka-server.properties.tmpl; kafka-init
runs scripts/services_lib/kafka_users.py, and the tests call that module with kafka-init's
environment to show it creates the users the connections log in as. The scripts under docker/ are
run by tests/unit/tooling/test_docker_scripts.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography.fernet import Fernet

from kafkapipeline.kafka.roles import KafkaRole

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "docker" / "airflow.Dockerfile"
ENV_SH = REPO / "scripts" / "env.sh"
REQUIREMENTS = REPO / "requirements.txt"
#: env.sh writes generated passwords into its state folder: never the repository's .state here.
ENV_SH_STATE = Path(tempfile.mkdtemp(prefix="compose-test-state-"))
LOCAL_SERVICES = REPO / "scripts" / "services_lib" / "artifacts.py"  # the versions scripts/services runs
COMPOSE_SECRETS = REPO / "scripts" / "compose-secrets"
SCRIPTS = REPO / "scripts"
LOCAL_BROKER_TEMPLATE = SCRIPTS / "services.d" / "kafka-server.properties.tmpl"

#: Airflow setting -> the variable the user must supply for it (no default in the file).
REQUIRED_SECRETS = {
    "AIRFLOW__CORE__FERNET_KEY": "AIRFLOW_FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET": "AIRFLOW_JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY": "AIRFLOW_API_SECRET_KEY",
}
POSTGRES_PASSWORD_VARIABLE = "AIRFLOW_POSTGRES_PASSWORD"
#: The Kafka super user's, each Kafka role's, the Cassandra superuser's and the pipeline role's
#: passwords: named like the local path's overrides (scripts/env.sh, scripts/services).
KAFKA_ADMIN_PASSWORD_VARIABLE = "KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD"
KAFKA_ROLE_PASSWORD_VARIABLES = {role: f"KAFKAPIPELINE_KAFKA_{role.name}_PASSWORD" for role in KafkaRole}
CASSANDRA_ADMIN_PASSWORD_VARIABLE = "KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD"
CASSANDRA_PASSWORD_VARIABLE = "KAFKAPIPELINE_CASSANDRA_PASSWORD"
SERVICE_PASSWORD_VARIABLES = {
    KAFKA_ADMIN_PASSWORD_VARIABLE,
    *KAFKA_ROLE_PASSWORD_VARIABLES.values(),
    CASSANDRA_ADMIN_PASSWORD_VARIABLE,
    CASSANDRA_PASSWORD_VARIABLE,
}
#: Grafana's admin password (the metrics block): required like the others.
GRAFANA_PASSWORD_VARIABLE = "GRAFANA_ADMIN_PASSWORD"
SECRET_VARIABLES = sorted(
    {
        *REQUIRED_SECRETS.values(),
        POSTGRES_PASSWORD_VARIABLE,
        *SERVICE_PASSWORD_VARIABLES,
        GRAFANA_PASSWORD_VARIABLE,
    }
)
#: Names that say "this is a secret", for settings and for interpolated variables.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|FERNET|TOKEN|_KEY$|^KEY_|_KEY_")
#: Values a test run supplies, as a user's .env would.
TEST_SECRETS = {name: f"test-{name.lower().replace('_', '-')}" for name in SECRET_VARIABLES}

#: Python of the lock in requirements.txt (the Airflow image is chosen to match it).
LOCK_PYTHON = "3.11"

#: Airflow service -> the Airflow command it runs.
AIRFLOW_SERVICES = {
    "airflow-init": ["db", "migrate"],
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker"],
}
LONG_RUNNING_AIRFLOW_SERVICES = sorted(set(AIRFLOW_SERVICES) - {"airflow-init"})
INFRASTRUCTURE_SERVICES = ("kafka", "cassandra", "postgres", "redis")
#: One-shot services that set up logins once their service is healthy.
AUTH_INIT_SERVICES = {"kafka-init": "kafka", "cassandra-init": "cassandra"}

#: Repository folder -> where every Airflow container sees it.
REPO_MOUNTS = {
    "dags": "/opt/airflow/dags",
    "plugins": "/opt/airflow/plugins",
    "include": "/opt/airflow/include",
}

#: env.sh variables the Airflow containers must set too (connections, settings, pipeline).
MIRRORED_PREFIXES = ("AIRFLOW_CONN_", "AIRFLOW__", "KAFKAPIPELINE_")

#: Mirrored variables whose value is a path or a listen address: in the containers they
#: have these values instead of env.sh's.
CONTAINER_VALUES = {
    "AIRFLOW__CORE__DAGS_FOLDER": "/opt/airflow/dags",
    "AIRFLOW__CORE__PLUGINS_FOLDER": "/opt/airflow/plugins",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": (
        "/opt/airflow/state/simple_auth_manager_passwords.json"
    ),
    "AIRFLOW__API__HOST": "0.0.0.0",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://airflow-apiserver:8080/execution/",
    "KAFKAPIPELINE_STATE": "/opt/airflow/state",
    # One Celery worker per container; `docker compose up --scale airflow-worker=N` for more.
    "KAFKAPIPELINE_CELERY_WORKERS": "1",
    # Asset URIs name the clusters the connections reach: the compose services.
    "KAFKAPIPELINE_ASSET_KAFKA_SERVER": "kafka:9092",
    "KAFKAPIPELINE_ASSET_CASSANDRA_SERVER": "cassandra:9042",
    # StatsD goes to the statsd-exporter service.
    "KAFKAPIPELINE_STATSD_HOST": "statsd-exporter",
    "AIRFLOW__METRICS__STATSD_HOST": "statsd-exporter",
}

#: Mirrored variables that are URLs of a local service: in the containers the host is the
#: compose service and the password the compose secret; scheme, user and path stay the same.
SERVICE_URLS = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgres",
    "AIRFLOW__CELERY__RESULT_BACKEND": "postgres",
    "AIRFLOW__CELERY__BROKER_URL": "redis",
}
#: What only the Celery worker adds to the common environment (official compose setting).
WORKER_ONLY_ENV = {"DUMB_INIT_SETSID": "0"}

#: Packages the pipeline needs that the official Airflow image does not ship.
IMAGE_EXTRAS = {
    "apache-airflow-providers-apache-kafka",
    "apache-airflow-providers-apache-cassandra",
    "confluent-kafka",
    "cassandra-driver",
    "tweepy",
    "vadersentiment",
    "numba",
    "llvmlite",
}

#: Where each infrastructure service keeps its data (must be a named volume).
DATA_DIRS = {
    "kafka": "/var/lib/kafka/data",
    "cassandra": "/var/lib/cassandra",
    "postgres": "/var/lib/postgresql/data",
    "redis": "/data",
}


# --- reading the files -------------------------------------------------------------------


def normalize(package: str) -> str:
    """PEP 503 name, so ``vaderSentiment`` and ``vadersentiment`` compare equal."""
    return re.sub(r"[-_.]+", "-", package).lower()


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if match := re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+).*", line):
            pins[normalize(match[1])] = match[2]
    return pins


def env_sh_values() -> dict[str, str]:
    """env.sh's defaults: sourced in a clean environment so nothing from the caller wins."""
    output = subprocess.run(
        ["bash", "-c", '. "$1" && env -0', "bash", str(ENV_SH)],
        check=True,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KAFKAPIPELINE_STATE": str(ENV_SH_STATE)},
    ).stdout
    entries = (entry.decode().partition("=") for entry in output.split(b"\0") if b"=" in entry)
    return {key: value for key, _, value in entries}


def dockerfile_args(text: str) -> dict[str, str]:
    return dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.MULTILINE))


def dockerfile_pip_pins(text: str) -> dict[str, str]:
    """``name==version`` of the pip install lines, with ARG defaults substituted."""
    args = dockerfile_args(text)
    pins = {}
    for name, version in re.findall(r"\"?([A-Za-z0-9][A-Za-z0-9._-]*)==([^\"\s\\]+)\"?", text):
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), version)
        pins[normalize(name)] = resolved
    return pins


def port_bindings(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host_ip, published, container port) of each published port."""
    bindings = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            bindings.append((port.get("host_ip", ""), str(port.get("published", "")), str(port["target"])))
            continue
        parts = str(port).split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        published = parts[-2] if len(parts) >= 2 else ""
        bindings.append((host_ip, published, parts[-1].split("/")[0]))
    return bindings


def bind_mounts(service: dict[str, Any]) -> dict[Path, str]:
    """Host path (resolved against the compose file's folder) -> container path."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            mounts[(COMPOSE_FILE.parent / source).resolve()] = target
    return mounts


def named_volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> named volume."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if not source.startswith((".", "/", "~")):
            mounts[target] = source
    return mounts


def kafka_listeners(setting: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> {NAME: (host, port)}."""
    return {name: (host, int(port)) for name, host, port in re.findall(r"(\w+)://([^:,]*):(\d+)", setting)}


def connection(environment: dict[str, Any], name: str) -> dict[str, Any]:
    return json.loads(environment[name])


def conn_env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


#: KAFKA_* variables the apache/kafka image keeps out of server.properties (JVM and log settings).
KAFKA_IMAGE_NON_PROPERTIES = {
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
}


def broker_property(variable: str) -> str:
    """The server.properties key of a ``KAFKA_*`` variable, by the image's rule (KafkaDockerWrapper):
    ``KAFKA_`` dropped, lower case, ``_`` -> ``.``, then ``...`` -> ``-`` and ``..`` -> ``_``."""
    return variable.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_")


def broker_properties(environment: dict[str, Any]) -> dict[str, str]:
    """server.properties as the apache/kafka 4.1 image writes it from the service's environment."""
    return {
        broker_property(key): str(value)
        for key, value in environment.items()
        if key.startswith("KAFKA_") and key not in KAFKA_IMAGE_NON_PROPERTIES
    }


def protocol_map(properties: dict[str, str]) -> dict[str, str]:
    return dict(item.split(":") for item in properties["listener.security.protocol.map"].split(","))


def jaas(config: str) -> tuple[str, dict[str, str]]:
    """(login module, options) of a one-entry ``sasl.jaas.config``."""
    match = re.fullmatch(r"\s*(\S+)\s+required\s*(.*?);\s*", config)
    assert match, f"not a JAAS entry: {config!r}"
    options = dict(re.findall(r'(\w+)="([^"]*)"', match[2]))
    assert re.sub(r'\w+="[^"]*"', "", match[2]).strip() == "", f"unparsed JAAS options in {config!r}"
    return match[1], options


def local_broker_properties(admin_user: str) -> dict[str, str]:
    """The local broker's template, its super user filled in (other placeholders left as they are)."""
    text = string.Template(LOCAL_BROKER_TEMPLATE.read_text()).safe_substitute(admin_user=admin_user)
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#")
    )


def import_scripts_module(name: str) -> Any:
    """A module of scripts/services_lib (the local path's service code)."""
    import importlib

    sys.path.insert(0, str(SCRIPTS))
    try:
        return importlib.import_module(f"services_lib.{name}")
    finally:
        sys.path.remove(str(SCRIPTS))


def image_tag(image: str) -> str:
    return image.rpartition(":")[2]


# --- compose's variable interpolation -------------------------------------------------------


class MissingVariable(Exception):
    """What `docker compose` reports for an unset ``${VAR:?error}``: it starts nothing."""


_REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", re.DOTALL)


def references(value: str) -> list[tuple[str, str | None, str]]:
    """(variable, operator or None, argument) of each ``$VAR`` / ``${...}`` in a string."""
    found = []
    for match in _REFERENCE.finditer(value):
        if match["named"]:
            found.append((match["named"], None, ""))
        elif match["braced"] is not None:
            braced = _BRACED.fullmatch(match["braced"])
            assert braced, f"invalid interpolation ${{{match['braced']}}}"
            found.append((braced[1], braced[2], braced[3] or ""))
    return found


def interpolate(value: Any, environment: dict[str, str]) -> Any:
    """`value` (a parsed compose file or part of it) as compose resolves it in `environment`."""
    if isinstance(value, dict):
        return {key: interpolate(item, environment) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environment) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        ((name, operator, argument),) = references(match[0])
        current = environment.get(name)
        if operator is None:
            return current or ""
        # With a colon, an empty value counts as unset (compose's rule, as in the shell).
        present = bool(current) if operator.startswith(":") else current is not None
        if operator.endswith("-"):
            return current if present else argument
        if operator.endswith("+"):
            return argument if present else ""
        if not present:
            raise MissingVariable(f"required variable {name} is missing a value: {argument}")
        return current

    return _REFERENCE.sub(substitute, value)


def compose_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in compose_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in compose_strings(item)]
    return [value] if isinstance(value, str) else []


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw_compose) -> dict[str, Any]:
    """The file as compose runs it, with the secrets a user supplies."""
    return interpolate(raw_compose, TEST_SECRETS)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def local_env() -> dict[str, str]:
    return env_sh_values()


@pytest.fixture(scope="module")
def mirrored_names(local_env) -> set[str]:
    """What sourcing env.sh (defaults only) exports with the mirrored prefixes."""
    names = {name for name in local_env if name.startswith(MIRRORED_PREFIXES)}
    # If env.sh stopped setting these, the comparisons below would prove nothing.
    assert {"AIRFLOW_CONN_KAFKA_DEFAULT", "AIRFLOW_CONN_CASSANDRA_DEFAULT", "KAFKAPIPELINE_KEYSPACE"} <= names
    return names


def airflow_env(services, name: str) -> dict[str, str]:
    return {key: str(value) for key, value in services[name]["environment"].items()}


# --- services ----------------------------------------------------------------------------


def test_every_service_of_the_pipeline_is_defined(services):
    assert set(INFRASTRUCTURE_SERVICES) | set(AIRFLOW_SERVICES) <= set(services)


@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_airflow_service_runs_its_component(services, name):
    assert services[name]["command"] == AIRFLOW_SERVICES[name]


def test_init_runs_once(services):
    for name in ("airflow-init", *AUTH_INIT_SERVICES):
        assert services[name]["restart"] == "no", name
    for name in LONG_RUNNING_AIRFLOW_SERVICES:
        assert services[name]["restart"] == "unless-stopped", name


@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_airflow_services_share_the_common_definition(compose, services, name):
    """All Airflow services come from the x-airflow-common anchor, so none can drift."""
    common = compose["x-airflow-common"]
    service = services[name]
    extra = WORKER_ONLY_ENV if name == "airflow-worker" else {}
    assert service["environment"] == {**common["environment"], **extra}
    assert service["volumes"] == common["volumes"]
    assert service["image"] == common["image"]
    assert service["build"] == common["build"]


# --- ports -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "port"), [("kafka", "9092"), ("cassandra", "9042"), ("airflow-apiserver", "8080")]
)
def test_port_is_published_on_loopback(services, name, port):
    assert ("127.0.0.1", port) in {
        (host_ip, published) for host_ip, published, _ in port_bindings(services[name])
    }


def test_no_port_is_published_beyond_loopback(services):
    for name, service in services.items():
        for host_ip, published, _ in port_bindings(service):
            assert host_ip == "127.0.0.1", f"{name} publishes {published} on {host_ip or 'every interface'}"


def test_api_server_port_is_the_configured_one(services):
    environment = airflow_env(services, "airflow-apiserver")
    assert ("127.0.0.1", "8080", environment["AIRFLOW__API__PORT"]) in port_bindings(
        services["airflow-apiserver"]
    )


# --- mounts and volumes ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_repo_folders_are_mounted_into_airflow_service(services, name):
    mounts = bind_mounts(services[name])
    for folder, target in REPO_MOUNTS.items():
        assert (REPO / folder).is_dir(), f"{folder}/ is missing from the repository"
        assert mounts.get(REPO / folder) == target, f"{name} does not mount {folder}/ at {target}"


def test_airflow_reads_the_mounted_folders(services):
    environment = airflow_env(services, "airflow-scheduler")
    assert environment["AIRFLOW__CORE__DAGS_FOLDER"] == REPO_MOUNTS["dags"]
    assert environment["AIRFLOW__CORE__PLUGINS_FOLDER"] == REPO_MOUNTS["plugins"]
    assert environment["KAFKAPIPELINE_INCLUDE_DIR"] == REPO_MOUNTS["include"]
    assert environment["PYTHONPATH"].split(":")[0] == REPO_MOUNTS["plugins"]


@pytest.mark.parametrize(("name", "data_dir"), sorted(DATA_DIRS.items()))
def test_data_lives_in_named_volumes(compose, services, name, data_dir):
    volume = named_volume_mounts(services[name]).get(data_dir)
    assert volume, f"{name} keeps {data_dir} in the container only"
    assert volume in compose["volumes"]


def test_kafka_writes_to_its_volume(services):
    assert services["kafka"]["environment"]["KAFKA_LOG_DIRS"] == DATA_DIRS["kafka"]


def test_airflow_state_and_logs_survive_a_restart(compose, services):
    environment = airflow_env(services, "airflow-apiserver")
    volumes = named_volume_mounts(services["airflow-apiserver"])
    passwords_dir = str(Path(environment["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent)
    assert volumes.get(passwords_dir) in compose["volumes"]
    assert volumes.get("/opt/airflow/logs") in compose["volumes"]


# --- the same environment as scripts/env.sh ----------------------------------------------


@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_airflow_service_sets_every_variable_env_sh_exports(services, mirrored_names, name):
    missing = mirrored_names - set(services[name]["environment"])
    assert not missing, f"{name} lacks {sorted(missing)} that scripts/env.sh exports"


def test_settings_have_env_sh_values(services, mirrored_names, local_env):
    """Same Airflow behaviour on both paths: only paths and listen addresses differ."""
    environment = airflow_env(services, "airflow-scheduler")
    for name in sorted(mirrored_names):
        if name.startswith("AIRFLOW_CONN_") or name in SERVICE_URLS:
            continue
        expected = CONTAINER_VALUES.get(name, local_env[name])
        assert environment[name] == expected, name


@pytest.mark.parametrize("role", list(KafkaRole), ids=str)
def test_kafka_connection_points_at_the_kafka_service(services, local_env, role):
    """Each role's connection: env.sh's extra, the kafka service's listener, the role's own secret."""
    name = conn_env_name(role.conn_id)
    compose_conn = connection(airflow_env(services, "airflow-scheduler"), name)
    local_conn = connection(local_env, name)
    assert compose_conn["conn_type"] == local_conn["conn_type"] == "kafka"
    assert set(compose_conn) == set(local_conn)
    differs = {"bootstrap.servers", "sasl.password"}
    assert set(compose_conn["extra"]) == set(local_conn["extra"])
    assert {key: value for key, value in compose_conn["extra"].items() if key not in differs} == {
        key: value for key, value in local_conn["extra"].items() if key not in differs
    }
    assert compose_conn["extra"]["sasl.password"] == TEST_SECRETS[KAFKA_ROLE_PASSWORD_VARIABLES[role]]

    advertised = kafka_listeners(services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"])
    for server in compose_conn["extra"]["bootstrap.servers"].split(","):
        host, _, port = server.rpartition(":")
        assert host == "kafka" and host in services, server
        assert (host, int(port)) in advertised.values(), f"{server} is not an advertised listener"


def test_every_kafka_connection_of_env_sh_is_a_role(local_env):
    """A connection env.sh adds without a role here would have no user in Docker."""
    assert {name for name in local_env if name.startswith("AIRFLOW_CONN_KAFKA")} == {
        conn_env_name(role.conn_id) for role in KafkaRole
    }


def test_asset_servers_are_what_the_connections_reach(services):
    environment = airflow_env(services, "airflow-scheduler")
    kafka = connection(environment, "AIRFLOW_CONN_KAFKA_DEFAULT")["extra"]["bootstrap.servers"]
    cassandra = connection(environment, "AIRFLOW_CONN_CASSANDRA_DEFAULT")
    assert environment["KAFKAPIPELINE_ASSET_KAFKA_SERVER"] == kafka.split(",")[0]
    assert environment["KAFKAPIPELINE_ASSET_CASSANDRA_SERVER"] == f"{cassandra['host']}:{cassandra['port']}"


def test_cassandra_connection_points_at_the_cassandra_service(services, local_env):
    compose_conn = connection(airflow_env(services, "airflow-scheduler"), "AIRFLOW_CONN_CASSANDRA_DEFAULT")
    local_conn = connection(local_env, "AIRFLOW_CONN_CASSANDRA_DEFAULT")
    assert compose_conn["conn_type"] == local_conn["conn_type"] == "cassandra"
    assert compose_conn["host"] == "cassandra"
    assert compose_conn["host"] in services
    assert str(compose_conn["port"]) in {target for _, _, target in port_bindings(services["cassandra"])}
    assert compose_conn["extra"] == local_conn["extra"]
    assert set(compose_conn) == set(local_conn)
    assert compose_conn["login"] == local_conn["login"]
    assert compose_conn["password"] == TEST_SECRETS[CASSANDRA_PASSWORD_VARIABLE]
    local_dc = compose_conn["extra"]["load_balancing_policy_args"]["local_dc"]
    assert services["cassandra"]["environment"]["CASSANDRA_DC"] == local_dc


def test_metadata_database_is_the_postgres_service(services):
    environment = airflow_env(services, "airflow-scheduler")
    assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    url = urlsplit(environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    postgres = services["postgres"]["environment"]
    assert url.scheme.startswith("postgresql")
    assert url.hostname == "postgres"
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_tasks_reach_the_api_server(services):
    """Task processes started by the scheduler report through the api-server's Execution API."""
    environment = airflow_env(services, "airflow-scheduler")
    url = urlsplit(environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver"
    assert str(url.port) == environment["AIRFLOW__API__PORT"]
    assert url.path == "/execution/"
    # One JWT secret for the scheduler (signs task tokens) and the api-server (checks them).
    assert environment["AIRFLOW__API_AUTH__JWT_SECRET"]


# --- images and versions -----------------------------------------------------------------


def test_airflow_image_matches_the_locked_airflow(compose):
    airflow_pin = requirement_pins()["apache-airflow"]
    common = compose["x-airflow-common"]
    build_args = {key: str(value) for key, value in common["build"]["args"].items()}
    assert build_args == {"AIRFLOW_VERSION": airflow_pin, "PYTHON_VERSION": LOCK_PYTHON}
    assert image_tag(common["image"]) == f"{airflow_pin}-python{LOCK_PYTHON}"
    assert (
        COMPOSE_FILE.parent / common["build"]["context"] / common["build"]["dockerfile"]
    ).resolve() == DOCKERFILE


def test_dockerfile_builds_from_the_locked_airflow():
    text = DOCKERFILE.read_text()
    assert dockerfile_args(text) == {
        "AIRFLOW_VERSION": requirement_pins()["apache-airflow"],
        "PYTHON_VERSION": LOCK_PYTHON,
    }
    assert re.search(
        r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}-python\$\{PYTHON_VERSION\}$", text, re.MULTILINE
    )


def test_dockerfile_installs_the_locked_versions():
    pins = requirement_pins()
    installed = dockerfile_pip_pins(DOCKERFILE.read_text())
    assert set(installed) >= IMAGE_EXTRAS, f"the image lacks {sorted(IMAGE_EXTRAS - set(installed))}"
    for package, version in installed.items():
        assert package in pins, f"{package} is installed in the image but not locked in requirements.txt"
        assert version == pins[package], f"{package}: image {version}, requirements.txt {pins[package]}"


def test_kafka_and_cassandra_match_the_local_services(services):
    """The Docker path runs the Kafka and Cassandra versions scripts/services runs."""
    source = LOCAL_SERVICES.read_text()
    kafka_version = re.search(r'"KAFKA_VERSION",\s*"([^"]+)"', source)[1]
    cassandra_version = re.search(r'"CASSANDRA_VERSION",\s*"([^"]+)"', source)[1]
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version}"
    cassandra_major_minor = ".".join(cassandra_version.split(".")[:2])
    assert services["cassandra"]["image"] == f"cassandra:{cassandra_major_minor}"


def test_postgres_image_is_pinned(services):
    image, _, tag = services["postgres"]["image"].rpartition(":")
    assert image == "postgres"
    assert tag.split(".")[0].isdigit()


# --- Kafka -------------------------------------------------------------------------------


def test_kafka_runs_in_kraft_mode(services):
    assert not [name for name, service in services.items() if "zookeeper" in f"{name} {service.get('image')}"]
    environment = services["kafka"]["environment"]
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in environment)
    assert environment["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{environment['KAFKA_NODE_ID']}@")


def test_kafka_listeners_serve_containers_and_host(services):
    environment = services["kafka"]["environment"]
    listeners = kafka_listeners(environment["KAFKA_LISTENERS"])
    advertised = kafka_listeners(environment["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(
        item.split(":") for item in environment["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) <= set(protocols)
    assert environment["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert environment["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised

    # Containers: a listener advertised under the service name, on the port it listens on.
    in_network = [name for name, (host, _) in advertised.items() if host == "kafka"]
    assert in_network
    assert all(advertised[name][1] == listeners[name][1] for name in in_network)

    # Host: the port published on 127.0.0.1:9092 is a listener advertised as that address.
    (container_port,) = [
        target for _, published, target in port_bindings(services["kafka"]) if published == "9092"
    ]
    (host_listener,) = [name for name, (_, port) in listeners.items() if port == int(container_port)]
    assert advertised[host_listener] in {("127.0.0.1", 9092), ("localhost", 9092)}


def kafka_host_listener(services) -> str:
    listeners = kafka_listeners(services["kafka"]["environment"]["KAFKA_LISTENERS"])
    ((container_port,),) = [[target for _, _, target in port_bindings(services["kafka"])]]
    (name,) = [name for name, (_, port) in listeners.items() if port == int(container_port)]
    return name


def test_kafka_publishes_only_the_host_listener(services):
    """The super user's INTERNAL listener and the controller stay inside the compose network."""
    assert len(port_bindings(services["kafka"])) == 1
    properties = broker_properties(services["kafka"]["environment"])
    host_listener = kafka_host_listener(services)
    assert host_listener not in {
        properties["inter.broker.listener.name"],
        properties["controller.listener.names"],
    }


def test_broker_property_names_follow_the_image_rule():
    """The examples of the image's documentation (checked against KafkaDockerWrapper of 4.1.1)."""
    assert broker_property("KAFKA_LOG_DIRS") == "log.dirs"
    assert broker_property("KAFKA_LISTENER_NAME_CLIENT_SCRAM___SHA___512_SASL_JAAS_CONFIG") == (
        "listener.name.client.scram-sha-512.sasl.jaas.config"
    )
    assert broker_property("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR") == "transaction.state.log.min.isr"
    assert broker_property("KAFKA_A__B") == "a_b"


def test_every_kafka_listener_authenticates(services):
    properties = broker_properties(services["kafka"]["environment"])
    listeners = kafka_listeners(properties["listeners"])
    protocols = protocol_map(properties)
    assert set(listeners) == set(protocols)
    assert {name: protocols[name] for name in listeners} == dict.fromkeys(listeners, "SASL_PLAINTEXT")


def test_client_listeners_take_scram_users_only(services):
    """The containers' listener (kafka:9092, the connections') and the host's: SCRAM-SHA-512 only."""
    environment = services["kafka"]["environment"]
    properties = broker_properties(environment)
    advertised = kafka_listeners(properties["advertised.listeners"])
    inter_broker = properties["inter.broker.listener.name"]
    bootstrap = connection(airflow_env(services, "airflow-scheduler"), "AIRFLOW_CONN_KAFKA_DEFAULT")["extra"]
    (client,) = [
        name
        for name, address in advertised.items()
        if f"{address[0]}:{address[1]}" in bootstrap["bootstrap.servers"]
    ]
    assert client != inter_broker
    for name in (client, kafka_host_listener(services)):
        prefix = f"listener.name.{name.lower()}"
        assert properties[f"{prefix}.sasl.enabled.mechanisms"] == "SCRAM-SHA-512", name
        module, options = jaas(properties[f"{prefix}.scram-sha-512.sasl.jaas.config"])
        assert module == "org.apache.kafka.common.security.scram.ScramLoginModule"
        assert options == {}, "a SCRAM listener keeps no credentials in its JAAS entry"
        assert not [key for key in properties if key.startswith(f"{prefix}.plain.")], name


def test_broker_and_controller_log_in_as_the_super_user(services):
    properties = broker_properties(services["kafka"]["environment"])
    admin_password = TEST_SECRETS[KAFKA_ADMIN_PASSWORD_VARIABLE]
    users = []
    for name in (properties["inter.broker.listener.name"], properties["controller.listener.names"]):
        prefix = f"listener.name.{name.lower()}"
        assert properties[f"{prefix}.sasl.enabled.mechanisms"] == "PLAIN", name
        module, options = jaas(properties[f"{prefix}.plain.sasl.jaas.config"])
        assert module == "org.apache.kafka.common.security.plain.PlainLoginModule"
        user = options["username"]
        # Its own login (as a client of the other listener) and the one user the listener accepts.
        assert options == {"username": user, "password": admin_password, f"user_{user}": admin_password}
        users.append(user)
    assert properties["sasl.mechanism.inter.broker.protocol"] == "PLAIN"
    assert properties["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert set(users) == {properties["super.users"].removeprefix("User:")}
    # The healthcheck logs in with the same password, which the service's environment gives it.
    assert services["kafka"]["environment"][KAFKA_ADMIN_PASSWORD_VARIABLE] == admin_password


def test_broker_security_is_the_local_brokers(services):
    """Every authentication, authorization and topic-creation setting of scripts/services' broker."""
    kafka_users = import_scripts_module("kafka_users")
    local = local_broker_properties(kafka_users.ADMIN_USER)
    compose = broker_properties(services["kafka"]["environment"])
    security = re.compile(
        r"listener\.name\..*|sasl\..*|authorizer\..*|super\.users|allow\.everyone\..*"
        r"|auto\.create\.topics\.enable|inter\.broker\.listener\.name|controller\.listener\.names"
    )
    compared = {key for key in local if security.fullmatch(key) and "${" not in local[key]}
    # If the template's format changed and nothing matched, this would prove nothing.
    assert {
        "authorizer.class.name",
        "allow.everyone.if.no.acl.found",
        "auto.create.topics.enable",
    } <= compared
    assert {key: compose.get(key) for key in compared} == {key: local[key] for key in compared}
    # The JAAS entries holding the super user's password are generated locally: compared above.
    assert {key for key in local if security.fullmatch(key)} - compared <= {
        key for key in compose if key.endswith(".plain.sasl.jaas.config")
    }
    # Same protocol for every local listener; compose adds HOST (SCRAM, for the host).
    local_protocols = protocol_map(local)
    assert {name: protocol_map(compose)[name] for name in local_protocols} == local_protocols


# --- kafka-init: the pipeline's Kafka users --------------------------------------------------


def kafka_init_env(services) -> dict[str, str]:
    return {key: str(value) for key, value in services["kafka-init"]["environment"].items()}


def test_kafka_init_runs_the_local_paths_user_provisioning(services):
    kafka_init = services["kafka-init"]
    module, bootstrap = kafka_init["command"][2:]
    assert kafka_init["command"][:2] == ["python", "-m"]
    mounts = bind_mounts(kafka_init)
    python_path = kafka_init_env(services)["PYTHONPATH"].split(":")
    assert python_path == [mounts[SCRIPTS], mounts[REPO / "plugins"]]
    assert (SCRIPTS / Path(*module.split("."))).with_suffix(".py").is_file()
    # The Airflow image (it has confluent-kafka), without Airflow's metadata database.
    assert kafka_init["image"] == services["airflow-scheduler"]["image"]
    assert kafka_init_env(services)["CONNECTION_CHECK_MAX_COUNT"] == "0"
    # It logs in as the super user: on the broker-to-broker listener, not a SCRAM one.
    properties = broker_properties(services["kafka"]["environment"])
    advertised = kafka_listeners(properties["advertised.listeners"])
    host, _, port = bootstrap.rpartition(":")
    assert advertised[properties["inter.broker.listener.name"]] == (host, int(port))
    # The healthcheck logs in there too, as the super user.
    assert services["kafka"]["healthcheck"]["test"][-1] == bootstrap


def test_kafka_init_creates_the_users_the_connections_log_in_as(services, monkeypatch, tmp_path):
    """kafka_users.py, run with kafka-init's environment, sets each role connection's password."""
    kafka_users = import_scripts_module("kafka_users")
    for key in [key for key in os.environ if key.startswith("KAFKAPIPELINE_")]:
        monkeypatch.delenv(key)
    for key, value in kafka_init_env(services).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("KAFKAPIPELINE_STATE", str(tmp_path))
    environment = airflow_env(services, "airflow-scheduler")
    for role in KafkaRole:
        extra = connection(environment, conn_env_name(role.conn_id))["extra"]
        assert extra["sasl.username"] == role.username
        assert kafka_users.role_password(role) == extra["sasl.password"], role
    assert not (tmp_path / "secrets").exists(), "a password kafka-init lacks would be generated, not shared"

    # Its admin client logs in as the super user with the broker's password (the client is the edge).
    monkeypatch.setattr(kafka_users, "AdminClient", dict)
    config = kafka_users.admin_client(services["kafka-init"]["command"][-1])
    properties = broker_properties(services["kafka"]["environment"])
    _, broker_login = jaas(properties["listener.name.internal.plain.sasl.jaas.config"])
    assert (config["sasl.username"], config["sasl.password"]) == (
        broker_login["username"],
        broker_login["password"],
    )
    assert config["sasl.mechanism"] == properties["sasl.mechanism.inter.broker.protocol"]
    assert config["security.protocol"] == protocol_map(properties)[properties["inter.broker.listener.name"]]


def test_kafka_init_grants_the_airflow_services_consumer_groups(services):
    """roles.role_grants names groups with KAFKAPIPELINE_GROUP_PREFIX: the same in both environments."""
    assert kafka_init_env(services).get("KAFKAPIPELINE_GROUP_PREFIX") == airflow_env(
        services, "airflow-scheduler"
    ).get("KAFKAPIPELINE_GROUP_PREFIX")


# --- cassandra-init: the pipeline's Cassandra role ---------------------------------------------


def test_cassandra_runs_with_logins_and_permissions(services):
    cassandra = services["cassandra"]
    assert cassandra["entrypoint"] == ["bash", "/opt/kafkapipeline/entrypoint.sh"]
    # An entrypoint clears the image's command: the official image's is repeated.
    assert cassandra["command"] == ["cassandra", "-f"]
    assert (
        cassandra["environment"][CASSANDRA_ADMIN_PASSWORD_VARIABLE]
        == (TEST_SECRETS[CASSANDRA_ADMIN_PASSWORD_VARIABLE])
    )


def test_cassandra_init_sets_up_the_connections_login(services):
    cassandra_init = services["cassandra-init"]
    environment = {key: str(value) for key, value in cassandra_init["environment"].items()}
    assert cassandra_init["image"] == services["cassandra"]["image"]
    assert cassandra_init["entrypoint"] == ["bash", "/opt/kafkapipeline/cql.sh"]
    assert cassandra_init["command"] == ["setup-roles", "cassandra"]
    assert bind_mounts(cassandra_init)[REPO / "docker" / "cassandra"] == "/opt/kafkapipeline"
    conn = connection(airflow_env(services, "airflow-scheduler"), "AIRFLOW_CONN_CASSANDRA_DEFAULT")
    assert (environment["KAFKAPIPELINE_CASSANDRA_USER"], environment[CASSANDRA_PASSWORD_VARIABLE]) == (
        conn["login"],
        conn["password"],
    )
    assert (
        environment["KAFKAPIPELINE_KEYSPACE"]
        == airflow_env(services, "airflow-scheduler")["KAFKAPIPELINE_KEYSPACE"]
    )
    assert (
        environment[CASSANDRA_ADMIN_PASSWORD_VARIABLE]
        == (services["cassandra"]["environment"][CASSANDRA_ADMIN_PASSWORD_VARIABLE])
    )
    # The image declares a data volume; a tmpfs keeps the one-shot from leaving one behind.
    assert "/var/lib/cassandra" in cassandra_init["tmpfs"]


# --- health and start order --------------------------------------------------------------


def test_infrastructure_has_healthchecks(services):
    checks = {name: " ".join(services[name]["healthcheck"]["test"]) for name in INFRASTRUCTURE_SERVICES}
    # Kafka and Cassandra: scripts that log in (tests/unit/tooling/test_docker_scripts.py runs them).
    assert "/opt/kafkapipeline/healthcheck.sh" in checks["kafka"]
    assert "/opt/kafkapipeline/cql.sh check" in checks["cassandra"]
    assert "pg_isready" in checks["postgres"]
    assert "redis-cli ping" in checks["redis"]


@pytest.mark.parametrize(("name", "folder"), [("kafka", "docker/kafka"), ("cassandra", "docker/cassandra")])
def test_login_scripts_are_mounted_where_the_healthchecks_run_them(services, name, folder):
    mounts = bind_mounts(services[name])
    assert mounts.get(REPO / folder) == "/opt/kafkapipeline"
    script = next(part for part in services[name]["healthcheck"]["test"] if part.startswith("/opt/"))
    assert (REPO / folder / Path(script).name).is_file()
    assert ":ro" in " ".join(services[name]["volumes"]), "the scripts are mounted read-only"


def test_scheduler_healthcheck_asks_where_the_health_server_listens(services):
    environment = airflow_env(services, "airflow-scheduler")
    url = urlsplit(services["airflow-scheduler"]["healthcheck"]["test"][-1])
    assert url.hostname == environment["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST"]
    assert url.port == 8974  # Airflow's scheduler_health_check_server_port


@pytest.mark.parametrize("name", LONG_RUNNING_AIRFLOW_SERVICES)
def test_long_running_airflow_service_has_a_healthcheck(services, name):
    assert services[name]["healthcheck"]["test"]


@pytest.mark.parametrize("name", LONG_RUNNING_AIRFLOW_SERVICES)
def test_airflow_service_starts_after_its_dependencies(services, name):
    conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
    expected = {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "kafka": "service_healthy",
        "cassandra": "service_healthy",
        # Nothing logs in to Kafka or Cassandra before the pipeline's users and role exist.
        "kafka-init": "service_completed_successfully",
        "cassandra-init": "service_completed_successfully",
        "airflow-init": "service_completed_successfully",
    }
    if name == "airflow-worker":  # its tasks report to the api-server's Execution API
        expected["airflow-apiserver"] = "service_healthy"
    assert conditions == expected


def test_init_waits_for_the_metadata_database(services):
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize(("name", "service"), sorted(AUTH_INIT_SERVICES.items()))
def test_auth_init_waits_for_its_service(services, name, service):
    assert {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()} == {
        service: "service_healthy"
    }


def test_every_awaited_service_can_become_healthy(services):
    """A dependency waited on as healthy without a healthcheck would block `up` forever."""
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}"


def test_cassandra_heap_is_bounded(services):
    environment = services["cassandra"]["environment"]
    # cassandra-env.sh refuses one of the two without the other.
    assert re.fullmatch(r"\d+[MG]", environment["MAX_HEAP_SIZE"])
    assert re.fullmatch(r"\d+[MG]", environment["HEAP_NEWSIZE"])


# --- CeleryExecutor: broker, result backend, scalable workers -------------------------------


@pytest.mark.parametrize(("setting", "service"), sorted(SERVICE_URLS.items()))
def test_service_urls_point_at_the_compose_services_like_env_sh_does_locally(
    services, local_env, setting, service
):
    container = urlsplit(airflow_env(services, "airflow-scheduler")[setting])
    local = urlsplit(local_env[setting])
    assert container.hostname == service and service in services
    assert local.hostname == "127.0.0.1"
    assert (container.scheme, container.username or "", container.path) == (
        local.scheme,
        local.username or "",
        local.path,
    ), f"{setting}: the Docker path and the local path differ beyond host and password"


def test_result_backend_is_the_metadata_database(services):
    environment = airflow_env(services, "airflow-scheduler")
    backend = urlsplit(environment["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))
    database = urlsplit(environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert backend == database


def test_broker_is_the_redis_service_on_its_port(services):
    broker = urlsplit(airflow_env(services, "airflow-scheduler")["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    assert "redis-server" in services["redis"]["command"]
    assert "noeviction" in services["redis"]["command"], "a broker must never evict queued tasks"


def test_worker_can_be_scaled(services):
    """`docker compose up --scale airflow-worker=3` needs nothing unique per container."""
    worker = services["airflow-worker"]
    assert not {"container_name", "hostname", "ports"} & set(worker), "a unique name or port blocks --scale"
    assert "celery@${HOSTNAME}" in " ".join(worker["healthcheck"]["test"])


def test_postgres_and_redis_are_not_published(services):
    assert not services["postgres"].get("ports")
    assert not services["redis"].get("ports")


# --- secrets: supplied by the user, never defaulted -----------------------------------------


def common_environment(compose_file: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in compose_file["x-airflow-common"]["environment"].items()}


def secret_settings(compose_file: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(where, setting, raw value) of every environment entry whose name says it is a secret."""
    found = []
    blocks = {"x-airflow-common": compose_file["x-airflow-common"], **compose_file["services"]}
    for where, block in blocks.items():
        for key, value in (block.get("environment") or {}).items():
            # A *_FILE setting is the path of a file holding secrets, not a secret.
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                found.append((where, key, str(value)))
    return found


def read_env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_interpolation_follows_compose_rules():
    """The rules the secret tests rely on, as compose documents them."""
    assert interpolate("$$HOSTNAME and $${HOSTNAME}", {}) == "$HOSTNAME and ${HOSTNAME}"
    assert interpolate("${A:-d} ${A-d} ${B:-d} ${B-d}", {"A": ""}) == "d  d d"
    assert interpolate("${A:+set} ${A+set} ${B+set}", {"A": ""}) == " set "
    assert interpolate("${A?m}", {"A": ""}) == ""
    assert interpolate("x${A:?m}y", {"A": "v"}) == "xvy"
    for environment in ({}, {"A": ""}):
        with pytest.raises(MissingVariable, match="A is missing a value: say how"):
            interpolate("${A:?say how}", environment)


@pytest.mark.parametrize(("setting", "variable"), sorted(REQUIRED_SECRETS.items()))
def test_airflow_secret_is_required_from_the_user(raw_compose, setting, variable):
    raw = common_environment(raw_compose)[setting]
    ((name, operator, message),) = references(raw)
    assert raw == f"${{{name}{operator}{message}}}", f"{setting} must be exactly the user's {variable}"
    assert (name, operator) == (variable, ":?"), f"{setting}: {raw}"
    assert variable in message and "scripts/compose-secrets" in message


def test_postgres_password_is_required_and_is_the_one_airflow_uses(raw_compose):
    raw_password = raw_compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    raw_url = common_environment(raw_compose)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    raw_backend = common_environment(raw_compose)["AIRFLOW__CELERY__RESULT_BACKEND"]
    for raw in (raw_password, raw_url, raw_backend):
        assert [(name, operator) for name, operator, _ in references(raw)] == [
            (POSTGRES_PASSWORD_VARIABLE, ":?")
        ]


def test_no_secret_has_a_default(raw_compose):
    settings = secret_settings(raw_compose)
    # If the name pattern stopped matching, this test would prove nothing.
    assert {key for _, key, _ in settings} >= {
        *REQUIRED_SECRETS,
        "POSTGRES_PASSWORD",
        *SERVICE_PASSWORD_VARIABLES,
    }
    for where, key, raw in settings:
        assert references(raw), f"{where}: {key} is a literal in the file"
        with pytest.raises(MissingVariable):
            interpolate(raw, {})
        resolved = interpolate(raw, TEST_SECRETS)
        assert resolved in TEST_SECRETS.values(), f"{where}: {key} is not exactly the user's value"
    # Any variable that names a secret, wherever it is used, is required: no :- / - default.
    for text in compose_strings(raw_compose):
        for name, operator, _ in references(text):
            if SECRET_NAME.search(name):
                assert operator == ":?", f"${{{name}{operator or ''}...}} gives a secret a default"


@pytest.mark.parametrize("variable", SECRET_VARIABLES)
@pytest.mark.parametrize("unset", [True, False], ids=["unset", "empty"])
def test_compose_refuses_to_start_without_each_secret(raw_compose, variable, unset):
    environment = dict(TEST_SECRETS)
    if unset:
        del environment[variable]
    else:
        environment[variable] = ""
    with pytest.raises(MissingVariable) as raised:
        interpolate(raw_compose, environment)
    assert f"required variable {variable} is missing a value" in str(raised.value)
    assert "scripts/compose-secrets" in str(raised.value)


def run_compose_secrets(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(COMPOSE_SECRETS), *args], check=True, capture_output=True, text=True, timeout=60
    )


def test_compose_secrets_writes_what_compose_needs(raw_compose, tmp_path):
    env_file = tmp_path / ".env"
    output = run_compose_secrets("--env-file", str(env_file)).stdout

    values = read_env_file(env_file)
    assert set(values) == set(SECRET_VARIABLES)
    assert env_file.stat().st_mode & 0o777 == 0o600
    for value in values.values():
        assert value not in output, "a secret was printed"
        assert len(value) >= 32
    Fernet(values["AIRFLOW_FERNET_KEY"].encode())  # raises unless it is a valid Fernet key
    for name in set(values) - {"AIRFLOW_FERNET_KEY"}:
        # Into URLs, JAAS options and CQL unescaped; scripts/services accepts nothing else either.
        assert re.fullmatch(r"[A-Za-z0-9_-]+", values[name]), f"{name} is not URL-safe"
    assert len(set(values.values())) == len(values), "every secret is its own"

    resolved = interpolate(raw_compose, values)
    for name in AIRFLOW_SERVICES:
        environment = airflow_env(resolved["services"], name)
        for setting, variable in REQUIRED_SECRETS.items():
            assert environment[setting] == values[variable], f"{name}: {setting}"
        for setting in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
            assert urlsplit(environment[setting]).password == values["AIRFLOW_POSTGRES_PASSWORD"]
    assert (
        resolved["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
        == (values["AIRFLOW_POSTGRES_PASSWORD"])
    )


def test_compose_secrets_keeps_values_already_set(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# mine\nAIRFLOW_FERNET_KEY=kept-key\nAIRFLOW_JWT_SECRET=\nOTHER=1")

    run_compose_secrets("--env-file", str(env_file))
    first = env_file.read_text()
    values = read_env_file(env_file)
    assert first.startswith("# mine\nAIRFLOW_FERNET_KEY=kept-key\n")
    assert values["OTHER"] == "1"
    assert set(SECRET_VARIABLES) <= set(values)
    assert values["AIRFLOW_JWT_SECRET"], "an empty value counts as missing, as for compose"

    run_compose_secrets("--env-file", str(env_file))
    assert env_file.read_text() == first, "a second run must change nothing"


@pytest.mark.parametrize("value", ['has"quote', "p@ss/word:long", "short"])
def test_compose_secrets_refuses_a_kept_password_that_would_break(tmp_path, value):
    env_file = tmp_path / ".env"
    env_file.write_text(f"KAFKAPIPELINE_KAFKA_DRAIN_PASSWORD={value}\n")
    refused = subprocess.run(
        [sys.executable, str(COMPOSE_SECRETS), "--env-file", str(env_file)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "KAFKAPIPELINE_KAFKA_DRAIN_PASSWORD" in refused.stderr
    assert value not in refused.stderr + refused.stdout, "a secret was printed"
    assert read_env_file(env_file)["KAFKAPIPELINE_KAFKA_DRAIN_PASSWORD"] == value, "kept as the user set it"


def test_compose_secrets_print_writes_nothing(tmp_path):
    output = subprocess.run(
        [sys.executable, str(COMPOSE_SECRETS), "--print"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    ).stdout
    assert sorted(line.split("=", 1)[0] for line in output.splitlines()) == SECRET_VARIABLES
    assert not list(tmp_path.iterdir())


def test_env_file_is_ignored_by_git():
    assert ".env" in {line.strip() for line in (REPO / ".gitignore").read_text().splitlines()}


def test_docker_compose_itself_refuses_without_secrets(tmp_path):
    """Where the Docker CLI has compose, check the real thing too (skipped here otherwise)."""
    docker = shutil.which("docker")
    probe = docker and subprocess.run([docker, "compose", "version"], check=False, capture_output=True)
    if not probe or probe.returncode != 0:
        pytest.skip("docker compose is not installed; interpolate() checks the same rules above")
    clean = {key: value for key, value in os.environ.items() if key not in SECRET_VARIABLES}
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")
    command = ["docker", "compose", "--env-file", str(empty_env), "-f", str(COMPOSE_FILE), "config", "-q"]
    refused = subprocess.run(command, check=False, capture_output=True, text=True, env=clean, timeout=60)
    assert refused.returncode != 0
    assert "scripts/compose-secrets" in refused.stderr
    accepted = subprocess.run(
        command, check=False, capture_output=True, text=True, env={**clean, **TEST_SECRETS}, timeout=60
    )
    assert accepted.returncode == 0, accepted.stderr
