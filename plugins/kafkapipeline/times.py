"""Aware UTC datetimes: the one normalisation every module uses (naive input is taken as UTC)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one (as the Cassandra driver returns) is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def isoformat_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``: the wire form of every timestamp."""
    return utc(moment).isoformat().replace("+00:00", "Z")
