"""Every stream, by name and by table: the one list the drains, bootstrap, purge, health, CSV
import and export iterate over."""

from __future__ import annotations

from kafkapipeline.streams.base import Stream
from kafkapipeline.streams.tweets import TWEETS
from kafkapipeline.streams.weather import WEATHER

#: Every stream, by name.
STREAMS: dict[str, Stream] = {stream.name: stream for stream in (TWEETS, WEATHER)}
#: Every stream, by table name.
BY_TABLE: dict[str, Stream] = {stream.table.name: stream for stream in STREAMS.values()}


def by_name(name: str) -> Stream:
    """The stream called ``name`` (a drain task's argument, resolved once when it runs)."""
    try:
        return STREAMS[name]
    except KeyError:
        raise ValueError(f"stream must be one of {', '.join(STREAMS)}, got {name!r}") from None


def by_table(table: str) -> Stream:
    try:
        return BY_TABLE[table]
    except KeyError:
        raise ValueError(f"no stream writes table {table!r}; known: {sorted(BY_TABLE)}") from None


def topic_tables() -> dict[str, str]:
    """Each stream's topic (read from the environment now) and the table it fills."""
    return {stream.topic(): stream.table.name for stream in STREAMS.values()}


def column_types() -> dict[str, str]:
    """CQL type of every column of every stream's table (a name has one type across tables)."""
    types: dict[str, str] = {}
    for stream in STREAMS.values():
        for name, cql_type in stream.table.types.items():
            if types.setdefault(name, cql_type) != cql_type:
                raise ValueError(f"column {name} has two types: {types[name]} and {cql_type}")
    return types
