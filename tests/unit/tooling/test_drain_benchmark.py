"""bench/drain_benchmark.py's pure parts: Cassandra's CPU by thread role, round keyspaces, the report."""

from __future__ import annotations

import pytest

from tests.unit.tooling.bench_modules import load_bench, printed

drain_benchmark = load_bench("drain_benchmark")
ProcessCpu = drain_benchmark.ProcessCpu


def test_cpu_by_role_counts_new_threads_from_zero_and_exited_ones_as_other():
    before = {
        (7, "all"): ("all", 10.0),
        (7, "101"): ("requests", 4.0),
        (7, "102"): ("GC", 1.0),
        (7, "103"): ("requests", 2.0),  # exits before the second sample
    }
    after = {
        (7, "all"): ("all", 16.0),
        (7, "101"): ("requests", 6.5),
        (7, "102"): ("GC", 1.5),
        (7, "104"): ("requests", 1.0),  # started between the samples
        (7, "105"): ("other", 0.0),
    }
    roles = ProcessCpu.by_role(before, after)
    assert roles == pytest.approx({"requests": 3.5, "GC": 0.5, "other": 2.0})
    assert sum(roles.values()) == pytest.approx(6.0)  # the process total, nothing lost or counted twice


def test_thread_names_map_to_their_roles():
    names = ("Native-Transpor", "MutationStage-3", "GC Thread#1", "C2 CompilerThre", "CompactionExec")
    assert [ProcessCpu.role_of(name) for name in names] == ["requests", "requests", "GC", "JIT", "other"]


def test_each_round_of_a_repeated_way_writes_a_keyspace_of_its_own():
    bench = drain_benchmark.Benchmark.__new__(drain_benchmark.Benchmark)
    bench.run_id = "abc123"
    bench.keyspaces = {way: f"bench_{way}_abc123" for way in drain_benchmark.Benchmark.WAYS}
    names = {(way, n): bench.round_keyspace(way, n) for way in bench.REPEATED for n in range(3)}
    assert len(set(names.values())) == len(names)
    assert names[("drain", 0)] == "bench_drain_abc123" and names[("drain", 2)] == "bench_drain_abc123_r2"
    bench.start_round(2)
    bench.start_round(1)  # where it points depends on the round alone, not on the rounds before
    assert bench.keyspaces["drain"] == names[("drain", 1)]
    assert bench.keyspaces["ceiling"] == "bench_ceiling_abc123"  # timed once: never repointed


def test_the_report_gives_rows_per_request_and_the_paired_cassandra_ratio():
    bench = drain_benchmark.Benchmark.__new__(drain_benchmark.Benchmark)
    bench.n = bench.naive_n = 100_000
    bench.results = {"drain": 27_000.0, "ceiling_batched": 43_000.0}
    bench.rounds = {"drain": [26_000.0, 28_000.0], "ceiling_batched": [42_000.0, 44_000.0]}
    bench.stages = {}
    bench.cpu_rounds = {
        "drain": [
            {"python": 32.0, "cassandra": 22.0, "kafka": 1.0},
            {"python": 32.0, "cassandra": 26.0, "kafka": 1.0},
        ],
        "ceiling_batched": [{"python": 20.0, "cassandra": 20.0, "kafka": 0.2}] * 2,
    }
    bench.cassandra_roles = {"drain": [{"requests": 19.0}] * 2, "ceiling_batched": [{"requests": 16.0}] * 2}
    bench.requests = {"drain": [1_568, 1_570], "ceiling_batched": [1_568, 1_568]}
    text = printed(bench.report)
    assert "drain (this pipeline)                            1,569 requests, 63.7 rows each" in text
    assert "target <=1.20): 1.20" in text  # median of 1.10 and 1.30
    assert "requests 19.0, network 0.0" in text
