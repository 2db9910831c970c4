"""A short-lived cache of dashboard responses per (endpoint, keyspace, city, range), shared while in flight.

Requests for the same range within ``KAFKAPIPELINE_DASHBOARD_CACHE_SECONDS`` of a finished read get its
result without reading Cassandra again, and requests arriving while that read runs wait for it instead of
starting their own (a burst of one link is one read, and takes one slot of
:class:`~kafkapipeline.dashboard.admission.ReadPool`). A failed read is never cached. Entries are few and
bounded; the oldest go first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

#: Entries kept at most (a 14-day response is a few hundred kB; cities and ranges are open-ended).
MAX_ENTRIES = 64


@dataclass
class _Entry:
    future: Future[Any]
    expires_at: float | None = None  # set when the read ends well


class ResultCache:
    """Futures of reads by key: in flight, or done and younger than ``ttl()`` seconds.

    :param ttl: seconds a finished read is reused, read at each lookup (0: no caching, no sharing)
    :param max_entries: entries kept at most
    :param clock: ``time.monotonic`` (replaceable in tests)
    """

    def __init__(
        self,
        ttl: Callable[[], float],
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_start(self, key: Hashable, start: Callable[[], Future[Any]]) -> Future[Any]:
        """The cached or running read of ``key``, else the one ``start()`` begins (then cached).

        Whatever ``start`` raises (a full pool) propagates, and nothing is cached.
        """
        if self._ttl() <= 0:
            return start()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._usable(entry):
                self._entries.move_to_end(key)
                return entry.future
            future = start()
            entry = _Entry(future)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        future.add_done_callback(lambda done: self._finished(key, entry, done))
        return future

    def _usable(self, entry: _Entry) -> bool:
        if not entry.future.done():
            return True
        return entry.expires_at is not None and self._clock() < entry.expires_at

    def _finished(self, key: Hashable, entry: _Entry, done: Future[Any]) -> None:
        with self._lock:
            if done.cancelled() or done.exception() is not None:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            else:
                entry.expires_at = self._clock() + self._ttl()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
