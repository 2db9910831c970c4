"""Plain text from Mastodon's HTML ``content``: the recorded real posts and hand-written edge cases."""

from __future__ import annotations

import json

import pytest

from kafkapipeline.sources.html_text import html_to_text
from kafkapipeline.sources.mastodon import parse_status
from tests.conftest import REFERENCE_DATA

# What a reader sees in each recorded post (read off the recorded HTML by hand).
RECORDED_TEXTS = {
    "117020593741189701": "#hoot (hashtag toot)",
    "117020593134559451": "Toot, finally!",
    "117020592137523525": "you can't say that on television",
    "117020590477318485": "it's cool guy too",
    "117020588242324937": "on the internet, nobody knows you're a plane",
    "117020588169351887": "@mastodonpy_test beep beep I'm a jeep",
    "117020586180926938": "the best editor? why, of course it is the KDE Advanced Text Editor, Kate",
    "117020582721532745": "nice",
    "117020574694606796": "I have never stolen a ham in my life.",
}


@pytest.fixture(scope="module")
def recorded_contents() -> dict[str, str]:
    path = REFERENCE_DATA / "mastodon_timeline_responses.json"
    if not path.is_file():
        pytest.skip(f"recorded Mastodon responses not found at {path} (../shared/reference-data is absent)")
    recorded = json.loads(path.read_text())
    return {
        status["id"]: status["content"]
        for entry in ("timelines_tag", "timelines_public_anonymous")
        for status in recorded[entry]["body"]
    }


def test_recorded_posts_read_as_their_text(recorded_contents):
    assert {status_id: html_to_text(html) for status_id, html in recorded_contents.items()} == RECORDED_TEXTS


SHORTENED_LINK = (
    '<p>Road closures: <a href="https://www.vancouver.ca/streets-transportation/road-closures.aspx?area=dt" '
    'target="_blank" rel="nofollow noopener noreferrer" translate="no"><span class="invisible">https://www.'
    '</span><span class="ellipsis">vancouver.ca/streets-transporta</span><span class="invisible">tion/'
    "road-closures.aspx?area=dt</span></a></p>"
)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        pytest.param(
            "<p>line one<br>line two<br />line three</p><p>second paragraph</p>",
            "line one\nline two\nline three\n\nsecond paragraph",
            id="br-and-paragraphs",
        ),
        pytest.param(
            SHORTENED_LINK,
            "Road closures: https://www.vancouver.ca/streets-transportation/road-closures.aspx?area=dt",
            id="mastodon-shortened-link",
        ),
        pytest.param(
            '<p>see <a href="https://example.org/a/very/long/path">example.org/a/very…</a></p>',
            "see https://example.org/a/very/long/path",
            id="link-text-cut-by-another-server",
        ),
        pytest.param(
            '<p>read <a href="https://example.org/story">the whole story</a> here</p>',
            "read the whole story (https://example.org/story) here",
            id="link-with-its-own-text",
        ),
        pytest.param(
            '<p><span class="h-card"><a href="https://other.social/@bob" class="u-url mention">@<span>bob'
            '</span></a></span> and <a href="https://x.social/tags/YVR" rel="tag">#<span>YVR</span></a></p>',
            "@bob and #YVR",
            id="remote-mention-and-rel-tag-hashtag",
        ),
        pytest.param(
            "<p>&lt;3 &amp; &quot;quotes&quot; &#x1F600; caf&eacute;&nbsp;time &#39;n&#39; more</p>",
            "<3 & \"quotes\" \U0001f600 café time 'n' more",
            id="entities",
        ),
        pytest.param(
            "<p>  many   spaces\n and a newline in the source </p>",
            "many spaces and a newline in the source",
            id="source-whitespace-collapses",
        ),
        pytest.param(
            '<p class="quote-inline">RE: <a href="https://a.b/@c/1">a.b/@c/1</a></p><p>my take</p>',
            "my take",
            id="quote-fallback-dropped",
        ),
        pytest.param(
            "<p>intro</p><ul><li>one</li><li>two</li></ul><blockquote><p>quoted</p></blockquote>",
            "intro\n\n- one\n- two\n\nquoted",
            id="lists-and-quotes",
        ),
        pytest.param(
            "<p>open <b>bold <a href='https://q.r/'>q.r", "open bold https://q.r/", id="unclosed-tags"
        ),
        pytest.param("<p>x</p><script>alert(1)</script><style>p{}</style>", "x", id="script-and-style"),
        pytest.param("plain text, no tags", "plain text, no tags", id="no-html"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="none"),
    ],
)
def test_edge_cases(html, text):
    assert html_to_text(html) == text


def status(**fields) -> dict:
    base = {"id": "1", "created_at": "2026-08-01T13:00:00.000Z", "content": "", "account": {"id": "9"}}
    return base | fields


def test_a_content_warning_is_kept_in_front_of_the_text():
    record = parse_status(status(content="<p>it's snowing</p>", spoiler_text="weather"), "Vancouver", "m:x")
    assert record.text == "weather\n\nit's snowing"


def test_a_post_with_only_media_says_what_it_carries():
    media = [{"type": "image"}, {"type": "video"}]
    assert parse_status(status(media_attachments=media), "Vancouver", "m:x").text == "[image] [video]"
