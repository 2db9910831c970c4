"""Helpers for the drain and lag tests: records, producing, offsets, rows, and a killable TCP proxy."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from kafkapipeline.dead_letters.contract import DeadLetter
from kafkapipeline.kafka.retry import queue_full
from kafkapipeline.streams.tweets import TweetRecord
from kafkapipeline.streams.weather import WeatherRecord
from tests.conftest import unique_name

TEXTS = [
    "Loving the sunshine in {city} today, best walk ever!",
    "Stuck in traffic again, this is awful and I hate it",
    "The bus to the office leaves at 8",
    "Not bad at all, the coffee here is great :)",
    "Rainy, grey and cold. Terrible start to the week :(",
]
CITIES = ("Vancouver", "London", "Paris")


def tweets(count: int, start: datetime | None = None) -> list[TweetRecord]:
    """Deterministic tweets with distinct ids, three cities, spread over two UTC days."""
    start = start or datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
    records = []
    for i in range(count):
        city = CITIES[i % len(CITIES)]
        records.append(
            TweetRecord(
                tweet_id=str(1_800_000_000_000_000_000 + i),
                text=f"{TEXTS[i % len(TEXTS)].format(city=city)} #{i}",
                created_at=start + timedelta(seconds=37 * i, microseconds=123_456),
                city=city,
                lang="en",
                author_id=str(1000 + i % 17),
                retweet_count=i % 5,
                reply_count=i % 3,
                like_count=i,
                quote_count=None,
                place_id=None,
                source="test",
                hashtags=frozenset({"yvr", f"tag{i % 4}"}) if i % 3 else None,
            )
        )
    return records


def weather_reports(count: int) -> list[WeatherRecord]:
    start = datetime(2024, 5, 1, 23, 0, tzinfo=UTC)
    return [
        WeatherRecord(
            city=CITIES[i % len(CITIES)],
            observed_at=start + timedelta(minutes=10 * i),
            description="broken clouds" if i % 2 else "clear sky",
            temperature_c=round(10.0 + i * 0.25, 2),
            feels_like_c=9.5,
            temp_min_c=8.0,
            temp_max_c=14.0,
            pressure_hpa=1013,
            humidity_pct=70 + i % 20,
            wind_speed_ms=3.6,
            sunrise=datetime(2024, 5, 1, 12, 45, tzinfo=UTC),
            sunset=datetime(2024, 5, 2, 3, 30, tzinfo=UTC),
            provider="openweathermap",
        )
        for i in range(count)
    ]


def produce(
    kafka_hook, topic: str, items: list[tuple[bytes | None, bytes | None]]
) -> dict[bytes | None, tuple]:
    """Produce (key, value) pairs and wait for every acknowledgement; returns value -> (partition, offset)."""
    producer = kafka_hook.producer()
    placed: dict[bytes | None, tuple[int, int]] = {}
    errors: list[str] = []

    def on_delivery(error, message) -> None:
        if error is not None:
            errors.append(error.str())
        else:
            placed[message.value()] = (message.partition(), message.offset())

    room = queue_full(producer, 60)  # the pipeline's own back-pressure wait, for large test topics
    for key, value in items:
        room(producer.produce, topic, key=key, value=value, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(60) == 0, "messages not acknowledged by Kafka"
    assert not errors, errors
    return placed


def produce_records(kafka_hook, topic: str, records) -> dict[bytes | None, tuple]:
    return produce(kafka_hook, topic, [(r.key, r.to_json()) for r in records])


def partitions_of(kafka_hook, topic: str) -> list[int]:
    return sorted(kafka_hook.admin().list_topics(topic, timeout=10).topics[topic].partitions)


def committed_offsets(kafka_hook, topic: str, group_id: str) -> dict[int, int]:
    """The group's committed offsets (negative: nothing committed), read without joining the group."""
    consumer = kafka_hook.consumer(group_id)
    try:
        wanted = [TopicPartition(topic, p) for p in partitions_of(kafka_hook, topic)]
        return {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=10)}
    finally:
        consumer.close()


def end_offsets(kafka_hook, topic: str) -> dict[int, int]:
    consumer = kafka_hook.consumer(unique_name("ends"))
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
            for p in partitions_of(kafka_hook, topic)
        }
    finally:
        consumer.close()


def read_all(kafka_hook, topic: str, timeout: float = 60.0) -> list:
    """Every message of ``topic`` (with headers), from the beginning of each partition to its end."""
    partitions = partitions_of(kafka_hook, topic)
    ends = end_offsets(kafka_hook, topic)
    consumer = kafka_hook.consumer(unique_name("reader"))
    try:
        remaining = {p for p in partitions if ends[p] > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in remaining])
        messages = []
        deadline = time.monotonic() + timeout
        while remaining:
            assert time.monotonic() < deadline, (
                f"partitions {sorted(remaining)} of {topic} never reached their end"
            )
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                # A transactional writer (the drain's dead letters) leaves commit markers that take
                # offsets but are never delivered: the end of the log is the end.
                if message.offset() >= ends[message.partition()]:
                    remaining.discard(message.partition())
                continue
            messages.append(message)
            if message.offset() + 1 >= ends[message.partition()]:
                remaining.discard(message.partition())
        return messages
    finally:
        consumer.close()


def dead_letters(kafka_hook, topic: str) -> list[tuple[bytes | None, bytes | None, DeadLetter]]:
    return [
        (m.key(), m.value(), DeadLetter.from_headers(m.headers()))
        for m in read_all(kafka_hook, f"{topic}.dlq")
    ]


def tweet_ids(cassandra, keyspace: str) -> list[str]:
    return [row.tweet_id for row in cassandra.execute(f"SELECT tweet_id FROM {keyspace}.tweets", timeout=60)]


def cassandra_conn_through(port: int, host: str = "127.0.0.1") -> str:
    """The project's Cassandra connection pointed at another local address, and at that address only.

    The driver learns the node's own address from ``system.local`` and would otherwise connect
    there directly as well, around a proxy; the white-list policy keeps it on ``host``.
    """
    conn = json.loads(os.environ["AIRFLOW_CONN_CASSANDRA_DEFAULT"])
    conn["host"], conn["port"] = host, port
    conn.setdefault("extra", {}).update(
        {
            "load_balancing_policy": "WhiteListRoundRobinPolicy",
            "load_balancing_policy_args": {"hosts": [host]},
        }
    )
    return json.dumps(conn)


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TcpProxy:
    """Forward a local port to Cassandra; :meth:`kill` makes Cassandra vanish for whoever uses the proxy.

    Killing closes the listening socket and every forwarded connection at once, which is what
    a client sees when the Cassandra process dies: connections reset, new ones refused.
    """

    def __init__(
        self, upstream_port: int, upstream_host: str = "127.0.0.1", listen_host: str = "127.0.0.2"
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server((listen_host, 0))
        self.host, self.port = self.listener.getsockname()[:2]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.killed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.killed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.killed.is_set():
                    client.close()
                    server.close()
                    return
                self.sockets.extend([client, server])
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def kill(self) -> None:
        self.killed.set()
        with self.lock:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the other thread
            self.listener.close()
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
