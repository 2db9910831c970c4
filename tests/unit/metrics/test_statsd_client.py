"""The StatsD client: the line format statsd_exporter reads, datagram packing, and never failing a task."""

from __future__ import annotations

import logging

from kafkapipeline.metrics import statsd
from kafkapipeline.metrics.statsd import Batch, datagrams, emitting
from tests.unit.metrics.conftest import parse


def test_lines_carry_value_type_and_tags_made_safe():
    batch = Batch()
    batch.count("a.b", 3, topic="tweets", reason="x,y|z#w")
    batch.gauge("a.g", 1.5, partition=2)
    batch.observe("a.h", 0.25)
    assert batch.lines == ["a.b:3|c|#topic:tweets,reason:x_y_z_w", "a.g:1.5|g|#partition:2", "a.h:0.25|h"]
    assert parse(batch.lines[0]) == ("a.b", 3.0, "c", {"topic": "tweets", "reason": "x_y_z_w"})


def test_a_negative_gauge_is_reset_first_so_it_is_not_read_as_a_decrement():
    batch = Batch()
    batch.gauge("a.g", -4)
    assert batch.lines == ["a.g:0|g", "a.g:-4|g"]


def test_lines_are_packed_into_datagrams_within_the_limit_in_order():
    lines = [f"metric.{n}:{n}|c" for n in range(200)]
    packed = list(datagrams(lines, limit=100))
    assert all(len(d) <= 100 for d in packed)
    assert b"\n".join(packed).decode().split("\n") == lines
    assert list(datagrams(["x" * 300], limit=100)) == [b"x" * 300]  # too long: alone, never cut


def test_a_block_sends_its_lines_together_when_it_ends(statsd):
    with emitting() as out:
        out.count("t.one", 1)
        out.count("t.two", 2)
        assert statsd.datagrams(wait=0.1) == []  # nothing before the block ends
    assert statsd.datagrams() == [b"t.one:1|c\nt.two:2|c"]


def test_lines_are_sent_even_when_the_block_raises(statsd):
    try:
        with emitting() as out:
            out.count("t.before", 1)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert statsd.lines() == ["t.before:1|c"]


def test_metrics_off_send_nothing(statsd, monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_METRICS", "off")
    with emitting() as out:
        out.count("t.off", 1)
        out.gauge("t.off", 1)
        out.observe("t.off", 1)
    assert statsd.datagrams(wait=0.2) == []


def test_an_unresolvable_host_drops_the_metrics_with_one_warning(monkeypatch, caplog):
    monkeypatch.setenv("KAFKAPIPELINE_METRICS", "on")
    monkeypatch.setenv("KAFKAPIPELINE_STATSD_HOST", "statsd-exporter.invalid")
    statsd._target.cache_clear()
    with caplog.at_level(logging.WARNING, logger="kafkapipeline.metrics.statsd"):
        for _ in range(3):
            with emitting() as out:
                out.count("t.lost", 1)
    warnings = [r for r in caplog.records if "statsd-exporter.invalid" in r.getMessage()]
    assert len(warnings) == 1  # then quiet until the retry time


def test_nobody_listening_is_not_an_error(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_METRICS", "on")
    monkeypatch.setenv("KAFKAPIPELINE_STATSD_PORT", "9")  # discard: nothing listens there
    for _ in range(3):
        with emitting() as out:
            out.count("t.nobody", 1)
