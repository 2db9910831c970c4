"""The stream registry against the live schema: the CQL migrations are the source of truth.

Every migration is applied to a keyspace of this module's own, then each stream's table in
:mod:`kafkapipeline.streams` is compared with what Cassandra reports in ``system_schema.columns``:
column names and CQL types, the partition key and the clustering columns (kind, order, direction).
A migration without its registry line (or the reverse) fails here, naming the difference.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kafkapipeline.cassandra.migrations import apply_pending
from kafkapipeline.streams.base import Table
from kafkapipeline.streams.registry import STREAMS
from tests.conftest import unique_name

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def migrated(cassandra) -> Iterator[str]:
    name = unique_name("streams")
    apply_pending(cassandra, name)
    yield name
    cassandra.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)


def live_columns(session, keyspace: str, table: str) -> list:
    return list(
        session.execute(
            "SELECT column_name, kind, position, type, clustering_order FROM system_schema.columns "
            "WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, table),
            timeout=30,
        )
    )


def drift(table: Table, live: list) -> list[str]:
    """What differs between the registry's ``table`` and the live columns (empty: they agree)."""
    problems = []
    live_types = {row.column_name: row.type for row in live}
    if not live_types:
        return [f"{table.name}: no such table in the live schema"]
    for name in sorted(set(live_types) - set(table.names)):
        problems.append(f"{table.name}.{name} ({live_types[name]}) is in the schema, not in the registry")
    for name in sorted(set(table.names) - set(live_types)):
        problems.append(f"{table.name}.{name} is in the registry, not in the schema")
    for name, cql_type in table.types.items():
        if name in live_types and live_types[name] != cql_type:
            problems.append(f"{table.name}.{name}: registry {cql_type}, schema {live_types[name]}")

    def key(kind: str) -> list:
        return [row for row in sorted(live, key=lambda row: row.position) if row.kind == kind]

    partition_key = tuple(row.column_name for row in key("partition_key"))
    if partition_key != table.partition_key:
        problems.append(f"{table.name}: partition key registry {table.partition_key}, schema {partition_key}")
    clustering = tuple((row.column_name, row.clustering_order) for row in key("clustering"))
    if clustering != table.clustering:
        problems.append(f"{table.name}: clustering registry {table.clustering}, schema {clustering}")
    return problems


@pytest.mark.parametrize("stream", STREAMS.values(), ids=list(STREAMS))
def test_the_registry_matches_the_migrated_tables(cassandra, migrated, stream):
    assert drift(stream.table, live_columns(cassandra, migrated, stream.table.name)) == []


def test_a_migration_without_its_registry_line_is_reported(cassandra, migrated):
    table = STREAMS["tweets"].table
    cassandra.execute(f"ALTER TABLE {migrated}.tweets ADD not_in_registry text", timeout=60)
    try:
        live = live_columns(cassandra, migrated, "tweets")
    finally:
        cassandra.execute(f"ALTER TABLE {migrated}.tweets DROP not_in_registry", timeout=60)
    assert drift(table, live) == ["tweets.not_in_registry (text) is in the schema, not in the registry"]


def test_a_registry_type_or_key_that_differs_is_reported(cassandra, migrated):
    table = STREAMS["weather"].table
    live = live_columns(cassandra, migrated, table.name)
    changed = Table(
        name=table.name,
        columns=tuple(c if c.name != "pressure_hpa" else type(c)(c.name, "double") for c in table.columns),
        partition_key=table.partition_key,
        clustering=(("observed_at", "asc"),),
    )
    assert drift(changed, live) == [
        "weather_reports.pressure_hpa: registry double, schema int",
        "weather_reports: clustering registry (('observed_at', 'asc'),), schema (('observed_at', 'desc'),)",
    ]
