"""The dead-letter contract: what a message on ``<topic>.dlq`` carries besides the original bytes.

The drain writes it and the replay DAG reads it, so both sides use these helpers. The
value and key are the original message's, untouched, so a replay re-produces exactly
what failed.
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

MAX_REASON_LENGTH = 2000


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
            (HEADER_ERROR, self.error[:MAX_REASON_LENGTH].encode("utf-8")),
            (HEADER_SOURCE_TOPIC, self.source_topic.encode("utf-8")),
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
    def from_headers(cls, headers: list[tuple[str, bytes | None]] | None) -> DeadLetter:
        values = {key: (value or b"").decode("utf-8", "replace") for key, value in headers or []}
        missing = [h for h in (HEADER_ERROR, HEADER_SOURCE_TOPIC) if h not in values]
        if missing:
            raise ValueError(f"not a dead letter of this pipeline: headers {missing} are missing")
        return cls(
            error=values[HEADER_ERROR],
            source_topic=values[HEADER_SOURCE_TOPIC],
            source_partition=int(values.get(HEADER_SOURCE_PARTITION) or -1),
            source_offset=int(values.get(HEADER_SOURCE_OFFSET) or -1),
            failed_at=values.get(HEADER_FAILED_AT, ""),
            replay_count=int(values.get(HEADER_REPLAY_COUNT) or 0),
        )


def replay_count_of(headers: list[tuple[str, bytes | None]] | None) -> int:
    """How many times a message has been replayed from a dead-letter topic (0 for fresh ones)."""
    for key, value in headers or []:
        if key == HEADER_REPLAY_COUNT and value:
            return int(value)
    return 0
