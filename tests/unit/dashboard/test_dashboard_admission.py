"""The dashboard's read pool: a cap per process, reads on worker threads, slots held until a read ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kafkapipeline.dashboard.admission import RETRY_AFTER_SECONDS, DashboardBusy, ReadPool, result_of


def blocked_read(started: threading.Event, release: threading.Event) -> str:
    started.set()
    assert release.wait(10), "the test never released the read"
    return threading.current_thread().name


@pytest.fixture
def pool():
    pool = ReadPool(lambda: 2)
    yield pool
    pool.close()


def test_beyond_the_cap_a_read_is_refused_at_once_and_a_finished_read_frees_its_slot(pool):
    release = threading.Event()
    started = [threading.Event(), threading.Event()]
    running = [pool.submit(blocked_read, event, release) for event in started]
    assert all(event.wait(5) for event in started)

    with pytest.raises(DashboardBusy) as busy:
        pool.submit(blocked_read, threading.Event(), release)
    assert (busy.value.running, busy.value.retry_after) == (2, RETRY_AFTER_SECONDS)
    assert pool.running == 2

    release.set()
    names = [future.result(5) for future in running]
    assert all(name.startswith("dashboard-read") for name in names)  # never the caller's thread
    assert threading.current_thread().name not in names
    for _ in range(50):  # the slot is released by the future's done callback
        if pool.running == 0:
            break
        threading.Event().wait(0.01)
    assert pool.running == 0
    assert pool.submit(str, 7).result(5) == "7"


def test_the_cap_is_read_at_each_submission():
    cap = [1]
    pool = ReadPool(lambda: cap[0])
    release = threading.Event()
    try:
        pool.submit(blocked_read, threading.Event(), release)
        with pytest.raises(DashboardBusy):
            pool.submit(str, 1)
        cap[0] = 2
        assert pool.submit(str, 1).result(5) == "1"
    finally:
        release.set()
        pool.close()


def test_a_waiter_that_gives_up_leaves_the_read_running_and_its_slot_taken(pool):
    started, release = threading.Event(), threading.Event()
    future = pool.submit(blocked_read, started, release)

    async def give_up() -> None:
        waiting = asyncio.ensure_future(result_of(future))
        await asyncio.sleep(0)
        assert started.wait(5)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(give_up())
    assert not future.cancelled() and not future.done()
    assert pool.running == 1  # the thread still works: its slot stays taken until it ends
    release.set()
    assert future.result(5).startswith("dashboard-read")


def test_result_of_awaits_a_read_without_blocking_the_loop(pool):
    started, release = threading.Event(), threading.Event()

    async def main() -> tuple[str, int]:
        future = pool.submit(blocked_read, started, release)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while not future.done():
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        await asyncio.sleep(0.1)
        release.set()
        name = await result_of(future)
        await ticker
        return name, ticks

    name, ticks = asyncio.run(main())
    assert name.startswith("dashboard-read")
    assert ticks >= 5  # the loop kept running while the read blocked its thread


def test_a_failed_read_raises_in_the_waiter(pool):
    def fail() -> None:
        raise ValueError("no such thing")

    async def main() -> None:
        await result_of(pool.submit(fail))

    with pytest.raises(ValueError, match="no such thing"):
        asyncio.run(main())
