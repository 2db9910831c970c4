"""The dashboard's static files: nothing loaded from outside the api-server, deep links with ISO times."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kafkapipeline.dashboard.app import STATIC_DIR

URL = re.compile(r"(?i)\bhttps?://[^\s\"'<>()]+")
#: An XML namespace is a name, never fetched.
XMLNS = re.compile(r"""xmlns(:\w+)?=["']http://www\.w3\.org/[^"']+["']""")
#: The licence banners (/*! ... */, a few " * " lines from the start of a line) of a vendored
#: library and the libraries bundled in it: comments, never fetched.
LICENCE_BANNER = re.compile(r"^/\*!\n(?: \*[^\n]*\n){1,10} \*/", re.MULTILINE)
#: Loads that name no scheme but still leave the server: //host/... in a src, href, url() or import.
PROTOCOL_RELATIVE = re.compile(
    r"""(?i)(src|href|action)\s*=\s*["']\s*//|url\(\s*["']?\s*//|import\s*\(?\s*["']\s*//"""
)


def static_files() -> list[Path]:
    files = sorted(path for path in STATIC_DIR.rglob("*") if path.is_file())
    assert {
        "index.html",
        "dashboard.js",
        "charts.js",
        "dashboard.css",
        "urlstate.js",
        "chart.umd.min.js",
    } <= {path.name for path in files}
    return files


def external_urls(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    text = XMLNS.sub("", text)
    if path.parent.name == "vendor":
        text = LICENCE_BANNER.sub("", text)
    return [match.group(0) for pattern in (URL, PROTOCOL_RELATIVE) for match in pattern.finditer(text)]


@pytest.mark.parametrize("path", static_files(), ids=lambda path: str(path.relative_to(STATIC_DIR)))
def test_no_static_file_loads_anything_from_outside_the_api_server(path):
    assert external_urls(path) == []


def test_the_check_finds_an_external_load(tmp_path):
    page = tmp_path / "index.html"
    page.write_text('<script src="https://cdn.jsdelivr.net/npm/chart.js"></script><link href="//fonts.x/a">')
    style = tmp_path / "style.css"
    style.write_text(
        "@font-face { src: url(//fonts.gstatic.com/x.woff2) } a { background: url('http://x/y') }"
    )
    assert external_urls(page) == ["https://cdn.jsdelivr.net/npm/chart.js", 'href="//']
    assert external_urls(style) == ["http://x/y", "url(//"]


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.ids: dict[str, list[str]] = {}
        self._open_sections: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in ("src", "href"):
            if attributes.get(name):
                self.references.append(attributes[name])
        if tag == "section":
            self._open_sections.append(attributes.get("aria-labelledby") or "")
        if attributes.get("id"):
            self.ids[attributes["id"]] = list(self._open_sections)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._open_sections.pop()


def parsed_page() -> _References:
    parser = _References()
    parser.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    return parser


def test_the_page_references_only_files_it_serves_itself_or_its_own_api():
    for reference in parsed_page().references:
        target = reference.split("?")[0]
        if target.startswith("static/"):
            assert (STATIC_DIR / target.removeprefix("static/")).is_file(), reference
        else:
            assert target in {"api/sentiment-weather", "api/pipeline-state", "openapi.json"}, reference


def test_each_no_data_note_sits_in_the_panel_it_concerns():
    ids = parsed_page().ids
    assert ids["sentiment-note"] == ["sentiment-heading"]
    assert ids["pipeline-note"] == ["pipeline-heading"]  # "no drain batch" is the pipeline's news
    assert ids["banner"] == []  # the page-wide banner is for errors only
    script = (STATIC_DIR / "dashboard.js").read_text(encoding="utf-8")
    assert 'showBanner("info"' not in script


NODE = shutil.which("node")
URL_STATE_SCRIPT = """
const u = require(process.argv[1]);
const cases = JSON.parse(process.argv[2]);
const out = {};
for (const value of cases.times) {
  const parsed = u.parseTime(value);
  out[value] = parsed ? u.toParam(parsed) : null;
}
out.states = cases.searches.map((search) => {
  const state = u.readState(search, new Set(["6", "24"]), "24");
  return {
    range: state.range,
    start: state.start && u.toInputValue(state.start),
    end: state.end && u.toInputValue(state.end),
    invalid: state.invalid,
  };
});
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed: urlstate.js is covered by the e2e test")
def test_deep_links_with_the_apis_iso_times_open_that_custom_range():
    cases = {
        "times": [
            "2021-02-09T00:00:00Z",
            "2021-02-09T00:00:00+00:00",
            "2021-02-09T00:00:00 00:00",  # an unencoded "+" arrives as a space
            "2021-02-09T02:30:00+02:30",
            "2021-02-08T19:00:00-0500",
            "2021-02-09",
            "2021-02-09T00:00",  # naive = UTC, as the API takes it
            "2021-02-09T00:00:00.123456z",
            "2021-02-30T00:00:00Z",
            "2021-02-09T24:00:00Z",
            "yesterday",
            "",
        ],
        "searches": [
            "?start=2021-02-09T00:00:00Z&end=2021-02-10T00:00:00Z",
            "?start=2021-02-09T00:00:00%2B00:00&end=2021-02-10T00:00:00+00:00",
            "?city=Vancouver&start=2021-02-09&end=2021-02-10",
            "?end=2021-02-10T00:00:00Z",
            "?range=6",
            "?range=9999",
            "?start=garbage&end=2021-02-10",
        ],
    }
    result = subprocess.run(
        [NODE, "-e", URL_STATE_SCRIPT, str(STATIC_DIR / "urlstate.js"), json.dumps(cases)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    out = json.loads(result.stdout)
    midnight = "2021-02-09T00:00:00Z"
    assert [out[value] for value in cases["times"][:8]] == [midnight] * 7 + ["2021-02-09T00:00:00Z"]
    assert [out[value] for value in cases["times"][8:]] == [None, None, None, None]
    day = {"range": "custom", "start": "2021-02-09T00:00", "end": "2021-02-10T00:00", "invalid": []}
    assert out["states"][:3] == [day, day, day]
    assert out["states"][3] == {"range": "custom", "start": None, "end": "2021-02-10T00:00", "invalid": []}
    assert out["states"][4]["range"] == "6"
    assert out["states"][5]["range"] == "24"  # an unknown preset falls back to the default
    assert out["states"][6]["invalid"] == ["start=garbage"]


#: Runs the page's own scripts (urlstate.js, charts.js, dashboard.js) in node against a minimal stand-in
#: for the DOM and canned API answers (argv: static dir, query string, answers as JSON), and
#: prints what the page shows. The e2e test does the same in a real browser.
PAGE_HARNESS = r"""
const [staticDir, search, answersJson] = process.argv.slice(1);
const answers = JSON.parse(answersJson);
const elements = {};
const startsHidden = (id) => /note|truncated|banner|custom-range/.test(id);
function el(id) {
  if (!elements[id]) {
    elements[id] = {
      id, hidden: startsHidden(id), value: "", textContent: "", innerHTML: "", className: "", dataset: {},
      addEventListener() {}, parentElement: { querySelector: () => el(`${id}:empty`) },
      selectedOptions: [{ textContent: "Last 24 hours" }],
    };
  }
  return elements[id];
}
el("range").value = "24";
const requests = [];
let url = null;
global.window = {
  location: { search, pathname: "/kafkapipeline/" },
  history: { replaceState: (state, title, next) => { url = next; } },
};
global.self = global.window;
let onReady = null;
global.document = { getElementById: el, body: { dataset: { state: "loading" } }, documentElement: {},
  addEventListener: (type, listener) => { onReady = listener; } };
global.getComputedStyle = () => ({ fontFamily: "sans-serif" });
class Chart { constructor(canvas, config) { this.config = config; } destroy() {} }
Chart.defaults = { font: {} };
window.Chart = Chart;
global.fetch = async (path) => {
  requests.push(path);
  const body = answers[path.split("?")[0]];
  return { ok: true, status: 200, json: async () => body };
};
window.dashboardUrlState = require(`${staticDir}/urlstate.js`);
eval(require("fs").readFileSync(`${staticDir}/charts.js`, "utf8"));
eval(require("fs").readFileSync(`${staticDir}/dashboard.js`, "utf8"));
onReady();
setTimeout(() => {
  const shown = (id) => (el(id).hidden ? null : el(id).textContent || el(id).innerHTML);
  console.log(JSON.stringify({
    state: document.body.dataset.state,
    range: el("range").value,
    start: el("start").value,
    end: el("end").value,
    requests,
    url,
    banner: shown("banner"),
    notes: Object.fromEntries(
      ["sentiment-note", "sentiment-truncated", "pipeline-note", "pipeline-truncated"]
        .map((id) => [id, shown(id)]),
    ),
    kpis: el("kpis").innerHTML,
    clusterTable: el("cluster-table").innerHTML,
  }));
}, 100);
"""
IMPORTED_DAY_HOURS = [f"2021-02-09T{hour:02d}:00:00Z" for hour in range(24)]
NO_DRAIN_BATCH = "No data yet: no drain batch finished between 2021-02-09 00:00 and 2021-02-10 00:00 UTC."


def canned_answers(*, truncated: bool = False) -> dict:
    """What the API answers for a day of imported tweets and weather and no drain batch."""
    hours = [
        {
            "hour": hour,
            "tweets": index % 2,
            "positive": index % 2,
            "negative": 0,
            "neutral": 0,
            "positive_pct": 100.0 if index % 2 else None,
            "negative_pct": None,
            "neutral_pct": None,
            "mean_score": 0.5 if index % 2 else None,
            "weather_reports": 1,
            "temperature_c": 3.0,
            "weather_description": "fog",
            "tweets_stored": index % 2,
            "truncated": truncated and index < 3,
        }
        for index, hour in enumerate(IMPORTED_DAY_HOURS)
    ]
    summary = {
        "tweets": 12,
        "tweets_stored": 4012 if truncated else 12,
        "positive": 12,
        "negative": 0,
        "neutral": 0,
        "positive_pct": 100.0,
        "negative_pct": 0.0,
        "neutral_pct": 0.0,
        "mean_score": 0.5,
        "weather_reports": 24,
        "mean_temperature_c": 3.0,
        "min_temperature_c": 3.0,
        "max_temperature_c": 3.0,
        "most_common_description": "fog",
        "latest_tweet_at": IMPORTED_DAY_HOURS[23],
        "latest_weather_at": None,
        "score_temperature_correlation": None,
        "correlated_hours": 12,
    }
    sentiment = {
        "city": "Vancouver",
        "start": IMPORTED_DAY_HOURS[0],
        "end": "2021-02-10T00:00:00Z",
        "keyspace": "ks",
        "has_data": True,
        "message": None,
        "truncated": truncated,
        "truncated_hours": 3 if truncated else 0,
        "limits": {"rows_per_hour": {"tweets": 2083, "weather_reports": 833}},
        "summary": summary,
        "hours": hours,
    }
    empty_health = {
        "checked_at": None,
        "age_seconds": None,
        "status_counts": {},
        "consumer_lag": [],
        "rows_per_hour": [],
        "dlq_messages": [],
        "freshness_seconds": [],
        "dag_last_run": [],
        "cluster": [],
        "other": [],
    }
    pipeline = {
        "has_data": False,
        "truncated": False,
        "truncated_hours": 0,
        "message": NO_DRAIN_BATCH,
        "limits": {"rows_per_hour": {"drain_batches": 833}},
        "health": empty_health,
        "drains": {
            "hours": IMPORTED_DAY_HOURS,
            "topics": [],
            "rows_written": {},
            "dead_lettered": {},
            "batches": {},
            "totals": [],
        },
    }
    cities = {"cities": ["Vancouver"], "default_city": "Vancouver"}
    return {"api/cities": cities, "api/sentiment-weather": sentiment, "api/pipeline-state": pipeline}


def open_page(search: str, answers: dict) -> dict:
    result = subprocess.run(
        [NODE, "-e", PAGE_HARNESS, str(STATIC_DIR), search, json.dumps(answers)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(result.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed: the page is covered by the e2e test")
@pytest.mark.parametrize(
    "search",
    [
        "?city=Vancouver&start=2021-02-09T00:00:00Z&end=2021-02-10T00:00:00Z",
        "?city=Vancouver&start=2021-02-09T00:00:00+00:00&end=2021-02-10T00:00:00%2B00:00",
        "?start=2021-02-09&end=2021-02-10",
    ],
)
def test_a_deep_link_opens_its_range_and_no_drain_batch_is_said_in_the_pipeline_panel_only(search):
    page = open_page(search, canned_answers())
    assert (page["state"], page["range"]) == ("ready", "custom")
    assert (page["start"], page["end"]) == ("2021-02-09T00:00", "2021-02-10T00:00")
    day = "start=2021-02-09T00%3A00%3A00.000Z&end=2021-02-10T00%3A00%3A00.000Z"
    assert page["requests"] == [
        "api/cities?",
        f"api/sentiment-weather?city=Vancouver&{day}",
        f"api/pipeline-state?{day}",
    ]
    assert (
        page["url"]
        == "/kafkapipeline/?city=Vancouver&start=2021-02-09T00%3A00%3A00Z&end=2021-02-10T00%3A00%3A00Z"
    )
    assert page["banner"] is None  # a range full of tweets and weather gets no page-wide banner
    assert page["notes"] == {
        "sentiment-note": None,
        "sentiment-truncated": None,
        "pipeline-note": NO_DRAIN_BATCH,
        "pipeline-truncated": None,
    }


@pytest.mark.skipif(NODE is None, reason="node is not installed: the page is covered by the e2e test")
@pytest.mark.skipif(NODE is None, reason="node is not installed: the page is covered by the e2e test")
def test_the_replication_figures_of_a_cluster_have_their_own_table():
    answers = canned_answers()
    health = answers["api/pipeline-state"]["health"]
    health["checked_at"], health["age_seconds"] = "2021-02-09T12:00:00Z", 30.0
    figure = ("metric", "subject", "value", "status", "detail")
    health["cluster"] = [
        dict(zip(figure, ("down_cassandra_nodes", "cassandra", 1.0, "fail", "127.0.0.3 down"), strict=True)),
        dict(zip(figure, ("under_replicated_partitions", "tweets", 2.0, "ok", None), strict=True)),
    ]
    table = open_page("?start=2021-02-09T00:00:00Z&end=2021-02-10T00:00:00Z", answers)["clusterTable"]
    rows = table.split("<tr>")[2:]  # after the header row
    assert ["down cassandra nodes" in rows[0], "127.0.0.3 down" in rows[0], "fail" in rows[0]] == [True] * 3
    assert "under replicated partitions" in rows[1] and ">tweets<" in rows[1] and ">2<" in rows[1]

    health["cluster"] = []
    table = open_page("?start=2021-02-09T00:00:00Z&end=2021-02-10T00:00:00Z", answers)["clusterTable"]
    assert "No replication figures in the latest check." in table


def test_a_truncated_read_is_said_in_its_panel_with_the_stored_count():
    page = open_page("?start=2021-02-09T00:00:00Z&end=2021-02-10T00:00:00Z", canned_answers(truncated=True))
    assert page["state"] == "ready" and page["banner"] is None
    assert page["notes"]["sentiment-truncated"].startswith(
        "3 of 24 hours held more rows than one request reads"
    )
    assert 'title="4,012"' in page["kpis"] and "12 read (capped per hour)" in page["kpis"]


@pytest.mark.skipif(NODE is None, reason="node is not installed: the page is covered by the e2e test")
def test_a_link_whose_time_cannot_be_read_says_so_and_loads_nothing():
    page = open_page("?start=yesterday&end=2021-02-10", canned_answers())
    assert page["state"] == "error"
    assert page["banner"].startswith(
        "<strong>This link&#39;s time range cannot be read</strong>start=yesterday"
    )
    assert page["requests"] == ["api/cities?"]
    assert (page["start"], page["end"]) == ("", "2021-02-10T00:00")
