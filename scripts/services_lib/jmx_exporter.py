"""The Prometheus JMX exporter agent Kafka and Cassandra run with: broker and node figures over HTTP.

``io.prometheus.jmx:jmx_prometheus_javaagent`` from Maven Central (one shaded jar, pinned like the
services' jars in services.d/artifacts.sha256), loaded with ``-javaagent:<jar>=<host>:<port>:<rules>``.
It listens on the member's own loopback address (127.0.0.1 for the single nodes), without a login:
it serves read-only figures to the local Prometheus, like the StatsD port beside it, and answers only
to this machine. ``KAFKAPIPELINE_JMX_EXPORTER=0`` starts the JVMs without it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .artifacts import Artifacts
from .common import CONF_DIR, ServiceError

JMX_EXPORTER_VERSION = os.environ.get("JMX_EXPORTER_VERSION", "1.0.1")
#: The agent's port on each Kafka broker and each Cassandra node.
KAFKA_METRICS_DEFAULT_PORT = 9404
CASSANDRA_METRICS_DEFAULT_PORT = 9405


def jmx_exporter_enabled() -> bool:
    value = os.environ.get("KAFKAPIPELINE_JMX_EXPORTER", "1").strip()
    if value not in ("0", "1", ""):
        raise ServiceError(f"KAFKAPIPELINE_JMX_EXPORTER={value!r}: use 1 (the default) or 0")
    return value != "0"


def jmx_exporter_artifacts() -> Artifacts:
    return Artifacts(
        "jmx-exporter", JMX_EXPORTER_VERSION, CONF_DIR / "jmx-exporter-pom.xml", "jmx.exporter.version"
    )


def agent_options(host: str, port: int, rules: str) -> list[str]:
    """The ``-javaagent`` option serving ``services.d/<rules>`` on ``host:port`` (none when switched off)."""
    if not jmx_exporter_enabled():
        return []
    jars = sorted(jmx_exporter_artifacts().lib.glob("jmx_prometheus_javaagent-*.jar"))
    if not jars:
        raise ServiceError("the JMX exporter agent is not in the cache: `scripts/services up` fetches it")
    config: Path = CONF_DIR / rules
    return [f"-javaagent:{jars[0]}={host}:{port}:{config}"]
