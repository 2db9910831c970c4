"""The cluster failover tests' pure helpers: where a transaction's coordinator is, the stall table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.cluster.failover_support import (
    STALL_PREFIX,
    java_string_hash,
    kafka_abs,
    stall_rows,
    stall_table,
    transaction_coordinator,
    transaction_state_partition,
)


@pytest.mark.parametrize(
    ("text", "java"),
    [
        ("", 0),
        ("hello", 99162322),
        ("Hello World", -862545276),  # overflows: negative in Java
        ("polygenelubricants", -(2**31)),  # Integer.MIN_VALUE
        ("\U0001f600", 0xD83D * 31 + 0xDE00),  # a surrogate pair: two UTF-16 code units
    ],
)
def test_the_hash_is_javas_string_hash_code(text, java):
    assert java_string_hash(text) == java


def test_the_partition_is_kafkas_utils_abs_modulo_the_partitions():
    assert kafka_abs(-(2**31)) == 0 and kafka_abs(-5) == 5
    assert transaction_state_partition("polygenelubricants", 50) == 0
    assert transaction_state_partition("Hello World", 50) == 862545276 % 50 == 26
    assert transaction_state_partition("Hello World", 3) == 862545276 % 3


def _metadata(leaders: list[int]) -> SimpleNamespace:
    partitions = {i: SimpleNamespace(id=i, leader=leader) for i, leader in enumerate(leaders)}
    topic = SimpleNamespace(error=None, partitions=partitions)
    admin = SimpleNamespace(list_topics=lambda name, timeout: SimpleNamespace(topics={name: topic}))
    return admin


def test_the_coordinator_is_the_leader_of_that_partition():
    partition = transaction_state_partition("kafkapipeline.drain.t.t.all", 3)
    leaders = [1, 2, 3]
    assert transaction_coordinator(_metadata(leaders), "kafkapipeline.drain.t.t.all") == leaders[partition]
    with pytest.raises(AssertionError, match="no leader"):
        transaction_coordinator(_metadata([-1, -1, -1]), "kafkapipeline.drain.t.t.all")


def _report(nodeid: str, when: str, outcome: str, *props: tuple[str, object]) -> SimpleNamespace:
    return SimpleNamespace(nodeid=nodeid, when=when, outcome=outcome, user_properties=list(props))


def test_the_stall_table_lists_each_recorded_stall_once_with_its_outcome():
    reports = [
        _report("t.py::test_broker[partition_leader]", "call", "passed", (STALL_PREFIX + "broker", 4.25)),
        _report("t.py::test_node", "call", "failed", ("other", 1), (STALL_PREFIX + "node", 0.4)),
        _report("t.py::test_node", "teardown", "passed", (STALL_PREFIX + "node", 0.4)),  # same, later phase
        _report("t.py::test_rf", "call", "passed"),
    ]
    rows = stall_rows(reports)
    assert rows == [
        ("test_broker[partition_leader]", "broker", 4.25, "passed"),
        ("test_node", "node", 0.4, "failed"),
    ]
    lines = stall_table(rows)
    assert lines[0].split() == ["test", "what", "stall", "s", "outcome"]
    assert lines[1].split() == ["test_broker[partition_leader]", "broker", "4.2", "passed"]
    assert lines[2].split() == ["test_node", "node", "0.4", "failed"]
    assert stall_table([]) == []
