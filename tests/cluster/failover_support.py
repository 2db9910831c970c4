"""Helpers of the failover tests that need no cluster to be understood (unit-tested in tests/unit).

* Where the drain's transaction lives: Kafka keeps a transactional id's state in partition
  ``Utils.abs(transactionalId.hashCode()) % partitions`` of ``__transaction_state``, and that
  partition's leader is the id's transaction coordinator (confluent-kafka has no admin call
  for it).
* The stall table: each failover test records its stall with ``record_property``; the cluster
  conftest prints them in one table at the end of the run (passing tests' output is hidden).
* The health figures the ``pipeline_health`` task would write now, from a fresh session.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

TRANSACTION_STATE = "__transaction_state"
#: ``record_property`` names of stalls start with this; the rest names what stalled.
STALL_PREFIX = "stall: "


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode()``: 31-based over UTF-16 code units, as a signed 32-bit int."""
    units = text.encode("utf-16-be")
    value = 0
    for i in range(0, len(units), 2):
        value = (31 * value + int.from_bytes(units[i : i + 2], "big")) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def kafka_abs(value: int) -> int:
    """Kafka's ``Utils.abs``: ``Integer.MIN_VALUE`` maps to 0, not to itself."""
    return 0 if value == -(1 << 31) else abs(value)


def transaction_state_partition(transactional_id: str, partitions: int) -> int:
    """The ``__transaction_state`` partition holding ``transactional_id`` (its coordinator's)."""
    return kafka_abs(java_string_hash(transactional_id)) % partitions


def transaction_coordinator(admin: Any, transactional_id: str) -> int:
    """Broker id leading the transaction state partition of ``transactional_id`` now."""
    found = admin.list_topics(TRANSACTION_STATE, timeout=10).topics.get(TRANSACTION_STATE)
    assert found is not None and found.error is None and found.partitions, (
        f"{TRANSACTION_STATE} does not exist yet (no transactional producer has started)"
    )
    partition = transaction_state_partition(transactional_id, len(found.partitions))
    leader = found.partitions[partition].leader
    assert leader >= 0, f"{TRANSACTION_STATE} partition {partition} has no leader"
    return leader


def ensure_transaction_state(kafka_hook: Any, timeout: float = 60) -> None:
    """Start (and drop) a throwaway transactional producer: Kafka creates ``__transaction_state``."""
    producer = kafka_hook.producer(**{"transactional.id": f"failover-tests.warmup.{time.time_ns()}"})
    producer.init_transactions(timeout)


def stall_rows(reports: Iterable[Any]) -> list[tuple[str, str, float, str]]:
    """(test, what stalled, seconds, outcome) of every stall recorded by a test's call phase."""
    rows = []
    for report in reports:
        if getattr(report, "when", None) != "call":
            continue
        test = report.nodeid.split("::")[-1]
        for name, value in getattr(report, "user_properties", ()):
            if str(name).startswith(STALL_PREFIX):
                rows.append((test, str(name)[len(STALL_PREFIX) :], float(value), report.outcome))
    return rows


def stall_table(rows: Sequence[tuple[str, str, float, str]]) -> list[str]:
    """Fixed-width lines: the test, what stalled, the seconds, the test's outcome."""
    if not rows:
        return []
    header = ("test", "what", "stall s", "outcome")
    cells = [header, *((test, what, f"{seconds:.1f}", outcome) for test, what, seconds, outcome in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  ".join(
            cell.rjust(w) if i == 2 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


def cluster_health(topics: Sequence[str], expected: int = 3) -> dict[str, Any]:
    """The cluster figures ``pipeline_health`` would write now, by metric (the topics' own are
    left out): a fresh session and admin client, as each run of the task has."""
    from kafkapipeline import settings
    from kafkapipeline.cassandra.session import cassandra_session
    from kafkapipeline.health.report import HealthThresholds
    from kafkapipeline.health.task import cluster_figures

    thresholds = HealthThresholds(expected_brokers=expected, expected_cassandra_nodes=expected)
    with cassandra_session() as session:
        figures = cluster_figures(session, topics, thresholds, settings.KAFKA_CONN_ID)
    return {f.metric: f for f in figures if f.subject in ("kafka", "cassandra")}


def wait_for_health(metric: str, status: str, topics: Sequence[str], timeout: float = 90) -> Any:
    """Until the figure ``metric`` has ``status`` (a broker is fenced after its session timeout,
    a fresh driver may not have tried a dead node yet); returns the figure."""
    deadline = time.monotonic() + timeout
    while True:
        figure = cluster_health(topics).get(metric)
        if figure is not None and figure.status == status:
            return figure
        assert time.monotonic() < deadline, f"{metric} never turned {status}: {figure}"
        time.sleep(2)
