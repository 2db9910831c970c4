"""The dashboard's read pool: worker processes, a cap per api-server process, slots held until a read ends.

The reads are real functions run in real worker processes; they signal through files, the only thing a
test and a worker share without a service.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import psutil
import pytest

from kafkapipeline.dashboard import worker
from kafkapipeline.dashboard.admission import (
    RETRY_AFTER_SECONDS,
    WORKER_NICENESS,
    DashboardBusy,
    ReadPool,
    result_of,
)
from kafkapipeline.dashboard.queries import READ_MODULES

#: Seconds a worker may take to start (the first one starts the forkserver, which imports the worker).
START_SECONDS = 60
#: What the app's pool has the forkserver import; the forkserver is one per process, its first pool's
#: preload stays, so these pools ask for the same (the app's tests then start their workers as fast).
PRELOAD = (worker.__name__, *READ_MODULES)


def blocked_read(started: str, release: str) -> int:
    """Say it started, wait until the test releases it, give the worker's pid."""
    Path(started).touch()
    deadline = time.monotonic() + START_SECONDS
    while not Path(release).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the read")
        time.sleep(0.01)
    return os.getpid()


def process_facts() -> tuple[int, int, str | None]:
    """The worker's pid, nice value and DASHBOARD_WORKER_TEST_MARK."""
    return os.getpid(), os.nice(0), os.environ.get("DASHBOARD_WORKER_TEST_MARK")


def fail() -> None:
    raise ValueError("no such thing")


def die() -> None:
    os._exit(3)


class Gate:
    """Files a blocked read touches when it starts and waits for before it ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.release_file = folder / "release"

    def args(self) -> tuple[str, str]:
        self.count += 1
        return str(self.folder / f"started-{self.count}"), str(self.release_file)

    def wait_started(self, count: int) -> None:
        deadline = time.monotonic() + START_SECONDS
        while len(list(self.folder.glob("started-*"))) < count:
            assert time.monotonic() < deadline, f"{count} reads never started"
            time.sleep(0.01)

    def release(self) -> None:
        self.release_file.touch()


def wait_until(condition, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.fixture
def gate(tmp_path) -> Gate:
    gate = Gate(tmp_path)
    yield gate
    gate.release()


@pytest.fixture
def pool():
    pool = ReadPool(lambda: 2, preload=PRELOAD)
    yield pool
    pool.close()


def test_creating_a_pool_starts_no_process():
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    pool = ReadPool(lambda: 4, preload=PRELOAD)
    assert not pool.started and pool.running == 0
    after = {child.pid for child in psutil.Process().children(recursive=True)}
    assert after <= before
    pool.close()


def test_beyond_the_cap_a_read_is_refused_at_once_and_a_finished_read_frees_its_slot(pool, gate):
    running = [pool.submit(blocked_read, *gate.args()) for _ in range(2)]
    gate.wait_started(2)

    with pytest.raises(DashboardBusy) as busy:
        pool.submit(blocked_read, *gate.args())
    assert (busy.value.running, busy.value.retry_after) == (2, RETRY_AFTER_SECONDS)
    assert pool.running == 2

    gate.release()
    pids = {future.result(START_SECONDS) for future in running}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes, never this one
    wait_until(lambda: pool.running == 0, "the slots were never released")
    assert pool.submit(str, 7).result(START_SECONDS) == "7"


def test_workers_run_at_a_lower_priority_with_the_environment_of_their_start(pool, monkeypatch):
    monkeypatch.setenv("DASHBOARD_WORKER_TEST_MARK", "set after this process started")
    pid, niceness, mark = pool.submit(process_facts).result(START_SECONDS)
    assert pid != os.getpid()
    assert niceness == min(os.nice(0) + WORKER_NICENESS, 19)
    assert mark == "set after this process started"


def test_each_read_sees_the_environment_as_it_was_at_its_submission(pool, monkeypatch):
    monkeypatch.setenv("DASHBOARD_WORKER_TEST_MARK", "first")
    _, _, first = pool.submit(process_facts).result(START_SECONDS)
    monkeypatch.setenv("DASHBOARD_WORKER_TEST_MARK", "changed after the worker started")
    marks = {pool.submit(process_facts).result(START_SECONDS)[2] for _ in range(4)}
    assert first == "first"
    assert marks == {"changed after the worker started"}  # the same workers, told at each read
    monkeypatch.delenv("DASHBOARD_WORKER_TEST_MARK")
    assert pool.submit(process_facts).result(START_SECONDS)[2] is None


def test_the_cap_is_read_at_each_submission(gate):
    cap = [1]
    pool = ReadPool(lambda: cap[0], preload=PRELOAD)
    try:
        first = pool.submit(blocked_read, *gate.args())
        gate.wait_started(1)
        with pytest.raises(DashboardBusy):
            pool.submit(str, 1)
        cap[0] = 2
        assert pool.submit(str, 1).result(START_SECONDS) == "1"
        assert not first.done()  # the read of the former cap still runs, and then ends well
        gate.release()
        assert first.result(START_SECONDS) != os.getpid()
    finally:
        pool.close()


def test_a_waiter_that_gives_up_leaves_the_read_running_and_its_slot_taken(pool, gate):
    future = pool.submit(blocked_read, *gate.args())

    async def give_up() -> None:
        waiting = asyncio.ensure_future(result_of(future))
        await asyncio.sleep(0)
        gate.wait_started(1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(give_up())
    assert not future.cancelled() and not future.done()
    assert pool.running == 1  # the worker still reads: its slot stays taken until it ends
    gate.release()
    assert future.result(START_SECONDS) != os.getpid()


def test_result_of_awaits_a_read_without_blocking_the_loop(pool, gate):
    async def main() -> tuple[int, int]:
        future = pool.submit(blocked_read, *gate.args())
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while not future.done():
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        await asyncio.to_thread(gate.wait_started, 1)
        await asyncio.sleep(0.1)
        gate.release()
        pid = await result_of(future)
        await ticker
        return pid, ticks

    pid, ticks = asyncio.run(main())
    assert pid != os.getpid()
    assert ticks >= 5  # the loop kept running while the read blocked its worker


def test_a_failed_read_raises_its_own_type_in_the_waiter(pool):
    async def main() -> None:
        await result_of(pool.submit(fail))

    with pytest.raises(ValueError, match="no such thing"):
        asyncio.run(main())
    assert pool.submit(str, 1).result(START_SECONDS) == "1"


def test_a_worker_that_dies_fails_its_read_and_the_next_read_gets_a_new_worker(pool):
    with pytest.raises(BrokenProcessPool):
        pool.submit(die).result(START_SECONDS)
    wait_until(lambda: pool.running == 0, "the dead worker's slot was never released")
    pid, _, _ = pool.submit(process_facts).result(START_SECONDS)
    assert pid != os.getpid()


def test_closing_the_pool_ends_its_workers():
    pool = ReadPool(lambda: 2, preload=PRELOAD)
    pid, _, _ = pool.submit(process_facts).result(START_SECONDS)
    assert psutil.pid_exists(pid)
    pool.close()
    assert not pool.started
    wait_until(lambda: not psutil.pid_exists(pid), f"worker {pid} outlived its pool")
