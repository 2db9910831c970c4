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
    assert {"index.html", "dashboard.js", "dashboard.css", "urlstate.js", "chart.umd.min.js"} <= {
        path.name for path in files
    }
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
