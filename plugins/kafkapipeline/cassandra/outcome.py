"""What a Cassandra write came to, and whether a failed write says something about one row.

The distinction that matters to the drain: an error that is about *one row* (Cassandra refuses its
partition key as too long, the driver cannot encode its int or its text) must dead-letter that
row and let the batch commit, while an error that says nothing about any row (timeouts,
unavailable replicas, no host, a table or keyspace that is not there) must fail the batch so
its retry writes everything again.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from cassandra import InvalidRequest
from cassandra.policies import RetryPolicy

#: Raised by the driver while binding (serialising) one row's values: the row's problem.
ROW_ENCODE_ERRORS: tuple[type[BaseException], ...] = (TypeError, ValueError, OverflowError, struct.error)
#: Words in an InvalidRequest that mean the statement, not a row, is wrong (the table was dropped,
#: the keyspace is gone, a column no longer exists): every row would fail the same way.
NOT_ABOUT_ONE_ROW = (
    "unconfigured table",
    "does not exist",
    "keyspace",
    "undefined column",
    "unknown identifier",
    "unprepared",
)


def is_row_specific(error: BaseException) -> bool:
    """True when ``error`` is about the values of the rows written, not about the cluster or schema."""
    if isinstance(error, InvalidRequest):
        text = str(error).lower()
        return not any(marker in text for marker in NOT_ABOUT_ONE_ROW)
    return isinstance(error, ROW_ENCODE_ERRORS)


def rejection_reason(error: BaseException) -> str:
    """The dead-letter reason of a refused row: Cassandra's message, or the driver's."""
    if isinstance(error, InvalidRequest):
        who = "Cassandra rejected the row"
    else:
        who = "the Cassandra driver could not encode the row"
    try:
        text = str(error)
    except Exception:  # a reason must never raise
        text = ""
    return f"{who}: {type(error).__name__}: {text}"


@dataclass(frozen=True)
class RejectedRow:
    """A row refused on its own (written alone, it still failed with a row-specific error)."""

    source: Any
    reason: str


@dataclass
class WriteOutcome:
    """What a writer did: rows handed to it, acknowledged, refused one by one, failed or never sent."""

    rows_submitted: int = 0
    rows_written: int = 0
    rows_failed: int = 0
    rows_not_attempted: int = 0
    requests: int = 0
    first_error: BaseException | None = None
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every row was either written or refused on its own (see :attr:`rejected`)."""
        return self.rows_failed == 0 and self.rows_not_attempted == 0 and self.first_error is None

    @property
    def ok(self) -> bool:
        """Every row was written."""
        return self.complete and not self.rejected

    @property
    def unanswered(self) -> int:
        return (
            self.rows_submitted
            - self.rows_written
            - self.rows_failed
            - self.rows_not_attempted
            - len(self.rejected)
        )

    def describe_failure(self) -> str:
        error = self.first_error
        if error is None and self.rejected and self.complete:
            return f"{len(self.rejected)} of {self.rows_submitted} rows, refused: {self.rejected[0].reason}"
        error_text = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        skipped = (
            f" ({self.rows_not_attempted} not attempted after the first failure)"
            if self.rows_not_attempted
            else ""
        )
        failed = self.rows_failed + self.rows_not_attempted
        return f"{failed} of {self.rows_submitted} rows{skipped}: {error_text}"


class IdempotentRetryPolicy(RetryPolicy):
    """Retry timeouts and unavailable errors of idempotent upserts a few times on the same host.

    The driver's default policy does not retry a timed-out plain write, because it cannot know
    the write is safe to repeat. Ours are upserts of identical values, so repeating is safe.
    """

    def __init__(self, max_retries: int = 3) -> None:
        self.max_retries = max_retries

    def _retry(self, consistency: int, retry_num: int) -> tuple[int, int | None]:
        if retry_num < self.max_retries:
            return self.RETRY, consistency
        return self.RETHROW, None

    def on_write_timeout(  # noqa: PLR0917 - the driver's RetryPolicy signature
        self,
        query: Any,
        consistency: int,
        write_type: Any,
        required_responses: int,
        received_responses: int,
        retry_num: int,
    ) -> tuple[int, int | None]:
        return self._retry(consistency, retry_num)

    def on_read_timeout(  # noqa: PLR0917 - the driver's RetryPolicy signature
        self,
        query: Any,
        consistency: int,
        required_responses: int,
        received_responses: int,
        data_retrieved: bool,
        retry_num: int,
    ) -> tuple[int, int | None]:
        return self._retry(consistency, retry_num)

    def on_unavailable(
        self, query: Any, consistency: int, required_replicas: int, alive_replicas: int, retry_num: int
    ) -> tuple[int, int | None]:
        if retry_num < self.max_retries:
            return self.RETRY_NEXT_HOST, None
        return self.RETHROW, None

    def on_request_error(
        self, query: Any, consistency: int, error: Exception, retry_num: int
    ) -> tuple[int, int | None]:
        if retry_num < self.max_retries:
            return self.RETRY_NEXT_HOST, None
        return self.RETHROW, None
