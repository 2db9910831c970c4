"""docker-compose.yaml runs the same pipeline as the project's own path (``make run``).

No Docker engine runs where the tests run, so these tests read the files: the compose file
must name the same connections, variables and Airflow settings as scripts/env.sh, install
the versions requirements.txt locks, and start every service only once what it needs is
healthy. A change to env.sh, requirements.txt or scripts/services that the compose file
does not follow makes a test here fail.

Secrets have no default in the file: ``interpolate`` applies compose's variable rules
(``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``...) so the tests can show that
the file does not resolve without them and does with what scripts/compose-secrets writes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "docker" / "airflow.Dockerfile"
ENV_SH = REPO / "scripts" / "env.sh"
REQUIREMENTS = REPO / "requirements.txt"
#: env.sh writes generated passwords into its state folder: never the repository's .state here.
ENV_SH_STATE = Path(tempfile.mkdtemp(prefix="compose-test-state-"))
LOCAL_SERVICES = REPO / "scripts" / "services_lib" / "artifacts.py"  # the versions scripts/services runs
COMPOSE_SECRETS = REPO / "scripts" / "compose-secrets"

#: Airflow setting -> the variable the user must supply for it (no default in the file).
REQUIRED_SECRETS = {
    "AIRFLOW__CORE__FERNET_KEY": "AIRFLOW_FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET": "AIRFLOW_JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY": "AIRFLOW_API_SECRET_KEY",
}
POSTGRES_PASSWORD_VARIABLE = "AIRFLOW_POSTGRES_PASSWORD"
SECRET_VARIABLES = sorted({*REQUIRED_SECRETS.values(), POSTGRES_PASSWORD_VARIABLE})
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


def env_sh_exported_names() -> set[str]:
    return set(re.findall(r"^export\s+([A-Za-z_][A-Za-z0-9_]*)=", ENV_SH.read_text(), re.MULTILINE))


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
def mirrored_names() -> set[str]:
    names = {name for name in env_sh_exported_names() if name.startswith(MIRRORED_PREFIXES)}
    # If env.sh's format changed and nothing parses, the comparisons below would prove nothing.
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
    assert services["airflow-init"]["restart"] == "no"
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


def test_kafka_connection_points_at_the_kafka_service(services, local_env):
    compose_conn = connection(airflow_env(services, "airflow-scheduler"), "AIRFLOW_CONN_KAFKA_DEFAULT")
    local_conn = connection(local_env, "AIRFLOW_CONN_KAFKA_DEFAULT")
    assert compose_conn["conn_type"] == local_conn["conn_type"] == "kafka"
    assert set(compose_conn["extra"]) == set(local_conn["extra"])

    advertised = kafka_listeners(services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"])
    for server in compose_conn["extra"]["bootstrap.servers"].split(","):
        host, _, port = server.rpartition(":")
        assert host == "kafka" and host in services, server
        assert (host, int(port)) in advertised.values(), f"{server} is not an advertised listener"


def test_cassandra_connection_points_at_the_cassandra_service(services, local_env):
    compose_conn = connection(airflow_env(services, "airflow-scheduler"), "AIRFLOW_CONN_CASSANDRA_DEFAULT")
    local_conn = connection(local_env, "AIRFLOW_CONN_CASSANDRA_DEFAULT")
    assert compose_conn["conn_type"] == local_conn["conn_type"] == "cassandra"
    assert compose_conn["host"] == "cassandra"
    assert compose_conn["host"] in services
    assert str(compose_conn["port"]) in {target for _, _, target in port_bindings(services["cassandra"])}
    assert compose_conn["extra"] == local_conn["extra"]
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


# --- health and start order --------------------------------------------------------------


def test_infrastructure_has_healthchecks(services):
    checks = {name: " ".join(services[name]["healthcheck"]["test"]) for name in INFRASTRUCTURE_SERVICES}
    assert re.search(r"kafka-broker-api-versions|kafka-topics", checks["kafka"])
    assert re.search(r"cqlsh|nodetool status", checks["cassandra"])
    assert "pg_isready" in checks["postgres"]
    assert "redis-cli ping" in checks["redis"]


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
        "airflow-init": "service_completed_successfully",
    }
    if name == "airflow-worker":  # its tasks report to the api-server's Execution API
        expected["airflow-apiserver"] = "service_healthy"
    assert conditions == expected


def test_init_waits_for_the_metadata_database(services):
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"


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
    assert {key for _, key, _ in settings} >= {*REQUIRED_SECRETS, "POSTGRES_PASSWORD"}
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
    for value in (values["AIRFLOW_POSTGRES_PASSWORD"], values["AIRFLOW_JWT_SECRET"]):
        assert re.fullmatch(r"[A-Za-z0-9_-]+", value), "not URL-safe"

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
