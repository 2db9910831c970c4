"""Apache Kafka 4 (KRaft): one JVM that is broker and controller, on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import shutil
import string
import subprocess
import time
import uuid
from pathlib import Path

from .artifacts import Artifacts, kafka_artifacts
from .common import CONF_DIR, REPO, SCRIPTS, ServiceError, env_port, say, secret, state_root, write_private
from .jmx_exporter import KAFKA_METRICS_DEFAULT_PORT, agent_options, jmx_exporter_enabled
from .jvm import JvmService, find_java
from .probes import kafka_probe

#: The broker's one super user: inter-broker and controller traffic, and scripts/services itself.
ADMIN_USER = "admin"

# Kafka's own start script uses a 1 GiB heap; a single dev broker never needs more.
KAFKA_HEAP = os.environ.get("KAFKA_HEAP", "1G")


class Kafka(JvmService):
    name = "kafka"
    port_env = "KAFKA_PORT"
    default_port = 9092
    main_log_name = "server.log"

    def __init__(self, state: Path):
        super().__init__(state)
        self.controller_port = env_port("KAFKA_CONTROLLER_PORT", 9093)
        self.internal_port = env_port("KAFKA_INTERNAL_PORT", 9094)
        self.metrics_port = env_port("KAFKA_METRICS_PORT", KAFKA_METRICS_DEFAULT_PORT)
        self.config = self.home / "config"
        self.data = self.home / "data"

    def artifacts(self) -> Artifacts:
        return kafka_artifacts()

    def java(self) -> Path:
        return find_java("kafka", 17)

    def all_ports(self) -> dict[str, int]:
        ports = {
            "KAFKA_PORT": self.port,
            "KAFKA_INTERNAL_PORT": self.internal_port,
            "KAFKA_CONTROLLER_PORT": self.controller_port,
        }
        if jmx_exporter_enabled():
            ports["KAFKA_METRICS_PORT"] = self.metrics_port
        return ports

    def admin_password(self) -> str:
        return secret(state_root(), "kafka-admin", "KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD")

    def cluster_id(self) -> str:
        f = self.home / "cluster-id"
        try:
            cid = f.read_text().strip()
            if cid:
                return cid
        except OSError:
            pass
        # Kafka's Uuid.randomUuid().toString(): URL-safe base64 of 16 bytes, no padding.
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        f.write_text(cid + "\n")
        return cid

    def rendered_properties(self) -> str:
        """server.properties from the template, with this node's addresses and the super user's JAAS login."""
        tmpl = string.Template((CONF_DIR / "kafka-server.properties.tmpl").read_text())
        password = self.admin_password()
        plain_jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{ADMIN_USER}" password="{password}" user_{ADMIN_USER}="{password}";'
        )
        return self.server_properties(
            tmpl.substitute(
                host=self.host,
                port=self.port,
                internal_port=self.internal_port,
                controller_port=self.controller_port,
                data_dir=self.data,
                plain_jaas=plain_jaas,
                admin_user=ADMIN_USER,
            )
        )

    def server_properties(self, text: str) -> str:
        """The rendered server.properties (cluster members adjust it)."""
        return text

    def format_args(self) -> list[str]:
        """How StorageTool formats: standalone = this node is the only voter."""
        return ["--standalone"]

    def prepare_jvm(self, java: Path, arts: Artifacts) -> None:
        self.config.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        # It holds the super user's password.
        write_private(self.config / "server.properties", self.rendered_properties())
        shutil.copyfile(CONF_DIR / "kafka-log4j2.xml", self.config / "log4j2.xml")
        if (self.data / "meta.properties").exists():
            return
        # First start: format the KRaft metadata log (standalone = this node is the only voter).
        cid = self.cluster_id()
        cmd = [
            str(java),
            "-Xmx256m",
            "-cp",
            arts.classpath(),
            f"-Dlog4j2.configurationFile={self.config / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.logs}",
            "kafka.tools.StorageTool",
            "format",
            *self.format_args(),
            "-t",
            cid,
            "-c",
            str(self.config / "server.properties"),
        ]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=self.home)
        if proc.returncode != 0:
            raise ServiceError(
                f"kafka: formatting KRaft storage failed (exit {proc.returncode}):\n"
                + (proc.stdout + proc.stderr).strip()
            )
        say(f"{self.name}: formatted KRaft storage (cluster id {cid}) in {time.monotonic() - t0:.1f}s")

    def command_jvm(self, java: Path, arts: Artifacts) -> list[str]:
        return [
            str(java),
            # Same heap and G1 settings as Kafka's kafka-server-start.sh / kafka-run-class.sh.
            f"-Xms{KAFKA_HEAP}",
            f"-Xmx{KAFKA_HEAP}",
            "-server",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:MaxInlineLevel=15",
            "-Djava.awt.headless=true",
            f"-Xlog:gc*:file={self.logs / 'gc.log'}:time,tags:filecount=3,filesize=10M",
            f"-Dlog4j2.configurationFile={self.config / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.logs}",
            # Broker figures for Prometheus on this node's address (services_lib/jmx_exporter.py).
            *agent_options(self.host, self.metrics_port, "jmx-kafka.yml"),
            *self.markers(),
            "-cp",
            arts.classpath(),
            "kafka.Kafka",
            str(self.config / "server.properties"),
        ]

    def probe(self) -> dict:
        return kafka_probe(self.internal_port, host=self.host, plain=(ADMIN_USER, self.admin_password()))

    def after_healthy(self) -> str:
        """Create the pipeline's SCRAM users and ACLs (services_lib/kafka_users.py, in the .venv)."""
        python = REPO / ".venv" / "bin" / "python"
        if not python.exists():
            raise ServiceError(
                f"kafka: {python} is missing, and it creates the pipeline's Kafka users: run `make install`"
            )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SCRIPTS), str(REPO / "plugins")]),
            "KAFKAPIPELINE_STATE": str(state_root()),
        }
        proc = subprocess.run(
            [str(python), "-m", "services_lib.kafka_users", f"{self.host}:{self.internal_port}"],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
        )
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()
            raise ServiceError(detail or f"kafka: creating the pipeline's users exited {proc.returncode}")
        return proc.stdout.strip()

    def describe(self, info: dict) -> str:
        brokers, topics = len(info["brokers"]), info["topics"]
        return f"cluster {info.get('cluster_id')}, {brokers} broker(s), {topics} topic(s)"
