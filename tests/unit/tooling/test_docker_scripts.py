"""The login scripts docker-compose.yaml mounts into its Kafka and Cassandra containers (docker/).

No Docker engine runs where the tests run, so each script runs here against stand-ins for what the
image provides: a ``kafka-broker-api-versions.sh`` that records how it was called, the image's
``docker-entrypoint.sh``, and a ``cqlsh`` that keeps a small model of Cassandra's roles (logins
checked against the credentials file, as cqlsh reads it; superuser-only statements; the rule that no
one drops the role they are logged in as). They show what each script does on a first start and on
a restart, and that no password ever reaches a command line.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
KAFKA_HEALTHCHECK = REPO / "docker" / "kafka" / "healthcheck.sh"
CASSANDRA_ENTRYPOINT = REPO / "docker" / "cassandra" / "entrypoint.sh"
CQL = REPO / "docker" / "cassandra" / "cql.sh"

ADMIN_PASSWORD = "admin-password-0123456789"
PIPELINE_PASSWORD = "pipeline-password-0123456789"


def admin_role() -> str:
    """The superuser scripts/services creates locally: the Docker path must create the same one."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from services_lib.cassandra import ADMIN_ROLE
    finally:
        sys.path.remove(str(REPO / "scripts"))
    return ADMIN_ROLE


def run_script(script: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    # A permissive umask, so a credentials file is private only if the script makes it so.
    return subprocess.run(
        ["bash", "-c", 'umask 022 && exec bash "$@"', "bash", str(script), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
    )


# --- docker/kafka/healthcheck.sh ----------------------------------------------------------------

FAKE_API_VERSIONS = """#!/usr/bin/env bash
# Records its arguments and the client file it was given, then answers as $FAKE_EXIT says.
config="${@: -1}"
printf '%s\\n' "$@" >"$FAKE_RECORD.argv"
stat -c %a "$config" >"$FAKE_RECORD.mode"
cp "$config" "$FAKE_RECORD.config"
echo "kafka:9094 (id: 1 rack: null) -> (Produce(0): 0 to 12 [usable: 12], ...)"
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def kafka_home(tmp_path) -> Path:
    home = tmp_path / "kafka"
    (home / "bin").mkdir(parents=True)
    tool = home / "bin" / "kafka-broker-api-versions.sh"
    tool.write_text(FAKE_API_VERSIONS)
    tool.chmod(0o755)
    return home


def kafka_healthcheck(tmp_path: Path, kafka_home: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {
        "KAFKA_HOME": str(kafka_home),
        "TMPDIR": str(tmp_path),
        "FAKE_RECORD": str(tmp_path / "record"),
        "KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **extra,
    }
    return run_script(KAFKA_HEALTHCHECK, "kafka:9094", env=env, cwd=tmp_path)


def test_kafka_healthcheck_logs_in_as_the_super_user(tmp_path, kafka_home):
    result = kafka_healthcheck(tmp_path, kafka_home)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", "the broker's answer is not logged on every check"
    argv = (tmp_path / "record.argv").read_text().splitlines()
    assert argv[:3] == ["--bootstrap-server", "kafka:9094", "--command-config"]
    assert ADMIN_PASSWORD not in " ".join(argv)
    assert (tmp_path / "record.mode").read_text().strip() == "600"
    config = dict(line.split("=", 1) for line in (tmp_path / "record.config").read_text().splitlines())
    assert config["security.protocol"] == "SASL_PLAINTEXT"
    assert config["sasl.mechanism"] == "PLAIN"
    assert config["sasl.jaas.config"] == (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="admin" password="{ADMIN_PASSWORD}";'
    )


def test_kafka_healthcheck_fails_when_the_broker_does(tmp_path, kafka_home):
    assert kafka_healthcheck(tmp_path, kafka_home, FAKE_EXIT="1").returncode == 1


def test_kafka_healthcheck_names_a_missing_password(tmp_path, kafka_home):
    result = kafka_healthcheck(tmp_path, kafka_home, KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD="")
    assert result.returncode != 0
    assert "KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD" in result.stderr
    assert not (tmp_path / "record.argv").exists()


# --- docker/cassandra/entrypoint.sh ---------------------------------------------------------------

#: cassandra.yaml's two forms of a class setting: one line, or a class_name block (newer files).
FLAT_YAML = """cluster_name: 'Test Cluster'
# authenticator: not this one
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
num_tokens: 16
"""
BLOCK_YAML = """cluster_name: 'Test Cluster'
authenticator:
  class_name : org.apache.cassandra.auth.AllowAllAuthenticator
# MutualTlsAuthenticator can be configured using the following configuration.
#  class_name: org.apache.cassandra.auth.MutualTlsAuthenticator
authorizer:
  class_name: AllowAllAuthorizer
  parameters:
    # none
role_manager:
  class_name: CassandraRoleManager
  parameters:
    invalid_role_disconnect_task_period: 4h
num_tokens: 16
"""


def run_entrypoint(tmp_path: Path, text: str) -> tuple[subprocess.CompletedProcess, Path]:
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "cassandra.yaml").write_text(text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    image_entrypoint = bin_dir / "docker-entrypoint.sh"
    image_entrypoint.write_text('#!/bin/sh\necho "image entrypoint: $*"\n')
    image_entrypoint.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "CASSANDRA_CONF": str(conf)}
    result = run_script(CASSANDRA_ENTRYPOINT, "cassandra", "-f", env=env, cwd=tmp_path)
    return result, conf / "cassandra.yaml"


@pytest.mark.parametrize("text", [FLAT_YAML, BLOCK_YAML], ids=["one-line", "class_name-block"])
def test_cassandra_entrypoint_turns_on_logins_and_permissions(tmp_path, text):
    result, path = run_entrypoint(tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "image entrypoint: cassandra -f\n"
    config = yaml.safe_load(path.read_text())
    assert config["authenticator"] == "PasswordAuthenticator"
    assert config["authorizer"] == "CassandraAuthorizer"
    before = yaml.safe_load(text)
    assert {k: v for k, v in config.items() if k not in {"authenticator", "authorizer"}} == {
        k: v for k, v in before.items() if k not in {"authenticator", "authorizer"}
    }, "nothing else changes"

    # A restarted container runs it on the file it already changed.
    done = path.read_text()
    again, path = run_entrypoint(tmp_path, done)
    assert again.returncode == 0
    assert path.read_text() == done


def test_cassandra_entrypoint_refuses_a_file_without_the_setting(tmp_path):
    result, _ = run_entrypoint(tmp_path, "cluster_name: x\n# authenticator: AllowAllAuthenticator\n")
    assert result.returncode == 1
    assert "authenticator" in result.stderr
    assert "image entrypoint" not in result.stdout, "Cassandra must not start without logins"


# --- docker/cassandra/cql.sh ----------------------------------------------------------------------

FAKE_CQLSH = r"""
import configparser, json, os, re, stat, sys

path = os.environ["FAKE_CASSANDRA"]
with open(path) as f:
    state = json.load(f)
args = sys.argv[1:]
statements = args[args.index("-e") + 1] if "-e" in args else sys.stdin.read()
state["calls"].append({"argv": args, "stdin": "" if "-e" in args else statements})


def save():
    with open(path, "w") as f:
        json.dump(state, f)


# cqlsh reads the credentials file only when others cannot.
credentials = args[args.index("--credentials") + 1]
user = password = None
if not stat.S_IMODE(os.stat(credentials).st_mode) & 0o077:
    parser = configparser.RawConfigParser()
    parser.read(credentials)
    if parser.has_section("PlainTextAuthProvider"):
        user = parser.get("PlainTextAuthProvider", "username")
        password = parser.get("PlainTextAuthProvider", "password")
role = state["roles"].get(user)
if not role or not role["login"] or role["password"] != password:
    save()
    sys.exit("Connection error: ('Unable to connect to any servers', AuthenticationFailed(...))")

LITERAL = r"'((?:[^']|'')*)'"
failed = False
for statement in filter(None, (s.strip() for s in re.split(r";\s*(?=(?:[^']*'[^']*')*[^']*$)", statements))):
    error = None
    if statement == "SELECT release_version FROM system.local":
        print("\n release_version\n-----------------\n           5.0.9\n\n(1 rows)")
    elif m := re.fullmatch(
        r"SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '(\w+)'", statement
    ):
        rows = [m[1]] if m[1] in state["keyspaces"] else []
        print("\n keyspace_name\n---------------")
        print("".join(f" {r}\n" for r in rows) + f"\n({len(rows)} rows)")
    elif not role["superuser"]:
        error = "Unauthorized: only superusers may do this"
    elif m := re.fullmatch(r"CREATE ROLE IF NOT EXISTS (\w+) WITH (.+)", statement):
        options = m[2]
        secret = re.search(r"PASSWORD = " + LITERAL, options)[1].replace("''", "'")
        state["roles"].setdefault(m[1], {
            "password": secret,
            "login": "LOGIN = true" in options,
            "superuser": "SUPERUSER = true" in options,
        })
    elif m := re.fullmatch(r"DROP ROLE IF EXISTS (\w+)", statement):
        if m[1] == user:
            error = "InvalidRequest: Cannot DROP primary role for current login"
        else:
            state["roles"].pop(m[1], None)
    elif m := re.fullmatch(r"ALTER ROLE (\w+) WITH PASSWORD = " + LITERAL, statement):
        state["roles"][m[1]]["password"] = m[2].replace("''", "'")
    elif m := re.fullmatch(r"GRANT (.+) TO (\w+)", statement):
        keyspace = re.search(r"ON KEYSPACE (\w+)", m[1])
        if keyspace and keyspace[1] not in state["keyspaces"]:
            error = f"InvalidRequest: Resource <keyspace {keyspace[1]}> doesn't exist"
        elif m[2] not in state["roles"]:
            error = f"InvalidRequest: {m[2]} doesn't exist"
        else:
            state["grants"].append([m[1], m[2]])
    else:
        error = f"SyntaxException: the stand-in does not know {statement!r}"
    if error:
        print(f"<stdin>:1:{error}", file=sys.stderr)
        failed = True
save()
sys.exit(2 if failed else 0)
"""


@pytest.fixture
def cassandra(tmp_path) -> Any:
    """A stand-in cqlsh on PATH and the role state it reads and changes (a JSON file)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cqlsh = bin_dir / "cqlsh"
    cqlsh.write_text(f"#!{sys.executable}\n{FAKE_CQLSH}")
    cqlsh.chmod(0o755)
    state_path = tmp_path / "cassandra.json"

    class Cassandra:
        def start(self, roles: dict[str, tuple[str, bool]], keyspaces: list[str] = ()) -> None:
            """roles: name -> (password, superuser), every one with LOGIN."""
            state = {
                "roles": {
                    name: {"password": pw, "login": True, "superuser": superuser}
                    for name, (pw, superuser) in roles.items()
                },
                "keyspaces": list(keyspaces),
                "grants": [],
                "calls": [],
            }
            state_path.write_text(json.dumps(state))

        @property
        def state(self) -> dict[str, Any]:
            return json.loads(state_path.read_text())

        def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
            environment = {
                "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "FAKE_CASSANDRA": str(state_path),
                "KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "KAFKAPIPELINE_CASSANDRA_PASSWORD": PIPELINE_PASSWORD,
                **env,
            }
            return run_script(CQL, *args, env=environment, cwd=tmp_path)

    return Cassandra()


FIRST_START = {"cassandra": ("cassandra", True)}


def statements_run(state: dict[str, Any]) -> list[str]:
    return [call["stdin"].strip() for call in state["calls"] if call["stdin"]]


def test_setup_roles_replaces_the_default_superuser_on_first_start(cassandra):
    cassandra.start(FIRST_START)
    result = cassandra.run("setup-roles", "cassandra")
    assert result.returncode == 0, result.stderr
    assert "replaced the default superuser" in result.stdout
    state = cassandra.state
    assert state["roles"] == {
        admin_role(): {"password": ADMIN_PASSWORD, "login": True, "superuser": True},
        "kafkapipeline": {"password": PIPELINE_PASSWORD, "login": True, "superuser": False},
    }
    # It creates its keyspace (bootstrap), so it owns it; there is none to grant yet.
    assert state["grants"] == [["CREATE ON ALL KEYSPACES", "kafkapipeline"]]
    for call in state["calls"]:
        assert call["argv"][-2:] == ["cassandra", "9042"]
        command_line = " ".join(call["argv"])
        assert ADMIN_PASSWORD not in command_line and PIPELINE_PASSWORD not in command_line, command_line
    # The passwords went on stdin; and the logins worked although this ran under umask 022, so the
    # credentials files were private (the stand-in, like cqlsh, ignores one that others can read).
    assert any(ADMIN_PASSWORD in statement for statement in statements_run(state))


def test_setup_roles_on_a_restart_keeps_the_superuser_and_applies_changes(cassandra):
    """Later starts log in as the generated superuser, take a changed pipeline password, and grant a
    keyspace that exists."""
    cassandra.start(
        {admin_role(): (ADMIN_PASSWORD, True), "kafkapipeline": ("the-old-password-123", False)},
        keyspaces=["kafkapipeline"],
    )
    result = cassandra.run("setup-roles", "cassandra")
    assert result.returncode == 0, result.stderr
    assert "replaced" not in result.stdout
    state = cassandra.state
    assert state["roles"]["kafkapipeline"]["password"] == PIPELINE_PASSWORD
    assert not [s for s in statements_run(state) if f"ROLE IF NOT EXISTS {admin_role()}" in s]
    assert ["ALL PERMISSIONS ON KEYSPACE kafkapipeline", "kafkapipeline"] in state["grants"]

    again = cassandra.run("setup-roles", "cassandra")
    assert again.returncode == 0, again.stderr
    assert not [s for s in statements_run(cassandra.state)[len(statements_run(state)) :] if "ALTER" in s]


def test_setup_roles_quotes_a_password_for_cql(cassandra):
    cassandra.start(FIRST_START)
    password = "it's-a-password-with-a-quote"
    assert (
        cassandra.run("setup-roles", "cassandra", KAFKAPIPELINE_CASSANDRA_PASSWORD=password).returncode == 0
    )
    assert cassandra.state["roles"]["kafkapipeline"]["password"] == password


def test_setup_roles_says_which_password_when_nothing_logs_in(cassandra):
    cassandra.start({admin_role(): ("a-different-password", True)})
    result = cassandra.run("setup-roles", "cassandra")
    assert result.returncode == 1
    assert "KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD" in result.stderr
    assert statements_run(cassandra.state) == [], "nothing is changed"


@pytest.mark.parametrize(
    ("role", "keyspace"), [("Robert'); DROP", "kafkapipeline"), ("kafkapipeline", "a-b")]
)
def test_setup_roles_refuses_names_that_are_not_plain_cql(cassandra, role, keyspace):
    cassandra.start(FIRST_START)
    result = cassandra.run(
        "setup-roles", "cassandra", KAFKAPIPELINE_CASSANDRA_USER=role, KAFKAPIPELINE_KEYSPACE=keyspace
    )
    assert result.returncode == 1
    assert "plain CQL names" in result.stderr
    assert cassandra.state["calls"] == []


@pytest.mark.parametrize(
    ("roles", "healthy"),
    [
        (FIRST_START, True),  # before cassandra-init: the default superuser
        ({"other": ("x" * 20, True)}, False),
    ],
    ids=["default-superuser", "no-login"],
)
def test_check_logs_in(cassandra, roles, healthy):
    cassandra.start(roles)
    result = cassandra.run("check")
    assert (result.returncode == 0) is healthy
    assert cassandra.state["calls"][0]["argv"][-2:] == ["127.0.0.1", "9042"]


def test_check_logs_in_as_the_generated_superuser_once_it_exists(cassandra):
    cassandra.start(FIRST_START)
    assert cassandra.run("setup-roles", "cassandra").returncode == 0
    assert cassandra.run("check").returncode == 0


def test_credentials_files_are_removed_when_the_script_ends(cassandra):
    cassandra.start(FIRST_START)
    assert cassandra.run("check").returncode == 0
    for call in cassandra.state["calls"]:
        credentials = Path(call["argv"][call["argv"].index("--credentials") + 1])
        assert not credentials.parent.exists(), credentials


def test_cql_without_the_admin_password_says_so(cassandra):
    cassandra.start(FIRST_START)
    result = cassandra.run("check", KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD="")
    assert result.returncode != 0
    assert "KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD" in result.stderr


def test_scripts_are_executable_bash():
    for script in (KAFKA_HEALTHCHECK, CASSANDRA_ENTRYPOINT, CQL):
        assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0, script
        assert script.stat().st_mode & stat.S_IXUSR, f"{script} is not executable"
