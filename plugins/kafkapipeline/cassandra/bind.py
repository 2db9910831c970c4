"""Serialise a row's values for a prepared INSERT at a fraction of the driver's cost, byte for byte.

Why: the driver's ``PreparedStatement.bind`` builds a ``BoundStatement`` and, per column, a
``ColDesc`` tuple and an encryption-policy check before calling the column type's
``serialize``; its ``date`` and ``timestamp`` serialisers go through ``timetuple`` and
``calendar.timegm``: most of a Python writer's cost per row (docs/benchmarks.md).

:class:`RowEncoder` gives the *same bytes* the driver would put in the request, or ``None``
when it cannot be sure of that; the caller then binds with the driver, which gives the
bytes or raises its own error (the error text is a dead-letter reason, so it must stay the
driver's). So only the cost changes, never the outcome:

* ``None`` becomes ``UNSET_VALUE`` (what :func:`kafkapipeline.cassandra.writer.unset_nulls` does), except
  in a routing-key column: the driver refuses that with its own message.
* ``text``: ``str.encode("utf-8")`` for a ``str`` (the driver's own call).
* ``timestamp``: for a ``datetime`` whose ``tzinfo`` is ``datetime.UTC`` (what the records
  hold), the driver's arithmetic ``int(seconds * 1e3 + microsecond / 1e3)`` with the whole
  seconds taken exactly from ``(value - epoch) // 1 s`` instead of ``timegm(utctimetuple())``
  (equal for every UTC datetime: both count whole seconds since the epoch, floored).
* ``date``: the driver's serialiser, remembered per ``date`` value (a batch holds few days).
* ``set<text>``: for a ``frozenset``/``set`` of ``str``, what the driver writes (native protocol
  v3+): an int32 count, then per element, in the set's own iteration order as the driver takes
  it, an int32 length and the UTF-8 bytes.
* Every other type (and any other Python type): the driver's serialiser for that column.
* Any exception: ``None`` (the driver binds, and raises its own error if there is one).

``tests/unit/cassandra/test_cassandra_bind.py`` compares the bytes with the driver's on real rows and
on edge values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cassandra import cqltypes
from cassandra.marshal import int32_pack, int64_pack
from cassandra.query import UNSET_VALUE, PreparedStatement

Serialiser = Callable[[Any, int], bytes]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
#: Distinct ``date`` values remembered per column before the memo starts again.
_DATE_MEMO_SIZE = 4096


def _text(driver: Serialiser) -> Serialiser:
    def serialise(value: Any, protocol_version: int) -> bytes:
        if type(value) is str:
            return value.encode("utf-8")
        return driver(value, protocol_version)

    return serialise


def _timestamp(driver: Serialiser) -> Serialiser:
    last: list[Any] = [None, b""]  # the previous value (by identity) and its bytes: ingested_at repeats

    def serialise(value: Any, protocol_version: int) -> bytes:
        if value is last[0]:
            return last[1]
        if type(value) is datetime and value.tzinfo is UTC:
            encoded = int64_pack(int(((value - _EPOCH) // _SECOND) * 1e3 + value.microsecond / 1e3))
        else:
            encoded = driver(value, protocol_version)
        last[0], last[1] = value, encoded
        return encoded

    return serialise


def _date(driver: Serialiser) -> Serialiser:
    memo: dict[date, bytes] = {}

    def serialise(value: Any, protocol_version: int) -> bytes:
        if type(value) is not date:
            return driver(value, protocol_version)
        encoded = memo.get(value)
        if encoded is None:
            if len(memo) >= _DATE_MEMO_SIZE:
                memo.clear()
            encoded = memo[value] = driver(value, protocol_version)
        return encoded

    return serialise


def _text_set(driver: Serialiser) -> Serialiser:
    def serialise(value: Any, protocol_version: int) -> bytes:
        if type(value) not in (frozenset, set) or protocol_version < 3:
            return driver(value, protocol_version)
        parts = [int32_pack(len(value))]
        for item in value:
            if type(item) is not str:
                return driver(value, protocol_version)
            encoded = item.encode("utf-8")
            parts.append(int32_pack(len(encoded)))
            parts.append(encoded)
        return b"".join(parts)

    return serialise


def _fast(cql_type: Any) -> Callable[[Serialiser], Serialiser] | None:
    """The fast serialiser of a column's driver type, if there is one."""
    if isinstance(cql_type, type) and issubclass(cql_type, cqltypes.SetType):
        (item,) = cql_type.subtypes  # type: ignore[attr-defined] # a parameterised type's
        return _text_set if item in (cqltypes.UTF8Type, cqltypes.VarcharType) else None
    return _FAST.get(cql_type)


_FAST: dict[type, Callable[[Serialiser], Serialiser]] = {
    cqltypes.UTF8Type: _text,
    cqltypes.VarcharType: _text,
    cqltypes.DateType: _timestamp,
    cqltypes.TimestampType: _timestamp,
    cqltypes.SimpleDateType: _date,
}


class RowEncoder:
    """The serialised values of rows for one prepared statement (see the module docstring).

    ``usable`` is False when the statement needs what only the driver's bind does (column
    encryption, a custom payload, native protocol < 4 where unset values do not exist).
    """

    def __init__(self, statement: PreparedStatement) -> None:
        meta = statement.column_metadata or []
        self.protocol_version: int = statement.protocol_version
        self.usable = (
            statement.column_encryption_policy is None
            and not statement.custom_payload
            and self.protocol_version >= 4
            and bool(meta)
        )
        self.width = len(meta)
        self.serialisers: list[Serialiser] = []
        for column in meta:
            driver = column.type.serialize
            fast = _fast(column.type)
            self.serialisers.append(fast(driver) if fast is not None else driver)
        self.routing = frozenset(statement.routing_key_indexes or ())

    def values(self, row: tuple[Any, ...]) -> list[Any] | None:
        """The values the driver would bind for ``row`` (None unset), or None: bind with the driver."""
        if not self.usable or len(row) != self.width:
            return None
        out: list[Any] = []
        append = out.append
        version = self.protocol_version
        try:
            for index, (value, serialise) in enumerate(zip(row, self.serialisers, strict=True)):
                if value is None or value is UNSET_VALUE:
                    if index in self.routing:
                        return None  # the driver refuses it, in its own words
                    append(UNSET_VALUE)
                else:
                    append(serialise(value, version))
        except Exception:  # the driver decides, and words the error
            return None
        return out
