"""Settings reads: what one ``kafkapipeline.settings`` call costs a DAG parse or a task.

Prints the cost of a cached read, of a rebuild (a ``KAFKAPIPELINE_*`` variable changed) and of the
module's import. No service needed::

    .venv/bin/python bench/settings_benchmark.py
"""

from __future__ import annotations

import os
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))


def per_call_us(func, number: int) -> float:
    return min(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


def main() -> None:
    started = time.perf_counter()
    from kafkapipeline import settings

    imported_ms = (time.perf_counter() - started) * 1e3
    settings.current()

    def rebuilt() -> None:
        settings._built.cache_clear()
        settings.current()

    def changed() -> None:  # a new value each call: every read rebuilds
        os.environ["KAFKAPIPELINE_TWEETS_TOPIC"] = f"t{time.perf_counter_ns()}"
        settings.tweets_topic()

    figures = {
        "import kafkapipeline.settings (pydantic-settings included)": f"{imported_ms:.1f} ms",
        "current(), environment unchanged (cached)": f"{per_call_us(settings.current, 20_000):.1f} us",
        "tweets_topic(), environment unchanged": f"{per_call_us(settings.tweets_topic, 20_000):.1f} us",
        "current(), object rebuilt": f"{per_call_us(rebuilt, 300):.0f} us",
        "tweets_topic() after a variable changed": f"{per_call_us(changed, 300):.0f} us",
        "os.environ.get, for scale": f"{per_call_us(lambda: os.environ.get('PATH'), 20_000):.2f} us",
    }
    for what, figure in figures.items():
        print(f"{what:<60} {figure:>10}")


if __name__ == "__main__":
    main()
