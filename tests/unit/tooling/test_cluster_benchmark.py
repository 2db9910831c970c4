"""bench/cluster_benchmark.py's pure parts: parsing both benchmarks' real output, the table, the refusal."""

from __future__ import annotations

import argparse

import pytest

from tests.unit.tooling.bench_modules import load_bench, printed

cluster_benchmark = load_bench("cluster_benchmark")


def test_the_drain_figures_are_read_from_drain_benchmarks_own_report():
    drain_benchmark = load_bench("drain_benchmark")
    bench = drain_benchmark.Benchmark.__new__(drain_benchmark.Benchmark)
    bench.results = {"drain": 8812.4, "ceiling_batched": 15_702.0, "ceiling": 9_000.0}
    bench.n = bench.naive_n = 30_000
    bench.rounds, bench.stages, bench.cpu_rounds = {}, {}, {}
    assert cluster_benchmark.parse_drain_output(printed(bench.report)) == (8812.0, 15702.0)
    with pytest.raises(cluster_benchmark.BenchmarkError, match="drain"):
        cluster_benchmark.parse_drain_output("Results, messages/s (0 messages):\n")


def test_the_freshness_figures_are_read_from_freshness_benchmarks_own_report():
    freshness = load_bench("freshness_benchmark")
    args = argparse.Namespace(rate=[20.0], seconds=120.0, min_batch=200, max_wait=1.0, follow_seconds=0)
    latencies = [float(n) / 10 for n in range(1, 101)]  # 0.1 .. 10.0 s
    batches = freshness.Batches(overheads=[0.3, 0.5], sizes=[40, 60], starts=[2, 3], task_instances=[2, 2])
    text = printed(freshness.report, 20.0, 120.0, args, latencies, batches)
    p50, p95 = freshness.percentile(latencies, 0.5), freshness.percentile(latencies, 0.95)
    assert cluster_benchmark.parse_freshness_output(text) == (round(p50, 2), round(p95, 2))
    starts = next(line for line in text.splitlines() if line.startswith("task starts per batch"))
    assert starts.split()[4:8] == ["median", "2.5", "max", "3"]
    with pytest.raises(cluster_benchmark.BenchmarkError, match="produce -> readable"):
        cluster_benchmark.parse_freshness_output("nothing")


def test_each_mode_gets_its_own_environment_and_services():
    base = {"PATH": "/bin", "AIRFLOW_CONN_KAFKA_DEFAULT": "{}", "KAFKAPIPELINE_CLUSTER": "1"}
    single = cluster_benchmark.mode_env("single", base)
    assert single == {"PATH": "/bin"}  # connections left to scripts/env.sh, no cluster setting
    cluster = cluster_benchmark.mode_env("cluster", base)
    assert (
        cluster["KAFKAPIPELINE_CLUSTER"] == "1"
        and "replication_factor': 3" in cluster["KAFKAPIPELINE_REPLICATION"]
    )
    assert (
        cluster["KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR"] == "3"
        and "AIRFLOW_CONN_KAFKA_DEFAULT" not in cluster
    )

    timed, _, stop = cluster_benchmark.service_commands("cluster")
    assert timed == [["up", "--cluster", "kafka", "cassandra"]]
    assert ["down", "--cluster", "kafka", "cassandra"] in stop and ["down", "postgres", "redis"] in stop
    timed, others, stop = cluster_benchmark.service_commands("single")
    assert (timed, others, stop) == (
        [["up", "kafka", "cassandra"]],
        [["up", "postgres", "redis"]],
        [["down"]],
    )


def test_the_side_by_side_table_shows_both_modes_and_the_ratio():
    single = cluster_benchmark.ModeResult("single", 12.0, 8800.0, 15700.0, 5.1, 8.6)
    cluster = cluster_benchmark.ModeResult("cluster", 48.0, 3520.0, 11500.0, 6.0, None, ["failed: x"])
    lines = cluster_benchmark.side_by_side([single, cluster])
    drain = next(line for line in lines if line.startswith("drain throughput"))
    assert drain.split()[-3:] == ["8,800", "3,520", "0.40x"]
    start = next(line for line in lines if line.startswith("Kafka + Cassandra start-up"))
    assert start.split()[-3:] == ["12", "48", "4.00x"]
    p95 = next(line for line in lines if line.startswith("freshness p95"))
    assert p95.split()[-3:] == ["8.60", "-", "-"]
    assert "  cluster: failed: x" in lines


def test_it_refuses_to_run_while_services_are_up(monkeypatch, capsys):
    assert cluster_benchmark.refusal([]) is None
    monkeypatch.setattr(cluster_benchmark, "busy_services", lambda: ["kafka (pid 42)"])
    monkeypatch.setattr(cluster_benchmark, "measure", lambda *a: pytest.fail("must not start anything"))
    assert cluster_benchmark.main([]) == 2
    err = capsys.readouterr().err
    assert "kafka (pid 42)" in err and "scripts/services down" in err


def test_help_needs_no_services(capsys):
    with pytest.raises(SystemExit) as done:
        cluster_benchmark.main(["--help"])
    assert done.value.code == 0
    assert "side by side" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("summary", "starts", "sizes", "overheads"),
    [
        ({"messages_read": 130, "seconds": 0.9}, [2], [130], [pytest.approx(0.6)]),
        # A drain that followed on: its run's two starts shared by its batches, no overhead told apart.
        ({"messages_read": 400, "seconds": 0.9, "batches": 4}, [0.5] * 4, [100] * 4, []),
    ],
)
def test_the_freshness_benchmark_counts_the_task_starts_of_each_batch(summary, starts, sizes, overheads):
    import responses

    from kafkapipeline.airflow_api import AirflowApi

    freshness = load_bench("freshness_benchmark")
    base = "http://airflow.test:8080/api/v2"
    tis = {
        "task_instances": [
            {"task_id": "wait_for_batch", "map_index": -1, "state": "success", "duration": 3.0},
            {"task_id": "drain", "map_index": 0, "state": "success", "duration": 1.5},
        ],
        "total_entries": 2,
    }
    with responses.RequestsMock() as api:
        api.get(f"{base}/dags/drain_tweets/dagRuns/r1/taskInstances", json=tis)
        api.get(
            f"{base}/dags/drain_tweets/dagRuns/r1/taskInstances/drain/xcomEntries/return_value",
            json={"value": summary},
        )
        api.get(
            f"{base}/eventLogs",
            json={"event_logs": [{"event": "running"}] * 2, "total_entries": 2},
            match=[
                responses.matchers.query_param_matcher(
                    {"dag_id": "drain_tweets", "run_id": "r1", "event": "running", "limit": "100"}
                )
            ],
        )
        batches = freshness.batches_of(AirflowApi("http://airflow.test:8080"), ["r1"])
    assert (batches.starts, batches.task_instances, batches.sizes) == (starts, [2] * len(starts), sizes)
    assert batches.overheads == overheads
