"""Retention: how long each table and topic keeps data, and the purge of expired day partitions.

Data tables are purged by (city, day) partition, counting from the row's *day* (its event time, which
a TTL could not), per ``KAFKAPIPELINE_RETENTION_DAYS_*`` or the DAG's Params; **0, the default, keeps
data forever**. Each run sweeps the ``sweep_days`` days just past the horizon for the configured cities
(listing partitions is a full scan). Operational tables expire by a migration's ``default_time_to_live``;
topics by the ``retention.ms`` bootstrap sets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field, validate_call

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import write_consistency
from kafkapipeline.streams.registry import STREAMS, by_table

log = logging.getLogger(__name__)

#: Data tables purged by day partition, and the variable holding each one's retention in days.
RETENTION_ENV = {stream.table.name: stream.retention_env for stream in STREAMS.values()}
#: Tables whose retention is a TTL (migration 0007).
TTL_TABLES = ("drain_batches", "pipeline_health")
DEFAULT_SWEEP_DAYS = 7
MAX_SWEEP_DAYS = 36_600
CQL_TIMEOUT_SECONDS = 60.0


def retention_days(table: str, value: int | str | None = None) -> int:
    """A table's retention in days: ``value`` (the Param) when given, else its setting, else 0 (forever)."""
    if table not in RETENTION_ENV:
        raise ValueError(f"no day-partition retention for table {table!r}; known: {sorted(RETENTION_ENV)}")
    source = "the Param"
    if value is None or str(value).strip() == "":
        value = settings.param_or_setting(None, by_table(table).retention_setting)  # checked >= 0
        source = RETENTION_ENV[table]
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"retention of {table} ({source}) must be a whole number of days, got {value!r}"
        ) from None
    if days < 0:
        raise ValueError(f"retention of {table} ({source}) must be >= 0 days (0 keeps forever), got {days}")
    return days


def expired_days(today: date, retention: int, sweep_days: int) -> list[date]:
    """The ``sweep_days`` days just older than the retention, oldest first; [] when kept forever.

    With a retention of N days the kept days are today and the N-1 before it; the day N days
    ago is the newest expired one.
    """
    if sweep_days < 1:
        raise ValueError(f"sweep_days must be at least 1, got {sweep_days}")
    if retention == 0:
        return []
    newest_expired = today - timedelta(days=retention)
    return [newest_expired - timedelta(days=n) for n in reversed(range(sweep_days))]


@dataclass
class TablePurge:
    """What the purge of one table found and deleted."""

    table: str
    retention_days: int
    kept_from: str | None
    days_checked: int = 0
    partitions_found: int = 0
    partitions_deleted: int = 0
    rows: int = 0
    purged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "retention_days": self.retention_days,
            "kept_from": self.kept_from,
            "days_checked": self.days_checked,
            "partitions_found": self.partitions_found,
            "partitions_deleted": self.partitions_deleted,
            "rows": self.rows,
            "purged": self.purged,
        }


def purge_table(
    session: Any,
    keyspace: str,
    table: str,
    *,
    retention: int,
    cities: Sequence[str],
    today: date,
    sweep_days: int = DEFAULT_SWEEP_DAYS,
    dry_run: bool = False,
) -> TablePurge:
    """Delete the expired (city, day) partitions of ``table``, counting each first (``dry_run`` only counts).

    A partition that holds no row gets no tombstone.
    """
    days = expired_days(today, retention, sweep_days)
    result = TablePurge(
        table=table,
        retention_days=retention,
        kept_from=(today - timedelta(days=retention - 1)).isoformat() if retention else None,
        days_checked=len(days),
    )
    if not days:
        log.info("%s.%s: retention 0, kept forever", keyspace, table)
        return result
    count = session.prepare(f"SELECT COUNT(*) FROM {keyspace}.{table} WHERE city = ? AND day = ?")
    delete = session.prepare(f"DELETE FROM {keyspace}.{table} WHERE city = ? AND day = ?")
    delete.consistency_level = write_consistency()  # a purge is a write like any other
    for city in cities:
        for day in days:
            rows = session.execute(count, (city, day), timeout=CQL_TIMEOUT_SECONDS).one()[0]
            if not rows:
                continue
            result.partitions_found += 1
            result.rows += rows
            result.purged.append(f"{city}/{day.isoformat()}: {rows}")
            if not dry_run:
                session.execute(delete, (city, day), timeout=CQL_TIMEOUT_SECONDS)
                result.partitions_deleted += 1
            log.info(
                "%s.%s: %s %d rows of %s %s",
                keyspace,
                table,
                "would purge" if dry_run else "purged",
                rows,
                city,
                day,
            )
    return result


def ttl_in_force(session: Any, keyspace: str) -> dict[str, int | None]:
    """``default_time_to_live`` (seconds) of the TTL tables, as Cassandra has it now."""
    rows = session.execute(
        "SELECT table_name, default_time_to_live FROM system_schema.tables WHERE keyspace_name = %s",
        (keyspace,),
        timeout=CQL_TIMEOUT_SECONDS,
    )
    found = {row.table_name: row.default_time_to_live for row in rows}
    return {table: found.get(table) for table in TTL_TABLES}


@validate_call
def purge_expired(
    *,
    retention: Mapping[str, int | str | None] | None = None,
    cities: Sequence[str] | None = None,
    sweep_days: Annotated[int, Field(strict=True, ge=1, le=MAX_SWEEP_DAYS)] = DEFAULT_SWEEP_DAYS,
    dry_run: bool = False,
    today: date | None = None,
    keyspace: str | None = None,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
) -> dict[str, Any]:
    """Purge every data table by its retention; return a summary (also the DAG's XCom)."""
    from kafkapipeline.cassandra.session import cassandra_session

    retention = retention or {}
    days_by_table = {table: retention_days(table, retention.get(table)) for table in RETENTION_ENV}
    chosen = [c.strip() for c in cities or [] if c and c.strip()] or settings.cities()
    keyspace = settings.keyspace(keyspace)
    today = today or datetime.now(UTC).date()
    with cassandra_session(cassandra_conn_id) as session:
        tables = [
            purge_table(
                session,
                keyspace,
                table,
                retention=days,
                cities=chosen,
                today=today,
                sweep_days=sweep_days,
                dry_run=dry_run,
            )
            for table, days in days_by_table.items()
        ]
        ttls = ttl_in_force(session, keyspace)
    summary = {
        "keyspace": keyspace,
        "today": today.isoformat(),
        "cities": chosen,
        "dry_run": dry_run,
        "sweep_days": sweep_days,
        "tables": [t.as_dict() for t in tables],
        "rows": sum(t.rows for t in tables),
        "ttl_seconds": ttls,
    }
    for t in tables:
        log.info(
            "%s: retention %s; %d partitions %s (%d rows) in the %d days checked",
            t.table,
            f"{t.retention_days} days (kept from {t.kept_from})" if t.retention_days else "forever",
            t.partitions_found,
            "found" if dry_run else "purged",
            t.rows,
            t.days_checked,
        )
    log.info("TTL in force (seconds, 0 or None = none): %s", ttls)
    return summary


def purge_expired_task(
    *, retention: dict[str, int | None], cities: list[str], sweep_days: int, dry_run: bool
) -> dict[str, Any]:
    """The ``purge_expired`` DAG's task (Params rendered as native values).

    ``retention``: each table's retention Param (``None``: the environment, else 0 = forever); no
    ``cities``: the environment's.
    """
    return purge_expired(retention=retention, cities=cities, sweep_days=sweep_days, dry_run=dry_run)
