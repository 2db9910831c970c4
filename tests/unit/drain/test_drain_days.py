"""A drained micro-batch names the UTC days its rows fall on (its table event's ``days``), no services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE

from kafkapipeline.drain.batch import MicroBatch
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.streams.weather import WEATHER
from tests.integration.drain_support import weather_reports


class Message:
    def __init__(self, value: bytes, timestamp_ms: int | None = None) -> None:
        self._value = value
        self._timestamp_ms = timestamp_ms

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        if self._timestamp_ms is None:
            return TIMESTAMP_NOT_AVAILABLE, -1
        return TIMESTAMP_CREATE_TIME, self._timestamp_ms


class Reader:
    """Stands in for the SnapshotReader: hands out the given chunks."""

    def __init__(self, chunks: list[list[Message]]) -> None:
        self._chunks = chunks
        self.progress: dict[int, Any] = {}
        self.stopped_early = None

    def chunks(self) -> Iterator[list[Message]]:
        yield from self._chunks


class Writer:
    class outcome:
        first_error = None

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def write(self, rows, sources) -> None:
        self.rows.extend(rows)


class DeadLetters:
    sent = 0

    def send(self, message, reason) -> None:
        self.sent += 1


def test_the_summary_lists_the_days_of_the_rows_written_sorted_once_each():
    records = weather_reports(9)  # from 23:00 UTC every 10 minutes: two days
    chunks = [[Message(r.to_json()) for r in records[:4]], [Message(r.to_json()) for r in records[4:]]]
    chunks[1].append(Message(b"{not json"))
    summary = DrainSummary(topic="weather", stream="weather", group_id="g")
    micro = MicroBatch(None, WEATHER, summary, DrainOptions(), 100)  # type: ignore[arg-type]
    micro.reader = Reader(chunks)  # type: ignore[assignment]
    writer = Writer()

    micro.read_and_write(writer, DeadLetters())  # type: ignore[arg-type]

    assert len(writer.rows) == 9
    assert (
        summary.days
        == sorted({r.observed_at.date().isoformat() for r in records})
        == [
            "2024-05-01",
            "2024-05-02",
        ]
    )
    assert summary.to_dict()["days"] == summary.days


def test_a_batch_without_rows_names_no_day():
    summary = DrainSummary(topic="weather", stream="weather", group_id="g")
    micro = MicroBatch(None, WEATHER, summary, DrainOptions(), 100)  # type: ignore[arg-type]
    micro.reader = Reader([[Message(b"null")]])  # type: ignore[assignment]
    micro.read_and_write(Writer(), DeadLetters())  # type: ignore[arg-type]
    assert summary.days == []


def test_the_first_and_last_message_of_each_chunk_are_sampled_for_freshness():
    values = [r.to_json() for r in weather_reports(5)]
    chunks = [
        [Message(values[0], 1_000), Message(values[1], 2_000), Message(values[2], 3_000)],
        [Message(values[3]), Message(values[4], 5_000)],  # a message without a timestamp is skipped
    ]
    summary = DrainSummary(topic="weather", stream="weather", group_id="g")
    micro = MicroBatch(None, WEATHER, summary, DrainOptions(), 100)  # type: ignore[arg-type]
    micro.reader = Reader(chunks)  # type: ignore[assignment]
    micro.read_and_write(Writer(), DeadLetters())  # type: ignore[arg-type]
    assert micro.produced_ms == [1_000, 3_000, 5_000]


def test_dead_letters_are_counted_by_the_step_that_refused_them():
    summary = DrainSummary(topic="weather", stream="weather", group_id="g")
    micro = MicroBatch(None, WEATHER, summary, DrainOptions(), 100)  # type: ignore[arg-type]
    micro.reader = Reader(
        [[Message(b"{not json"), Message(b"null"), Message(weather_reports(1)[0].to_json())]]
    )  # type: ignore[assignment]
    dead = DeadLetters()
    micro.read_and_write(Writer(), dead)  # type: ignore[arg-type]
    assert summary.dead_letter_reasons == {"invalid_value": 2} and dead.sent == 2
