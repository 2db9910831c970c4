"""The Prometheus series the project defines, and the series a PromQL expression reads.

Shared by the board's unit tests (every panel reads a defined series) and its e2e test (every panel
answers on the live Prometheus): the names come from the files Prometheus is fed by, the statsd_exporter
mapping and the JMX exporter rules, never from a list kept here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
MAPPING = REPO / "deploy" / "prometheus" / "statsd-mapping.yml"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
BOARD = REPO / "deploy" / "grafana" / "kafkapipeline-dashboard.json"
DATASOURCE = REPO / "deploy" / "grafana" / "datasource.yml"
JMX_RULES = sorted((REPO / "scripts" / "services.d").glob("jmx-*.yml"))
#: Series Prometheus makes itself for every scrape target.
BUILT_IN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring", "inf", "nan"}


def mapping() -> list[dict[str, Any]]:
    return yaml.safe_load(MAPPING.read_text())["mappings"]


def mapped_series() -> set[str]:
    """Every series name the statsd_exporter exposes by the mapping (a histogram's three)."""
    names = set()
    for entry in mapping():
        name = entry["name"]
        if "histogram_options" in entry:
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


def jmx_series() -> set[str]:
    return {rule["name"] for path in JMX_RULES for rule in yaml.safe_load(path.read_text())["rules"]}


def defined_series() -> set[str]:
    return mapped_series() | jmx_series() | BUILT_IN


def series_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and labels left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def board() -> dict[str, Any]:
    return json.loads(BOARD.read_text())


def board_panels() -> list[dict[str, Any]]:
    """The board's panels that query (rows left out), nested rows' panels included."""
    found = []
    for panel in board()["panels"]:
        found += [panel, *panel.get("panels", [])]
    return [p for p in found if p.get("type") != "row"]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
