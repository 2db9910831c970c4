"""A StatsD listener: a UDP socket on loopback the settings point the metrics at."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


class StatsdListener:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.port = sock.getsockname()[1]

    def datagrams(self, wait: float = 0.5) -> list[bytes]:
        """Every datagram received, waiting at most ``wait`` for the first and a moment for the rest."""
        found = []
        self.sock.settimeout(wait)
        try:
            while True:
                found.append(self.sock.recv(65536))
                self.sock.settimeout(0.05)
        except TimeoutError:
            return found

    def lines(self, wait: float = 0.5) -> list[str]:
        return [line for d in self.datagrams(wait) for line in d.decode().split("\n")]


@pytest.fixture
def statsd(monkeypatch) -> Iterator[StatsdListener]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    monkeypatch.setenv("KAFKAPIPELINE_METRICS", "on")
    monkeypatch.setenv("KAFKAPIPELINE_STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("KAFKAPIPELINE_STATSD_PORT", str(sock.getsockname()[1]))
    try:
        yield StatsdListener(sock)
    finally:
        sock.close()


def parse(line: str) -> tuple[str, float, str, dict[str, str]]:
    """(name, value, type, tags) of one DogStatsD line."""
    head, _, tag_text = line.partition("|#")
    name_value, kind = head.split("|", 1)
    name, value = name_value.split(":", 1)
    tags = dict(tag.split(":", 1) for tag in tag_text.split(",")) if tag_text else {}
    return name, float(value), kind, tags
