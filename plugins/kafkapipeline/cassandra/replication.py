"""Replication and consistency on a cluster: the keyspace's replication factor, the read and write levels.

Kept apart from :mod:`kafkapipeline.settings` (which validates the variables with these) so
both stay small; nothing here touches a network.
"""

from __future__ import annotations

import ast
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

#: Consistency levels a write may use (SERIAL levels are for conditional updates only).
WRITE_CONSISTENCIES = (
    "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE",
)  # fmt: skip
#: Levels a read may use (ANY and EACH_QUORUM are write-only; Cassandra refuses them for reads).
READ_CONSISTENCIES = (
    "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "LOCAL_ONE", "SERIAL", "LOCAL_SERIAL",
)  # fmt: skip
#: Levels one replica satisfies: refused for pipeline writes once the keyspace has RF 3 or more.
WEAK_CONSISTENCIES = ("ANY", "ONE", "LOCAL_ONE")


def replication_factor(replication: str) -> int:
    """The largest per-datacenter replication factor of a CQL replication map.

    ``{'class': 'SimpleStrategy', 'replication_factor': 3}`` gives 3;
    ``{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}`` gives 3.
    """
    try:
        parsed = ast.literal_eval(replication)
    except (ValueError, SyntaxError):
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("class"), str):
        raise ValueError(
            "not a CQL replication map such as {'class': 'SimpleStrategy', 'replication_factor': 3}"
        )
    factors = {k: v for k, v in parsed.items() if k != "class"}
    if not factors:
        raise ValueError("the replication map names no replication factor")
    try:
        values = [int(v) for v in factors.values()]
    except (TypeError, ValueError):
        raise ValueError(f"replication factors must be whole numbers, got {factors}") from None
    if min(values) < 0 or max(values) < 1:
        raise ValueError(f"replication factors must be >= 0 and one >= 1, got {factors}")
    return max(values)


def checked_replication(value: str) -> str:
    """``value`` if it is a replication map with a factor (raises saying what is wrong)."""
    replication_factor(value)
    return value


def _checked_level(value: object, kind: str, levels: tuple[str, ...]) -> object:
    if not isinstance(value, str):
        return value
    value = value.strip().upper()
    if value not in levels:
        raise ValueError(f"not a {kind} consistency level; one of {', '.join(levels)}")
    return value


def checked_consistency(value: object) -> object:
    """``value`` upper-cased if it names a write consistency level."""
    return _checked_level(value, "write", WRITE_CONSISTENCIES)


def checked_read_consistency(value: object) -> object:
    """``value`` upper-cased if it names a read consistency level."""
    return _checked_level(value, "read", READ_CONSISTENCIES)


def check_pipeline_writes(consistency: str, replication: str) -> None:
    """Refuse a level one replica satisfies once the keyspace keeps 3 or more copies."""
    rf = replication_factor(replication)
    if rf >= 3 and consistency in WEAK_CONSISTENCIES:
        raise ValueError(
            f"KAFKAPIPELINE_WRITE_CONSISTENCY={consistency} with replication factor {rf} "
            "(KAFKAPIPELINE_REPLICATION): a write acknowledged by one replica is lost when that node "
            "dies; use LOCAL_QUORUM (or QUORUM, EACH_QUORUM) for pipeline writes"
        )


def write_consistency() -> int:
    """The driver's ``ConsistencyLevel`` for every pipeline write (``KAFKAPIPELINE_WRITE_CONSISTENCY``).

    The drain, CSV import, rescore, purge, health and audit rows and the migration history all
    write at this level, so none is acknowledged by fewer replicas than the settings ask.
    """
    from cassandra import ConsistencyLevel

    from kafkapipeline import settings

    return getattr(ConsistencyLevel, settings.current().write_consistency)


def read_consistency() -> int:
    """The driver's ``ConsistencyLevel`` for reads (``KAFKAPIPELINE_READ_CONSISTENCY``).

    Sessions get it as their default (:func:`kafkapipeline.cassandra.session.use_settings_consistency`),
    instead of the driver's LOCAL_ONE: with LOCAL_QUORUM on both sides, a read sees every
    acknowledged write even while one replica of three is down or behind.
    """
    from cassandra import ConsistencyLevel

    from kafkapipeline import settings

    return getattr(ConsistencyLevel, settings.current().read_consistency)


#: Field types for :class:`kafkapipeline.settings.PipelineSettings`.
Replication = Annotated[str, AfterValidator(checked_replication)]
WriteConsistency = Annotated[str, BeforeValidator(checked_consistency)]
ReadConsistency = Annotated[str, BeforeValidator(checked_read_consistency)]
