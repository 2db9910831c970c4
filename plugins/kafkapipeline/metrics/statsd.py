"""A fire-and-forget StatsD client over UDP with DogStatsD tags: how every pipeline metric leaves the process.

A call site gathers its lines in a :class:`Batch` (``with emitting() as out: out.gauge(...)``) and they
leave together, in as few datagrams as they fit (a drain batch is one), when the block ends. Sending never
raises and never waits: UDP to the local statsd_exporter, a lost datagram is a lost sample. With
``KAFKAPIPELINE_METRICS=off`` the block gets a batch that drops everything (the cost is a few calls).

Its own client rather than Airflow's ``Stats``: tags (Prometheus labels) need Airflow's InfluxDB
line format switched on, and ``Stats`` is set up by Airflow's task runner only, so the triggerer's lag
readings and the benchmarks would send nothing; docs/metrics.md says more.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from kafkapipeline import settings

log = logging.getLogger(__name__)

#: The most bytes a datagram carries: fits an Ethernet MTU, so a remote exporter gets it unfragmented.
MAX_DATAGRAM_BYTES = 1432
#: Seconds before a host name that did not resolve is tried again.
RESOLVE_RETRY_SECONDS = 60.0
#: Characters a tag value may not hold in the DogStatsD format (they separate tags, fields and lines).
_TAG_UNSAFE = str.maketrans({",": "_", "|": "_", "#": "_", "\n": "_", "\r": "_"})


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def _tags(tags: dict[str, object]) -> str:
    if not tags:
        return ""
    return "|#" + ",".join(f"{key}:{str(value).translate(_TAG_UNSAFE)}" for key, value in tags.items())


class Batch:
    """StatsD lines waiting to be sent together; tag values are made safe for the format."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[str] = []

    def gauge(self, name: str, value: float, **tags: object) -> None:
        """Set ``name`` to ``value`` (a negative value is sent as 0 and a decrement, as StatsD wants)."""
        suffix = "|g" + _tags(tags)
        if value < 0:
            self.lines.append(f"{name}:0{suffix}")
        self.lines.append(f"{name}:{_number(value)}{suffix}")

    def count(self, name: str, value: float = 1, **tags: object) -> None:
        """Add ``value`` to the counter ``name``."""
        self.lines.append(f"{name}:{_number(value)}|c{_tags(tags)}")

    def observe(self, name: str, value: float, **tags: object) -> None:
        """One observation of the histogram ``name`` (in its own unit: the mapping file sets the buckets)."""
        self.lines.append(f"{name}:{_number(value)}|h{_tags(tags)}")


class _Dropped(Batch):
    """The batch of a process whose metrics are off: it keeps nothing."""

    __slots__ = ()

    def gauge(self, name: str, value: float, **tags: object) -> None:
        pass

    def count(self, name: str, value: float = 1, **tags: object) -> None:
        pass

    def observe(self, name: str, value: float, **tags: object) -> None:
        pass


DROPPED = _Dropped()


def datagrams(lines: list[str], limit: int = MAX_DATAGRAM_BYTES) -> Iterator[bytes]:
    """``lines`` joined by newlines into datagrams of at most ``limit`` bytes (a longer line goes alone)."""
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        data = line.encode("utf-8")
        if chunk and size + 1 + len(data) > limit:
            yield b"\n".join(chunk)
            chunk, size = [], 0
        size += len(data) + (1 if chunk else 0)
        chunk.append(data)
    if chunk:
        yield b"\n".join(chunk)


class StatsdTarget:
    """Where the datagrams go: resolved on first use, again a minute after a name did not resolve."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._address: tuple[str, int] | None = None
        self._socket: socket.socket | None = None
        self._retry_at = 0.0

    def _resolve(self) -> bool:
        if self._socket is not None:
            return True
        if time.monotonic() < self._retry_at:
            return False
        try:
            found = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, kind, proto, _, address = found[0]
            sock = socket.socket(family, kind, proto)
        except OSError as err:
            self._retry_at = time.monotonic() + RESOLVE_RETRY_SECONDS
            log.warning(
                "metrics: StatsD at %s:%s unresolvable (%s); dropping metrics", self.host, self.port, err
            )
            return False
        sock.setblocking(False)
        self._address, self._socket = (str(address[0]), int(address[1])), sock
        return True

    def send(self, lines: list[str]) -> None:
        """Send ``lines``; whatever fails is dropped (logged at debug level)."""
        if not lines or not self._resolve():
            return
        assert self._socket is not None and self._address is not None
        for datagram in datagrams(lines):
            try:
                self._socket.sendto(datagram, self._address)
            except OSError as err:  # a full buffer or no route: a lost sample, never a failed task
                log.debug("metrics: dropped %d bytes for %s:%s: %s", len(datagram), self.host, self.port, err)


@lru_cache(maxsize=4)
def _target(host: str, port: int) -> StatsdTarget:
    return StatsdTarget(host, port)


def current_target() -> StatsdTarget | None:
    """The StatsD target the settings name now; None when ``KAFKAPIPELINE_METRICS`` is off."""
    chosen = settings.current()
    return _target(chosen.statsd_host, chosen.statsd_port) if chosen.metrics else None


@contextmanager
def emitting() -> Iterator[Batch]:
    """A batch whose lines are sent when the block ends (even by an exception); a dropping one when off."""
    target = current_target()
    if target is None:
        yield DROPPED
        return
    batch = Batch()
    try:
        yield batch
    finally:
        target.send(batch.lines)
