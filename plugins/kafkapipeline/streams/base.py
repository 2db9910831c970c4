"""What every stream is made of: its record type, its Cassandra table, and the stream tying them.

A record type is one :class:`msgspec.Struct` (a subclass of :class:`Record`) that is both the wire
format and the validated record: producers encode it, drains decode it with
:func:`record_decoder`, and the constraints live in its ``Annotated[..., msgspec.Meta(...)]``
field types. What msgspec cannot express (a stripped id, UTC times, a declared ``kind`` of
another stream) is each type's ``__post_init__``. Every refusal becomes an :class:`InvalidRecord`
whose message is the dead-letter reason, the field name first (:func:`reason_for`).

A :class:`Table` lists its columns as the CQL migrations (``include/cql``, the schema's source of
truth) leave them, with who fills each (:attr:`Column.filled_by`):

* ``record``: the record's field of the same name;
* ``derived``: the record's property of the same name, computed from its fields (``day``);
* ``drain``: computed when the row is built (sentiment, ``ingested_at``);
* ``later``: never written by the drain, so a replayed message cannot clear it; the CSV export
  and import carry it (``source_label``).

The drain's row tuple, the writer's :class:`TableSpec` and the CSV columns all derive from it;
``tests/integration/test_streams_schema.py`` compares the tables with the live schema.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, Self, TypeVar, get_args, get_origin, get_type_hints

import msgspec

from kafkapipeline import settings
from kafkapipeline.settings import SCHEMA_VERSION
from kafkapipeline.times import utc

#: Cassandra ``int`` is a signed 32-bit integer: a larger count fails the driver's bind.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
#: City (the partition key, and the weather topic's Kafka key): names in everyday use are
#: under 60 characters; 100 leaves room and keeps the key tiny next to the 64 KiB limit.
CITY_MAX_CHARS = 100
#: Ids and short labels (author, place, source, provider): 300 fits even a ``user@domain``
#: handle (domain names are at most 253 characters).
LABEL_MAX_CHARS = 300
#: Record kind names ("tweet", "weather") are short; a longer value is not a kind.
KIND_MAX_CHARS = 20
#: Elements of a ``set<text>`` column (e.g. a post's hashtags): a post has a few dozen at most.
SET_MAX_ITEMS = 100
#: How much of a bad value a reason quotes: reasons become dead-letter headers, keep them short.
SHOWN_CHARS = 80

Int32 = Annotated[
    int,
    msgspec.Meta(ge=INT32_MIN, le=INT32_MAX, description=f"Cassandra's int range [{INT32_MIN}, {INT32_MAX}]"),
]
#: A count (likes, replies, reposts, quotes): a whole number, never negative, within Cassandra's int.
Count = Annotated[
    int,
    msgspec.Meta(ge=0, le=INT32_MAX, description=f"the range of a count [0, {INT32_MAX}] (never negative)"),
]
#: Finite floats only: JSON has no NaN, and the bounds refuse +-inf.
Finite = Annotated[
    float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max, description="the finite numbers")
]
City = Annotated[str, msgspec.Meta(min_length=1, max_length=CITY_MAX_CHARS)]
Label = Annotated[str, msgspec.Meta(max_length=LABEL_MAX_CHARS)]
Kind = Annotated[str, msgspec.Meta(max_length=KIND_MAX_CHARS)]


#: A ``set<text>`` column's field type: at most :data:`SET_MAX_ITEMS` non-empty labels.
TextSet = Annotated[
    frozenset[Annotated[str, msgspec.Meta(min_length=1, max_length=LABEL_MAX_CHARS)]],
    msgspec.Meta(max_length=SET_MAX_ITEMS),
]


class InvalidRecord(ValueError):
    """A value that cannot become a row; the message is the reason written to the dead-letter topic."""


def shown(value: Any) -> str:
    """``repr(value)`` cut to :data:`SHOWN_CHARS` (containers by their size: their repr can be huge)."""
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 256 else "a huge int"
    if len(text) > SHOWN_CHARS:
        return f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"
    return text


def check_text(name: str, value: str, max_chars: int) -> str:
    """``value`` if it fits ``max_chars`` and encodes as UTF-8 (what the Cassandra bind does)."""
    if len(value) > max_chars:
        raise InvalidRecord(f"{name}: {len(value)} characters, more than the {max_chars} allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InvalidRecord(
            f"{name}: not encodable as UTF-8 ({err.reason} at character {err.start}, "
            f"{shown(value[err.start : err.end])})"
        ) from None
    return value


def parse_utc(value: Any, field_name: str) -> datetime:
    """An ISO-8601 text (or a datetime) as an aware UTC datetime; the CSV import's timestamps."""
    if isinstance(value, datetime):
        return utc(value)
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"{field_name}: expected an ISO-8601 timestamp, got {shown(value)}")
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, OverflowError) as err:  # OverflowError: year 1 or 9999 moved to UTC
        raise InvalidRecord(f"{field_name}: not an ISO-8601 timestamp: {shown(value)}") from err


def utc_field(name: str, moment: datetime) -> datetime:
    """``moment`` in UTC, for a record's ``__post_init__`` (msgspec keeps a decoded offset)."""
    if moment.tzinfo is UTC:
        return moment
    try:
        return utc(moment)
    except OverflowError:  # year 1 or 9999 moved to UTC
        raise InvalidRecord(
            f"{name}: not an ISO-8601 timestamp within years 1-9999 in UTC: {moment}"
        ) from None


# -- records ---------------------------------------------------------------------------------


class Record(msgspec.Struct, frozen=True, tag_field="schema_version"):
    """The base of every stream's record type; its tag is the ``schema_version`` every value carries.

    A subclass declares ``tag=SCHEMA_VERSION``, its fields, :attr:`KIND` and last a ``kind``
    field defaulting to it (the wire's ``kind``), and checks it in ``__post_init__`` with
    :meth:`check_kind`.
    """

    #: The ``kind`` its values declare: a value declaring another one was produced to the wrong topic.
    KIND: ClassVar[str]

    @property
    def key(self) -> bytes:
        """The Kafka key of its value."""
        raise NotImplementedError

    def check_kind(self, kind: str | None) -> None:
        if kind != self.KIND:
            if kind is None:
                msgspec.structs.force_setattr(self, "kind", self.KIND)
                return
            raise InvalidRecord(kind_reason(type(self), kind))

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> Self:
        """A Kafka value as this record type, as the drain decodes it (see :func:`decode_record`)."""
        return decode_record(cls, raw)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """A record from Python values, as the sources and the CSV import build them."""
        return record_from_values(cls, values)

    def to_json(self) -> bytes:
        """The Kafka value (UnicodeEncodeError for a lone surrogate: such a record cannot be produced)."""
        return _ENCODER.encode(self)

    def to_dict(self) -> dict[str, Any]:
        """The value as JSON types (timestamps as ISO-8601 text), ``schema_version`` included."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


class _OtherVersion(Record, frozen=True, tag=0):
    """Never a record: a second member makes a tagged union, where msgspec requires the tag
    (``schema_version``); a value of this version is refused like any unknown one."""


_ENCODER = msgspec.json.Encoder()
RecordT = TypeVar("RecordT", bound=Record)


@cache
def record_decoder(record_type: type[Record]) -> msgspec.json.Decoder[Any]:
    """The decoder of ``record_type``'s Kafka values (it may also return an :class:`_OtherVersion`)."""
    return msgspec.json.Decoder(record_type | _OtherVersion)


def decode_record(record_type: type[RecordT], raw: bytes | str | None) -> RecordT:
    """Decode and validate one Kafka value as the drain does; :class:`InvalidRecord` says why not."""
    try:
        record = record_decoder(record_type).decode(raw)  # type: ignore[arg-type] # None: a null message
    except Exception as err:  # untrusted bytes: whatever msgspec raises, the value is unusable
        raise InvalidRecord(reason_for(record_type, raw, err)) from None
    if type(record) is not record_type:
        raise InvalidRecord(unsupported_version(0))
    return record


def record_from_values(record_type: type[RecordT], values: Mapping[str, Any]) -> RecordT:
    """A record from Python values (datetimes or ISO text, ints, None), checked as a decode is."""
    try:
        return msgspec.convert(values, record_type)
    except Exception as err:
        raise InvalidRecord(_validation_reason(record_type, str(err), values.get)) from None


def kind_reason(record_type: type[Record], kind: str) -> str:
    return f"kind {shown(kind)} does not belong on this topic (expected {record_type.KIND!r})"


def unsupported_version(version: Any) -> str:
    return f"schema_version {shown(version)} is not supported (expected {SCHEMA_VERSION})"


# -- reasons: msgspec's errors in the dead-letter wording --------------------------------------

_AT = re.compile(r"^(?P<what>.*) - at `\$\.(?P<field>\w+)(?P<rest>[^`]*)`$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>\w+)`$")
_EXPECTED = re.compile(r"^Expected `(?P<expected>[^`]+)`(?:, got `(?P<got>[^`]+)`)?$")
_LENGTH = re.compile(r"^Expected `(?:str|array|set)` of length (?P<op>[<>]=) (?P<limit>\d+)$")
_BOUND = re.compile(r"^Expected `(?:int|float)` (?P<op>[<>]=) (?P<limit>\S+)$")
_PATTERN = re.compile(r"^Expected `str` matching regex ")
_TYPE_WORDS = {
    "str": "text",
    "int": "an integer",
    "float": "a number",
    "null": "null",
    "bool": "a boolean",
    "object": "an object",
    "array": "an array",
    "datetime": "an ISO-8601 timestamp",
}
_MISSING_VALUE = object()


def _words(types: str) -> str:
    return " or ".join(_TYPE_WORDS.get(name, name) for name in types.split(" | "))


@cache
def _descriptions(record_type: type[Record]) -> dict[str, str]:
    """Each field's ``msgspec.Meta`` description (e.g. "Cassandra's int range"), for reasons."""
    out: dict[str, str] = {}
    for name, hint in get_type_hints(record_type, include_extras=True).items():
        for part in (hint, *get_args(hint)):
            if get_origin(part) is Annotated:
                for meta in part.__metadata__:
                    if isinstance(meta, msgspec.Meta) and meta.description:
                        out[name] = meta.description
    return out


def _json_values(raw: Any) -> Callable[[str], Any]:
    """``value_of(name)``: field ``name`` of ``raw`` by Python's parser (to quote it), or a marker."""
    try:
        payload = msgspec.json.decode(raw)
    except Exception:  # a huge number, a lone surrogate: Python's parser reads those
        try:
            payload = json.loads(raw, parse_int=lambda digits: int(digits) if len(digits) < 300 else 10**300)
        except Exception:
            payload = None
    if not isinstance(payload, dict):
        return lambda name: _MISSING_VALUE
    return lambda name: payload.get(name, _MISSING_VALUE)


def reason_for(record_type: type[Record], raw: Any, err: BaseException) -> str:  # noqa: PLR0911 - one case a line
    """The dead-letter reason of a value msgspec refused as ``record_type`` (the field name first)."""
    if raw is None:
        return "value is empty (null message)"
    encoding = _encoding_reason(raw)
    if encoding:
        return encoding
    if isinstance(err, RecursionError):
        return "value is not usable JSON: nested too deeply to parse"
    if isinstance(err, UnicodeDecodeError):
        return f"value is not JSON: {err}"
    if isinstance(err, msgspec.ValidationError):  # (a DecodeError subclass)
        return _validation_reason(record_type, str(err), _json_values(raw))
    if isinstance(err, msgspec.DecodeError):
        if "surrogate" in str(err):  # a lone surrogate escape: name the field, as the bind would
            surrogate = _surrogate_reason(record_type, raw)
            if surrogate:
                return surrogate
        return f"value is not JSON: {err}"
    try:
        detail = str(err)[:SHOWN_CHARS]
    except Exception:
        detail = "(the error could not be described)"
    return f"value is not usable JSON: {type(err).__name__}: {detail}"


def _encoding_reason(raw: Any) -> str | None:
    """Why ``raw`` is not UTF-8 text, or None: JSON values are UTF-8, so say so before parsing."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        return None
    data = bytes(raw)
    if data.startswith(b"\xef\xbb\xbf"):
        return "value starts with a UTF-8 byte-order mark (BOM): Kafka values must be JSON without one"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"value is not valid UTF-8 at byte {err.start} (0x{data[err.start]:02x}: {err.reason})"
    return None


def _surrogate_reason(record_type: type[Record], raw: Any) -> str | None:
    value_of = _json_values(raw)
    for name in record_type.__struct_fields__:
        value = value_of(name)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                try:
                    check_text(name, value, len(value))
                except InvalidRecord as err:
                    return str(err)
    return None


def _validation_reason(  # noqa: PLR0911 - one message form a return
    record_type: type[Record], message: str, value_of: Callable[[str], Any]
) -> str:
    """msgspec's ``ValidationError`` text as a reason; a ``__post_init__``'s own text is kept as is.

    A value declaring another stream's ``kind`` is named as such first, whatever else is wrong.
    """
    declared = value_of("kind")
    if isinstance(declared, str) and declared != record_type.KIND:
        return kind_reason(record_type, declared)
    missing = _MISSING.match(message)
    if missing:
        name = missing["field"]
        return unsupported_version(None) if name == "schema_version" else f"{name}: required field is missing"
    located = _AT.match(message)
    if located is None:
        if message.startswith("Expected `object`, got "):
            return f"value is JSON {message.split('`')[3]}, expected an object"
        return message
    name, what, rest = located["field"], located["what"], located["rest"]
    value = value_of(name)
    if name == "schema_version":
        return unsupported_version(None if value is _MISSING_VALUE else value)
    if name == "kind":
        got = "another value" if value is _MISSING_VALUE else shown(value)
        return f"kind: expected a record kind, got {got}"
    item = re.fullmatch(r"\[(\d+)\]", rest)
    if item:  # an element of a set: its index in the JSON array
        index = int(item[1])
        name = f"{name}[{index}]"
        value = value[index] if isinstance(value, list) and index < len(value) else _MISSING_VALUE
    elif rest:
        return f"{name}{rest}: {what}"
    return _field_reason(name, what, value, _descriptions(record_type).get(located["field"]))


def _field_reason(  # noqa: PLR0911 - one message form a return
    name: str, what: str, value: Any, description: str | None
) -> str:
    """The reason for field ``name``'s ``value`` (or the marker), from msgspec's ``what``."""
    quoted = "" if value is _MISSING_VALUE else shown(value)
    length = _LENGTH.match(what)
    if length:
        if length["op"] == ">=":
            return f"{name}: required text is empty"
        count = len(value) if isinstance(value, (str, list)) else "more"
        unit = "characters" if isinstance(value, str) or value is _MISSING_VALUE else "items"
        return f"{name}: {count} {unit}, more than the {length['limit']} allowed"
    if _BOUND.match(what) or what in ("Integer value out of range", "Number out of range"):
        number = quoted or "a number"
        return f"{name}: {number} is outside {description}" if description else f"{name}: {number}: {what}"
    if _PATTERN.match(what):  # the Meta's description says what the text must be
        return f"{name}: expected {description}, got {quoted}" if description else f"{name}: {what}"
    if what == "Invalid RFC3339 encoded datetime":
        return f"{name}: not an ISO-8601 timestamp: {quoted}"
    expected = _EXPECTED.match(what)
    if expected:
        got = quoted or _words(expected["got"] or "?")
        return f"{name}: expected {_words(expected['expected'])}, got {got}"
    return f"{name}: {what}"


# -- tables ----------------------------------------------------------------------------------

RECORD = "record"
DERIVED = "derived"
DRAIN = "drain"
LATER = "later"
FILLED_BY = (RECORD, DERIVED, DRAIN, LATER)
#: The CQL types a column may have: those the CSV export writes and the import parses
#: (:func:`kafkapipeline.csvio.formats.parse_cell`) and the binder serialises
#: (:mod:`kafkapipeline.cassandra.bind`); another type needs its case there first.
CQL_TYPES = ("text", "date", "timestamp", "int", "double", "set<text>")


@dataclass(frozen=True)
class TableSpec:
    """What a writer needs of a table: its columns in insert order and the partition key's width."""

    table: str
    columns: tuple[str, ...]
    partition_key_width: int
    #: Index of the text column whose length dominates the row size (for batch sizing).
    size_column: int | None = None

    def insert_cql(self, keyspace: str) -> str:
        names = ", ".join(self.columns)
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {keyspace}.{self.table} ({names}) VALUES ({marks})"


@dataclass(frozen=True)
class Column:
    """One column of a stream's table: its name, CQL type and who fills it (see the module doc)."""

    name: str
    cql_type: str
    filled_by: str = RECORD


@dataclass(frozen=True)
class Table:
    """A stream's Cassandra table, as the migrations leave it.

    :param columns: every column, in insert (and CSV) order; the partition key comes first
    :param partition_key: the partition key's columns, in key order
    :param clustering: the clustering columns with their order (``asc``/``desc``), in key order;
        the first is the event time (health freshness, the dashboard's reads)
    :param size_column: the text column whose length dominates a row's size (batch sizing)
    """

    name: str
    columns: tuple[Column, ...]
    partition_key: tuple[str, ...]
    clustering: tuple[tuple[str, str], ...]
    size_column: str | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        problems = []
        if len(set(names)) != len(names):
            problems.append(f"a column is listed twice: {names}")
        if tuple(names[: len(self.partition_key)]) != self.partition_key:
            problems.append(f"the partition key {self.partition_key} must be the first columns")
        for name, order in self.clustering:
            if name not in names or order not in ("asc", "desc"):
                problems.append(f"clustering ({name}, {order}) is not a column with asc/desc")
        if self.size_column is not None and self.size_column not in self.drain_columns:
            problems.append(f"size column {self.size_column} is not written by the drain")
        for column in self.columns:
            if column.filled_by not in FILLED_BY or column.cql_type not in CQL_TYPES:
                problems.append(f"{column}: filled_by must be in {FILLED_BY}, cql_type in {CQL_TYPES}")
            if not column.name.isidentifier():
                problems.append(f"{column.name!r} is not an identifier")
        if problems:
            raise ValueError(f"table {self.name}: " + "; ".join(problems))

    @property
    def names(self) -> tuple[str, ...]:
        """Every column, in insert order: the CSV export's header."""
        return tuple(c.name for c in self.columns)

    @property
    def types(self) -> dict[str, str]:
        return {c.name: c.cql_type for c in self.columns}

    @property
    def clustering_key(self) -> tuple[str, ...]:
        return tuple(name for name, _order in self.clustering)

    @property
    def key(self) -> tuple[str, ...]:
        """The primary key's columns: partition key, then clustering columns."""
        return self.partition_key + self.clustering_key

    @property
    def time_column(self) -> str:
        """The event-time column: the first clustering column (newest first in a partition)."""
        return self.clustering[0][0]

    def columns_filled_by(self, *who: str) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.filled_by in who)

    @property
    def record_columns(self) -> tuple[str, ...]:
        """The columns read from the record: its fields and derived properties."""
        return self.columns_filled_by(RECORD, DERIVED)

    @property
    def drain_columns(self) -> tuple[str, ...]:
        """The columns a drained row has, in table order: the record's and the computed ones."""
        return self.columns_filled_by(RECORD, DERIVED, DRAIN)

    @property
    def computed_columns(self) -> tuple[str, ...]:
        """The columns the drain computes: the arguments after the record of :attr:`row_builder`."""
        return self.columns_filled_by(DRAIN)

    @property
    def later_columns(self) -> tuple[str, ...]:
        return self.columns_filled_by(LATER)

    def later_values(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The ``later`` columns' values (None when absent): what follows a drained row in a full row."""
        return tuple(values.get(name) for name in self.later_columns)

    @property
    def row_builder(self) -> Callable[..., tuple[Any, ...]]:
        """``build(record, *computed)``: the drained row, columns in :attr:`drain_columns` order.

        Generated once per table as plain attribute reads, as fast as a hand-written builder
        (``operator.attrgetter`` is slower); ``computed`` are the values of
        :attr:`computed_columns`, in their order.
        """
        return _row_builder(self.name, self.drain_columns, self.computed_columns)

    def spec(self, columns: tuple[str, ...]) -> TableSpec:
        size = columns.index(self.size_column) if self.size_column in columns else None
        return TableSpec(self.name, columns, len(self.partition_key), size)

    @property
    def drain_spec(self) -> TableSpec:
        """What the drain writes (``later`` columns left out: a replay leaves them alone)."""
        return self.spec(self.drain_columns)

    @property
    def full_spec(self) -> TableSpec:
        """Every column: what the CSV export reads and the CSV import writes."""
        return self.spec(self.names)


@cache
def _row_builder(
    table: str, columns: tuple[str, ...], computed: tuple[str, ...]
) -> Callable[..., tuple[Any, ...]]:
    cells = ", ".join(name if name in computed else f"record.{name}" for name in columns)
    source = f"def build(record, {', '.join(computed)}):\n    return ({cells},)\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<row builder of {table}>", "exec"), namespace)
    build: Callable[..., tuple[Any, ...]] = namespace["build"]
    return build


# -- streams ---------------------------------------------------------------------------------

RowsOf = Callable[[Sequence[Any], "datetime | None"], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Stream:
    """One source stream: Kafka topic -> record type -> Cassandra table.

    :param name: the registry key, the drain tasks' ``stream`` argument and the CSV import's
        ``kind`` of its export files
    :param record_type: its values' type (wire format and validation)
    :param topic_setting: the settings field naming its topic (read at call time)
    :param table: its Cassandra table
    :param rows: the drain's rows of a micro-batch of records (``rows(records, ingested_at)``)
    :param retention_setting: the settings field with the days ``purge_expired`` keeps
    :param retention_param: the ``purge_expired`` Param overriding that setting
    :param partitions_param: the ``bootstrap`` Param choosing its topic's partition count
    :param csv_required: the columns a CSV export file of it must have (the rest may be missing)
    :param default_partitions: that Param's default
    :param scoring_model: the (name, version) of the model its drain scores rows with; None: not scored
    """

    name: str
    record_type: type[Record]
    topic_setting: str
    table: Table
    rows: RowsOf
    retention_setting: str
    retention_param: str
    partitions_param: str
    csv_required: tuple[str, ...]
    default_partitions: int = 3
    scoring_model: Callable[[], tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        missing = set(self.csv_required) - set(self.table.names)
        if missing:
            raise ValueError(f"stream {self.name}: csv_required names no column: {sorted(missing)}")
        for field_name in (self.topic_setting, self.retention_setting):
            settings.env_name(field_name)  # raises for a setting that does not exist
        if self.default_partitions < 1:
            raise ValueError(f"stream {self.name}: default_partitions must be >= 1")
        unknown = [
            name
            for name in self.table.record_columns
            if name not in self.record_type.__struct_fields__ and not hasattr(self.record_type, name)
        ]
        if unknown:
            raise ValueError(f"stream {self.name}: {self.record_type.__name__} has no {unknown}")

    @property
    def kind(self) -> str:
        """The ``kind`` its values declare (wire data)."""
        return self.record_type.KIND

    def topic(self) -> str:
        """Its Kafka topic, from the environment now (run time, not parse time)."""
        return str(getattr(settings.current(), self.topic_setting))

    def dlq_topic(self) -> str:
        """Its dead-letter topic, ``<topic>.dlq``."""
        return settings.dead_letter_topic(self.topic())

    @property
    def retention_env(self) -> str:
        return settings.env_name(self.retention_setting)

    def decode(self, raw: bytes | str | None) -> Record:
        """One Kafka value as its record; :class:`InvalidRecord` says why it cannot be one."""
        return decode_record(self.record_type, raw)
