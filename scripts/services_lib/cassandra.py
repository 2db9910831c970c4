"""Apache Cassandra 5.0: one node, CQL on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import string
import time
from pathlib import Path

from .artifacts import Artifacts, cassandra_artifacts
from .common import CONF_DIR, ServiceError, env_port, secret, state_root, write_private
from .jmx_exporter import CASSANDRA_METRICS_DEFAULT_PORT, agent_options, jmx_exporter_enabled
from .jvm import JvmService, find_java
from .probes import CqlLoginRefused, cassandra_probe, cql_query

#: Cassandra's own first superuser, replaced at first start (its password is public knowledge).
DEFAULT_LOGIN = ("cassandra", "cassandra")
#: The generated superuser that replaces it: scripts/services only, never given to Airflow.
ADMIN_ROLE = "kafkapipeline_admin"
#: The JMX user of `scripts/services nodetool`.
JMX_USER = "nodetool"
#: bcrypt's work factor (log2 rounds) for the roles' stored passwords; Cassandra's default is 10.
#: Cassandra checks bcrypt on every login, and every drain task logs in twice: at 10 that is about
#: 0.2 s of Cassandra's CPU per task. The work factor only slows guessing a weak password from its
#: stored hash; the generated ones are 192 random bits (docs/security.md).
BCRYPT_LOG2_ROUNDS = 4


def admin_login() -> tuple[str, str]:
    return ADMIN_ROLE, secret(state_root(), "cassandra-admin", "KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD")


def pipeline_login() -> tuple[str, str]:
    """The pipeline's role: the login of the cassandra_default connection scripts/env.sh builds."""
    user = os.environ.get("KAFKAPIPELINE_CASSANDRA_USER") or "kafkapipeline"
    return user, secret(state_root(), "cassandra", "KAFKAPIPELINE_CASSANDRA_PASSWORD")


def cql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Cassandra's cassandra-env.sh would size the heap from RAM (max(min(RAM/2, 1G), min(RAM/4, 8G))).
# A single dev/CI node with little data, sharing the machine with Kafka, Airflow and pytest, needs
# far less: a fixed 1 GiB keeps G1 pauses short. Raise with CASSANDRA_HEAP=2G if a load test needs it.
CASSANDRA_HEAP = os.environ.get("CASSANDRA_HEAP", "1G")

# JPMS flags from Apache Cassandra 5.0 conf/jvm17-server.options (needed on Java 17: Cassandra
# reaches into JDK internals for off-heap memory, JMX, the attach API and its UDF compiler).
# fmt: off
CASSANDRA_JVM17_OPTS = [
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    # JMX with a login: Cassandra wraps the JDK's password-file authenticator.
    "--add-exports", "java.management/com.sun.jmx.remote.security=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    # Netty settings from the same file.
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
]
# fmt: on


class Cassandra(JvmService):
    name = "cassandra"
    port_env = "CASSANDRA_PORT"
    default_port = 9042
    main_log_name = "system.log"

    def __init__(self, state: Path):
        super().__init__(state)
        self.storage_port = env_port("CASSANDRA_STORAGE_PORT", 7000)
        self.ssl_storage_port = env_port("CASSANDRA_SSL_STORAGE_PORT", 7001)
        self.jmx_port = env_port("CASSANDRA_JMX_PORT", 7199)
        self.metrics_port = env_port("CASSANDRA_METRICS_PORT", CASSANDRA_METRICS_DEFAULT_PORT)
        self.config = self.home / "config"

    def artifacts(self) -> Artifacts:
        return cassandra_artifacts()

    def java(self) -> Path:
        # Cassandra 5.0 runs on Java 11 or 17 only; this script passes the Java 17 flag set.
        return find_java("cassandra", 17, 17)

    def all_ports(self) -> dict[str, int]:
        ports = {
            "CASSANDRA_PORT": self.port,
            "CASSANDRA_STORAGE_PORT": self.storage_port,
            "CASSANDRA_JMX_PORT": self.jmx_port,
        }
        if jmx_exporter_enabled():
            ports["CASSANDRA_METRICS_PORT"] = self.metrics_port
        return ports

    def preexec(self) -> None:
        # Cassandra calls mlockall(MCL_CURRENT) at startup. With an unlimited RLIMIT_MEMLOCK, or as root
        # (CAP_IPC_LOCK ignores the limit), that pins the whole committed heap at once. A dev node on a
        # swapless box gains nothing from pinning, so cap the limit and, as root, drop CAP_IPC_LOCK from the
        # bounding set before exec: mlockall then fails with one WARN and memory becomes resident as used.
        # Best effort: any failure leaves things as is.
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 * 1024, 64 * 1024))
        except (ImportError, ValueError, OSError):
            pass
        if os.geteuid() == 0:
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                PR_CAPBSET_DROP, CAP_IPC_LOCK = 24, 14
                libc.prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0)
            except (ImportError, OSError, AttributeError):
                pass

    def cassandra_yaml(self, text: str) -> str:
        """The rendered cassandra.yaml (cluster members adjust it)."""
        return text

    def jmx_password_file(self) -> Path:
        """``nodetool <password>``, 0600: the JVM's JMX login file, and nodetool's ``-pwf``."""
        return self.config / "jmxremote.password"

    def write_jmx_files(self) -> None:
        password = secret(state_root(), "cassandra-jmx", "KAFKAPIPELINE_CASSANDRA_JMX_PASSWORD")
        # The JVM refuses a JMX password file others can read.
        write_private(self.jmx_password_file(), f"{JMX_USER} {password}\n")
        write_private(self.config / "jmxremote.access", f"{JMX_USER} readwrite\n")

    def login(self) -> tuple[str, str]:
        """The generated superuser once it exists; Cassandra's default one before the first setup."""
        admin = admin_login()
        try:
            cql_query(self.port, "SELECT release_version FROM system.local", host=self.host, login=admin)
            return admin
        except CqlLoginRefused:
            return DEFAULT_LOGIN

    def auth_replication(self) -> str | None:
        """How system_auth is replicated (a cluster replicates it like the keyspace); None: as it is."""
        return None

    def setup_roles(self) -> str:
        """Replace the default superuser, create the pipeline's role and grant it its keyspace. Idempotent."""

        def run(statement: str, login: tuple[str, str]) -> list:
            return cql_query(self.port, statement, host=self.host, timeout=30, login=login)

        def rehash(role: str, role_password: str) -> None:
            """Set the password again if its stored hash has another work factor (made before it was set)."""
            stored = run(f"SELECT salted_hash FROM system_auth.roles WHERE role = {cql_literal(role)}", admin)
            prefix = f"$2a${BCRYPT_LOG2_ROUNDS:02d}$".encode()
            if stored and not bytes(stored[0][0] or b"").startswith(prefix):
                run(f"ALTER ROLE {role} WITH PASSWORD = {cql_literal(role_password)}", admin)

        login = self.login()
        admin = admin_login()
        replication = self.auth_replication()
        if replication:
            run(f"ALTER KEYSPACE system_auth WITH replication = {replication}", login)
            self.wait_for_schema_agreement(login)
        if login == DEFAULT_LOGIN:
            run(
                f"CREATE ROLE IF NOT EXISTS {admin[0]} WITH SUPERUSER = true AND LOGIN = true "
                f"AND PASSWORD = {cql_literal(admin[1])}",
                login,
            )
            run(f"DROP ROLE IF EXISTS {DEFAULT_LOGIN[0]}", admin)
        user, password = pipeline_login()
        run(
            f"CREATE ROLE IF NOT EXISTS {user} WITH LOGIN = true AND PASSWORD = {cql_literal(password)}",
            admin,
        )
        try:
            run("SELECT release_version FROM system.local", (user, password))
        except CqlLoginRefused:  # its password was set (KAFKAPIPELINE_CASSANDRA_PASSWORD) or changed
            run(f"ALTER ROLE {user} WITH PASSWORD = {cql_literal(password)}", admin)
        for role, role_password in (admin, (user, password)):
            rehash(role, role_password)
        # It creates its keyspace (bootstrap) and so owns it; a keyspace made before it existed is granted.
        run(f"GRANT CREATE ON ALL KEYSPACES TO {user}", admin)
        keyspace = os.environ.get("KAFKAPIPELINE_KEYSPACE") or "kafkapipeline"
        where = f"keyspace_name = {cql_literal(keyspace)}"
        found = run(f"SELECT keyspace_name FROM system_schema.keyspaces WHERE {where}", admin)
        if found:
            run(f"GRANT ALL PERMISSIONS ON KEYSPACE {keyspace} TO {user}", admin)
        replaced = " (replaced the default superuser)" if login == DEFAULT_LOGIN else ""
        return f"roles {admin[0]} (superuser) and {user} (the pipeline's) in place{replaced}"

    def wait_for_schema_agreement(self, login: tuple[str, str], timeout: float = 60.0) -> None:
        """Until every node reports this node's schema version (system_auth's new replication included)."""
        deadline = time.monotonic() + timeout
        while True:
            mine = cql_query(
                self.port, "SELECT schema_version FROM system.local", host=self.host, login=login
            )
            peers = cql_query(
                self.port, "SELECT schema_version FROM system.peers_v2", host=self.host, login=login
            )
            if all(row[0] == mine[0][0] for row in peers) or time.monotonic() > deadline:
                return
            time.sleep(0.5)

    def wait_for_grant(self, hosts: list[str], timeout: float = 60.0) -> None:
        """Until each of ``hosts`` reads the pipeline role's CREATE grant (its own replicas answer)."""
        user = pipeline_login()[0]
        deadline = time.monotonic() + timeout
        for host in hosts:
            while True:
                rows = cql_query(self.port, f"LIST ALL PERMISSIONS OF {user}", host=host, login=admin_login())
                if any(b"CREATE" in (cell or b"") for row in rows for cell in row):
                    break
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"cassandra: {host} does not see the grants of role {user} after {timeout:.0f}s"
                    )
                time.sleep(0.5)

    def after_healthy(self) -> str:
        try:
            return self.setup_roles()
        except CqlLoginRefused as err:
            raise ServiceError(
                f"cassandra: {err}: neither the generated superuser ({ADMIN_ROLE}, password in "
                f"{state_root() / 'secrets' / 'cassandra-admin.password'}) nor the default one logs in"
            ) from err

    def prepare_jvm(self, java: Path, arts: Artifacts) -> None:
        self.config.mkdir(parents=True, exist_ok=True)
        (self.home / "triggers").mkdir(exist_ok=True)
        tmpl = string.Template((CONF_DIR / "cassandra.yaml.tmpl").read_text())
        (self.config / "cassandra.yaml").write_text(
            self.cassandra_yaml(
                tmpl.substitute(
                    host=self.host,
                    port=self.port,
                    storage_port=self.storage_port,
                    ssl_storage_port=self.ssl_storage_port,
                    data_dir=self.home,
                )
            )
        )
        shutil.copyfile(CONF_DIR / "cassandra-logback.xml", self.config / "logback.xml")
        self.write_jmx_files()

    def command_jvm(self, java: Path, arts: Artifacts) -> list[str]:
        jamm = sorted(arts.lib.glob("jamm-*.jar"))
        return [
            str(java),
            f"-Xms{CASSANDRA_HEAP}",
            f"-Xmx{CASSANDRA_HEAP}",
            # From conf/jvm-server.options (minus -XX:+AlwaysPreTouch, which would make the
            # whole heap resident at once, and -XX:-UseBiasedLocking, deprecated on 17).
            "-ea",
            "-da:net.openhft...",
            "-XX:+UseThreadPriorities",
            "-Xss256k",
            "-XX:+UseTLAB",
            "-XX:+ResizeTLAB",
            "-XX:+PerfDisableSharedMem",
            "-Djava.net.preferIPv4Stack=true",
            # G1 settings from conf/jvm17-server.options (G1HeapRegionSize=16m left out: meant
            # for big heaps; with 1 GiB the JVM's own choice is better).
            "-XX:+UseG1GC",
            "-XX:+ParallelRefProcEnabled",
            "-XX:MaxTenuringThreshold=1",
            "-XX:G1RSetUpdatingPauseTimePercent=5",
            "-XX:MaxGCPauseMillis=300",
            "-XX:InitiatingHeapOccupancyPercent=70",
            *CASSANDRA_JVM17_OPTS,
            # From cassandra-env.sh (which kills the JVM on OOM: a half-dead node is worse).
            "-XX:+ExitOnOutOfMemoryError",
            *([f"-javaagent:{jamm[0]}"] if jamm else []),
            # Node figures for Prometheus on this node's address (services_lib/jmx_exporter.py).
            *agent_options(self.host, self.metrics_port, "jmx-cassandra.yml"),
            f"-Xlog:gc=info,heap*=warning,safepoint=warning:file={self.logs / 'gc.log'}"
            ":time,uptime,pid,tid,level:filecount=3,filesize=10M",
            # JMX on loopback only, with a login (nodetool's is in jmxremote.password, 0600).
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            "-Dcom.sun.management.jmxremote.authenticate=true",
            f"-Dcom.sun.management.jmxremote.password.file={self.jmx_password_file()}",
            f"-Dcom.sun.management.jmxremote.access.file={self.config / 'jmxremote.access'}",
            "-Djava.rmi.server.hostname=127.0.0.1",
            # A lone seed node: no need to wait for gossip to settle before serving clients.
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.superuser_setup_delay_ms=0",
            f"-Dcassandra.auth_bcrypt_gensalt_log2_rounds={BCRYPT_LOG2_ROUNDS}",
            # Dev speed: estimate the memtable row overhead in 100 steps, not 100000 (a faster start).
            "-Dcassandra.memtable_row_overhead_computation_step=100",
            f"-Dcassandra.config=file://{self.config / 'cassandra.yaml'}",
            f"-Dlogback.configurationFile={self.config / 'logback.xml'}",
            f"-Dcassandra.logdir={self.logs}",
            f"-Dcassandra.storagedir={self.home}",
            f"-Dcassandra.triggers_dir={self.home / 'triggers'}",
            "-Dcassandra-foreground=yes",
            *self.markers(),
            "-cp",
            os.pathsep.join([str(self.config), arts.classpath()]),
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def probe(self) -> dict:
        try:
            return cassandra_probe(self.port, host=self.host, login=admin_login())
        except CqlLoginRefused:
            return cassandra_probe(self.port, host=self.host, login=DEFAULT_LOGIN)

    def describe(self, info: dict) -> str:
        return f"release {info['release_version']}"
