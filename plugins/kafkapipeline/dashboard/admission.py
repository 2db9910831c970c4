"""How many dashboard reads an api-server process runs at once, and where: never on its event loop.

The api-server is one process serving the Airflow UI, its REST API and the tasks' execution API on one
event loop (and one shared thread pool for their synchronous routes). A dashboard read is seconds of
blocking Cassandra I/O and Python aggregation, so it runs on this pool's own worker threads, at most
``KAFKAPIPELINE_DASHBOARD_MAX_CONCURRENT_REQUESTS`` at a time; a read beyond that is refused at once
(:class:`DashboardBusy`, a 429 with ``Retry-After``) instead of queueing behind the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from kafkapipeline.settings import DASHBOARD_MAX_CONCURRENT_REQUESTS_LIMIT

T = TypeVar("T")

#: Worker threads the pool may ever start: the highest cap the setting allows (threads start lazily,
#: one per read running at once, so a process never holds more threads than its cap has needed).
MAX_WORKERS = DASHBOARD_MAX_CONCURRENT_REQUESTS_LIMIT
#: Seconds a refused client is told to wait: about one read of a full 14-day range.
RETRY_AFTER_SECONDS = 2


class DashboardBusy(RuntimeError):
    """Every read slot of this process is taken; the client should retry after ``retry_after`` seconds."""

    def __init__(self, running: int, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(f"{running} dashboard reads are running, the most this process runs at once")
        self.running = running
        self.retry_after = retry_after


class ReadPool:
    """Runs blocking reads on worker threads, at most ``limit()`` at once (read per submission).

    :param limit: the cap, read at each submission so a changed setting applies to the next read
    :param max_workers: the most threads the pool may start (the highest cap allowed)
    """

    def __init__(self, limit: Callable[[], int], max_workers: int = MAX_WORKERS) -> None:
        self._limit = limit
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._running = 0
        self._executor: ThreadPoolExecutor | None = None

    @property
    def running(self) -> int:
        """Reads running now (a slot is held until its read ends, even when its client left)."""
        return self._running

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Start ``fn(*args)`` on a worker thread and hold one slot until it ends.

        :raises DashboardBusy: every slot is taken
        """
        limit = min(self._limit(), self._max_workers)
        with self._lock:
            if self._running >= limit:
                raise DashboardBusy(self._running)
            self._running += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="dashboard-read")
            executor = self._executor
        try:
            future = executor.submit(fn, *args)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    def _release(self, _future: Future[Any] | None) -> None:
        with self._lock:
            self._running -= 1

    def close(self) -> None:
        """Stop the worker threads once their reads end (the app's shutdown)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


async def result_of(future: Future[T]) -> T:
    """Wait for ``future`` without blocking the event loop; the caller's cancellation leaves it running.

    (``asyncio.wrap_future`` would cancel a future still queued when its waiter is cancelled, and the
    future may be shared with other requests through the cache.)
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[T] = loop.create_future()

    def settle(done: Future[T]) -> None:
        if waiter.cancelled():
            return
        if done.cancelled():  # the pool shut down before the read started
            waiter.cancel()
            return
        error = done.exception()
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(done.result())

    def on_done(done: Future[T]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
            loop.call_soon_threadsafe(settle, done)

    future.add_done_callback(on_done)
    return await waiter
