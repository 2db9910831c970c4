"""The dead-letter contract: what a message on ``<topic>.dlq`` carries besides the original bytes.

The drain writes it and the replay DAG reads it. Key and value are the original's, untouched, unless the
copy would not fit in a Kafka message (:func:`fit_dead_letter` cuts it and headers say so). Nothing here
may fail on a message's content: garbage headers fall back to defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

HEADER_ERROR = "dlq.error"
HEADER_SOURCE_TOPIC = "dlq.source.topic"
HEADER_SOURCE_PARTITION = "dlq.source.partition"
HEADER_SOURCE_OFFSET = "dlq.source.offset"
HEADER_FAILED_AT = "dlq.failed_at"
HEADER_REPLAY_COUNT = "dlq.replay.count"
#: Present on a copy that was cut to fit: which parts were cut (``value``, ``headers``, ``key``).
HEADER_TRUNCATED = "dlq.truncated"
#: Present on a copy that was cut to fit: the original value's size in bytes.
HEADER_ORIGINAL_SIZE = "dlq.original.size"

MAX_REASON_LENGTH = 2000
#: librdkafka's default ``message.max.bytes``; the broker's default ``max.message.bytes`` is a
#: little larger (1,048,588), so a copy under this fits both unless one of them was lowered.
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000
#: Room kept for the record's own framing (lengths, timestamps, attributes) next to the bytes counted.
RECORD_OVERHEAD_BYTES = 512
#: Counted per header for its length prefixes.
HEADER_OVERHEAD_BYTES = 10
#: Longest numeric header value parsed; anything longer is garbage, not a number.
MAX_NUMBER_DIGITS = 20

Headers = list[tuple[str, bytes | None]]


def _encode(text: str) -> bytes:
    """UTF-8, with lone surrogates and the like escaped instead of raising."""
    return text.encode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class DeadLetter:
    """Where a dead letter came from and why it failed."""

    error: str
    source_topic: str
    source_partition: int
    source_offset: int
    failed_at: str
    replay_count: int = 0

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (HEADER_ERROR, _encode(self.error[:MAX_REASON_LENGTH])),
            (HEADER_SOURCE_TOPIC, _encode(self.source_topic)),
            (HEADER_SOURCE_PARTITION, str(self.source_partition).encode()),
            (HEADER_SOURCE_OFFSET, str(self.source_offset).encode()),
            (HEADER_FAILED_AT, self.failed_at.encode()),
            (HEADER_REPLAY_COUNT, str(self.replay_count).encode()),
        ]

    @classmethod
    def for_failure(
        cls, error: str, source_topic: str, source_partition: int, source_offset: int, replay_count: int = 0
    ) -> DeadLetter:
        return cls(
            error=error,
            source_topic=source_topic,
            source_partition=source_partition,
            source_offset=source_offset,
            failed_at=datetime.now(UTC).isoformat(),
            replay_count=replay_count,
        )

    @classmethod
    def from_headers(cls, headers: Headers | None) -> DeadLetter:
        """Read a dead letter's headers; numbers that are garbage fall back to -1 (or 0 replays).

        :raises ValueError: the reason or the source topic header is missing (not our dead letter)
        """
        values = {str(key): (value or b"").decode("utf-8", "replace") for key, value in headers or []}
        missing = [h for h in (HEADER_ERROR, HEADER_SOURCE_TOPIC) if h not in values]
        if missing:
            raise ValueError(f"not a dead letter of this pipeline: headers {missing} are missing")
        return cls(
            error=values[HEADER_ERROR],
            source_topic=values[HEADER_SOURCE_TOPIC],
            source_partition=parse_int(values.get(HEADER_SOURCE_PARTITION), -1),
            source_offset=parse_int(values.get(HEADER_SOURCE_OFFSET), -1),
            failed_at=values.get(HEADER_FAILED_AT, ""),
            replay_count=max(0, parse_int(values.get(HEADER_REPLAY_COUNT), 0)),
        )


def parse_int(value: bytes | str | None, default: int) -> int:
    """A header's integer, or ``default`` when it is missing, not a number, or not text at all."""
    if value is None:
        return default
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = value.strip()
    if not text or len(text) > MAX_NUMBER_DIGITS:
        return default
    try:
        return int(text)
    except ValueError:
        return default


def replay_count_of(headers: Headers | None) -> int:
    """How many times a message has been replayed from a dead-letter topic (0 for fresh ones or garbage)."""
    for key, value in headers or []:
        if key == HEADER_REPLAY_COUNT:
            return max(0, parse_int(value, 0))
    return 0


def dead_letter_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """What a copy costs against ``message.max.bytes``: key, value, headers and framing."""
    header_bytes = sum(
        len(name.encode("utf-8", "backslashreplace")) + len(data or b"") + HEADER_OVERHEAD_BYTES
        for name, data in headers
    )
    return RECORD_OVERHEAD_BYTES + len(key or b"") + len(value or b"") + header_bytes


def fit_dead_letter(
    key: bytes | None, value: bytes | None, headers: Headers, max_bytes: int
) -> tuple[bytes | None, bytes | None, Headers]:
    """The copy unchanged when it fits in ``max_bytes``; otherwise cut until it does.

    The value is cut first (most of a large message), then the original message's own
    headers are dropped, then the key is cut. A cut copy carries ``dlq.truncated`` (what was
    cut) and ``dlq.original.size`` (the original value's size; kept from a previous cut).
    """
    if dead_letter_size(key, value, headers) <= max_bytes:
        return key, value, headers
    original_size = next(
        (data for name, data in headers if name == HEADER_ORIGINAL_SIZE and data),
        str(len(value or b"")).encode(),
    )
    kept = [(n, d) for n, d in headers if n not in (HEADER_TRUNCATED, HEADER_ORIGINAL_SIZE)]
    cut: list[str] = []
    marks: Headers = []

    def with_marks() -> Headers:
        nonlocal marks
        marks = [(HEADER_TRUNCATED, ",".join(cut).encode()), (HEADER_ORIGINAL_SIZE, original_size)]
        return kept + marks

    cut.append("value")
    over = dead_letter_size(key, value, with_marks()) - max_bytes
    if value is not None and over > 0:
        value = value[: max(0, len(value) - over)]
    if dead_letter_size(key, value, with_marks()) > max_bytes:
        kept = [(n, d) for n, d in kept if n.startswith("dlq.")]
        cut.append("headers")
        over = dead_letter_size(key, value, with_marks()) - max_bytes
        if over > 0 and key:
            cut.append("key")
            key = key[: max(0, len(key) - over - 16)]
    return key, value, with_marks()
