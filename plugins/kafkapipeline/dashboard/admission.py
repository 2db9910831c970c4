"""How many dashboard reads an api-server process runs at once, and where: in worker processes.

The api-server is one process serving the Airflow UI, its REST API and the tasks' execution API on one
event loop and one thread pool. A dashboard read is seconds of row decoding and aggregation: on a thread
of that process it holds the GIL against both (health answered in up to 2.5 s under a burst, even one
read at a time), so it runs in a worker process and the api-server only awaits its future and forwards
the JSON it returns. At most ``KAFKAPIPELINE_DASHBOARD_MAX_CONCURRENT_REQUESTS`` run at once, one per
worker; a read beyond that is refused at once (:class:`DashboardBusy`, a 429 with ``Retry-After``)
instead of queueing behind the others.

Workers start on the first read, never at import: forked from a ``forkserver`` that imported the
worker's module once (a new worker starts in milliseconds instead of importing Airflow again, and is
never a fork of the threaded api-server), with the api-server's environment as it is then, at a lower
CPU priority (:data:`WORKER_NICENESS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds a refused client is told to wait: about one read of a full 14-day range.
RETRY_AFTER_SECONDS = 2
#: Added to a worker's nice value: on a 2-core host the kernel then gives Airflow's own routes (and the
#: tasks' heartbeats) the CPU first, and a dashboard read only what they leave.
WORKER_NICENESS = 10


class DashboardBusy(RuntimeError):
    """Every read slot of this process is taken; the client should retry after ``retry_after`` seconds."""

    def __init__(self, running: int, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(f"{running} dashboard reads are running, the most this process runs at once")
        self.running = running
        self.retry_after = retry_after


def in_environ(environ: dict[str, str], fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """``fn(*args)`` in a worker, with the api-server's environment as it was at submission.

    So a changed ``AIRFLOW_CONN_CASSANDRA_DEFAULT`` (or any setting) applies to the next read, as it did
    when reads ran on the api-server's threads.
    """
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    return fn(*args)


def start_worker(
    environ: dict[str, str], initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
) -> None:
    """A worker process's start: the api-server's environment, a lower priority, then ``initializer``."""
    os.environ.clear()
    os.environ.update(environ)
    os.nice(WORKER_NICENESS)
    if initializer is not None:
        initializer(*initargs)


class ReadPool:
    """Runs blocking reads in worker processes, at most ``limit()`` at once (read per submission).

    The workers start on the first submission; a new cap starts a new set (the old one ends when its
    reads do), and so does a worker's death (its read fails, the next one runs).

    :param limit: the cap, read at each submission so a changed setting applies to the next read
    :param initializer: run once in each worker after it starts (a module-level function)
    :param initargs: ``initializer``'s arguments (picklable)
    :param preload: modules the forkserver imports once for every worker (``initializer``'s own module is
        one of them), as the forkserver's first user sets them
    """

    def __init__(
        self,
        limit: Callable[[], int],
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        preload: Sequence[str] = (),
    ) -> None:
        self._limit = limit
        self._initializer = initializer
        self._initargs = initargs
        self._preload = ["__main__", *preload]
        if initializer is not None:
            self._preload.append(initializer.__module__)
        self._lock = threading.Lock()
        self._running = 0
        self._executor: ProcessPoolExecutor | None = None
        self._size = 0

    @property
    def running(self) -> int:
        """Reads running now (a slot is held until its read ends, even when its client left)."""
        return self._running

    @property
    def started(self) -> bool:
        """Whether worker processes may be running (none until the first read)."""
        return self._executor is not None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Start ``fn(*args)`` in a worker process and hold one slot until it ends.

        ``fn`` and ``args`` are pickled: ``fn`` is a module-level function, its result picklable.

        :raises DashboardBusy: every slot is taken
        """
        limit = self._limit()
        with self._lock:
            if self._running >= limit:
                raise DashboardBusy(self._running)
            self._running += 1
        try:
            executor, future = self._submit(limit, fn, args)
        except BaseException:
            self._release(None, None)
            raise
        future.add_done_callback(partial(self._release, executor))
        return future

    def _submit(
        self, limit: int, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> tuple[ProcessPoolExecutor, Future[T]]:
        with self._lock:
            executor = self._executor_for(limit)
        try:
            return executor, executor.submit(in_environ, dict(os.environ), fn, args)
        except BrokenProcessPool:  # a worker died since the last read (the pool has ended): a new one, once
            with self._lock:
                self._forget(executor)
                executor = self._executor_for(limit)
            return executor, executor.submit(in_environ, dict(os.environ), fn, args)

    def _executor_for(self, limit: int) -> ProcessPoolExecutor:
        """The current workers, new if there are none or the cap changed (the caller holds the lock)."""
        if self._executor is not None and self._size != limit:
            self._executor.shutdown(wait=False)  # its workers end when their reads do
            self._executor = None
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(self._preload)
            self._executor = ProcessPoolExecutor(
                max_workers=limit,
                mp_context=context,
                initializer=start_worker,
                initargs=(dict(os.environ), self._initializer, self._initargs),
            )
            self._size = limit
        return self._executor

    def _forget(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is executor:
            self._executor = None

    def _release(self, executor: ProcessPoolExecutor | None, future: Future[Any] | None) -> None:
        with self._lock:
            self._running -= 1
            if executor is None or future is None or future.cancelled():
                return
            if isinstance(future.exception(), BrokenProcessPool):  # its workers are gone
                self._forget(executor)

    def close(self) -> None:
        """Stop the workers: queued reads are cancelled, running ones end first (the app's shutdown)."""
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
