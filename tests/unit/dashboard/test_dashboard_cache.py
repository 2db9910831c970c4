"""The dashboard's response cache: one read per key while it runs, reused for its TTL, failures forgotten."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from kafkapipeline.dashboard.cache import ResultCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Starts:
    """``start`` callables that count the reads begun and hand back their futures unfinished."""

    def __init__(self) -> None:
        self.futures: list[Future] = []

    def __call__(self) -> Future:
        future: Future = Future()
        self.futures.append(future)
        return future


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_running_read_is_shared_then_reused_until_its_ttl_ends(clock):
    cache = ResultCache(lambda: 30, clock=clock)
    starts = Starts()

    first = cache.get_or_start(("city", 1), starts)
    assert cache.get_or_start(("city", 1), starts) is first  # joins the running read
    clock.now += 100  # a read in flight never expires, however long it takes
    assert cache.get_or_start(("city", 1), starts) is first
    first.set_result("body")
    clock.now += 29.9
    assert cache.get_or_start(("city", 1), starts).result() == "body"
    assert len(starts.futures) == 1

    clock.now += 0.2  # 30 s after the read ended
    again = cache.get_or_start(("city", 1), starts)
    assert again is not first and len(starts.futures) == 2


def test_other_keys_are_other_reads(clock):
    cache = ResultCache(lambda: 30, clock=clock)
    starts = Starts()
    cache.get_or_start(("Vancouver", "2026-03-01", "2026-03-02"), starts)
    cache.get_or_start(("Burnaby", "2026-03-01", "2026-03-02"), starts)
    cache.get_or_start(("Vancouver", "2026-03-01", "2026-03-03"), starts)
    assert len(starts.futures) == 3


def test_a_failed_read_is_not_kept(clock):
    cache = ResultCache(lambda: 30, clock=clock)
    starts = Starts()
    failed = cache.get_or_start("key", starts)
    assert cache.get_or_start("key", starts) is failed  # waiting requests share the failure
    failed.set_exception(RuntimeError("Cassandra is down"))

    retried = cache.get_or_start("key", starts)
    assert retried is not failed and len(starts.futures) == 2


def test_a_read_that_could_not_start_leaves_nothing_behind(clock):
    cache = ResultCache(lambda: 30, clock=clock)

    def busy() -> Future:
        raise RuntimeError("every slot is taken")

    with pytest.raises(RuntimeError, match="every slot"):
        cache.get_or_start("key", busy)
    assert len(cache) == 0


def test_a_ttl_of_zero_turns_the_cache_off(clock):
    ttl = [0]
    cache = ResultCache(lambda: ttl[0], clock=clock)
    starts = Starts()
    cache.get_or_start("key", starts)
    cache.get_or_start("key", starts)
    assert len(starts.futures) == 2 and len(cache) == 0
    ttl[0] = 5  # read at each lookup
    cache.get_or_start("key", starts)
    assert cache.get_or_start("key", starts) is starts.futures[-1]


def test_entries_are_bounded_the_oldest_going_first(clock):
    cache = ResultCache(lambda: 30, max_entries=3, clock=clock)
    starts = Starts()
    for key in "abcd":
        cache.get_or_start(key, starts).set_result(key)
    assert len(cache) == 3
    assert cache.get_or_start("b", starts).result() == "b"  # kept, and now the newest
    cache.get_or_start("e", starts).set_result("e")  # pushes out "c", the oldest now
    assert cache.get_or_start("c", starts) is starts.futures[-1]
    assert len(starts.futures) == 6  # a, b, c, d, e, then c again


def test_max_entries_must_be_positive():
    with pytest.raises(ValueError, match="max_entries"):
        ResultCache(lambda: 30, max_entries=0)
