"""The Grafana board and the alerting rules read only series the project's exporters define."""

from __future__ import annotations

import re

import yaml

from tests.metric_names import (
    DATASOURCE,
    alert_rules,
    board,
    board_panels,
    defined_series,
    jmx_series,
    mapped_series,
    series_in,
)


def test_the_expression_parser_finds_the_series_and_nothing_else():
    expr = (
        'histogram_quantile(0.95, sum by (le, topic) (rate(a_bucket{job="x", le!="1"}[5m]))) '
        "unless on (topic) max without (instance) (b_total offset 5m) > 0 and c"
    )
    assert series_in(expr) == {"a_bucket", "b_total", "c"}
    assert series_in("sum(rate(airflow_ti_finish_total[1h])) * 60") == {"airflow_ti_finish_total"}


def test_every_panel_reads_series_the_exporters_define():
    defined = defined_series()
    unknown = {
        panel["title"]: sorted(series_in(target["expr"]) - defined)
        for panel in board_panels()
        for target in panel["targets"]
        if series_in(target["expr"]) - defined
    }
    assert not unknown, f"panels reading series no mapping or JMX rule defines: {unknown}"


def test_every_panel_queries_something_and_says_what_it_shows():
    panels = board_panels()
    assert len(panels) >= 20
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["description"].strip(), f"{panel['title']}: no description"
        assert all(series_in(t["expr"]) for t in panel["targets"]), panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]


def test_the_board_covers_the_pipeline_airflow_and_the_jvms():
    read = {name for panel in board_panels() for t in panel["targets"] for name in series_in(t["expr"])}
    pipeline = {n for n in mapped_series() if n.startswith("kafkapipeline_")}
    # Every pipeline series is on the board (a histogram through its buckets).
    missing = {n for n in pipeline if not n.endswith(("_sum", "_count"))} - read
    assert not missing, f"pipeline series without a panel: {sorted(missing)}"
    assert any(n.startswith("airflow_") for n in read)
    assert jmx_series() & read and "up" in read


def test_panels_do_not_overlap_and_fit_the_grid():
    taken: set[tuple[int, int]] = set()
    for panel in board()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_every_panel_uses_the_provisioned_datasource():
    provisioned = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    assert len(provisioned) == 1 and provisioned[0]["type"] == "prometheus"
    uid = provisioned[0]["uid"]
    assert provisioned[0]["url"] == "${PROMETHEUS_URL}", "the URL comes from Grafana's environment"
    for panel in board_panels():
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]


def test_the_board_has_a_stable_uid_for_provisioning():
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board()["uid"])


def test_alert_rules_read_defined_series_and_cover_the_issue():
    defined = defined_series()
    rules = {rule["alert"]: rule for rule in alert_rules()}
    for name, rule in rules.items():
        assert series_in(rule["expr"]) <= defined, (name, series_in(rule["expr"]) - defined)
        assert rule["annotations"]["summary"], name
    assert "kafkapipeline_consumer_lag_messages" in series_in(rules["ConsumerLagGrowing"]["expr"])
    assert "[10m" in rules["ConsumerLagGrowing"]["expr"]
    assert "kafkapipeline_drain_dead_letters_total" in series_in(rules["DeadLettersAppearing"]["expr"])
    no_rows = series_in(rules["NoRowsWhileSourceProduces"]["expr"])
    assert {
        "kafkapipeline_ingest_records_produced_total",
        "kafkapipeline_drain_rows_written_total",
    } <= no_rows
    assert "[1h]" in rules["NoRowsWhileSourceProduces"]["expr"]
    assert 'job="kafka"' in rules["KafkaBrokerDown"]["expr"]
    assert 'job="cassandra"' in rules["CassandraNodeDown"]["expr"]
