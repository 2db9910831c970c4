"""Plain text from the HTML of a Mastodon post, with the standard library's ``html.parser``.

Mastodon serves a post's ``content`` as sanitised HTML. What a reader sees is kept, the
markup is not:

* paragraphs (``<p>``, and other blocks: ``div``, ``blockquote``, ``li``, headings, ``pre``)
  are separated by a blank line, ``<br>`` becomes a newline;
* mentions and hashtags (``<a class="mention">`` / ``class="hashtag"`` / ``rel="tag"``) become
  their text, ``@user`` and ``#tag``;
* a link whose text is its address becomes the full address: Mastodon shortens long URLs
  on screen by hiding parts in ``<span class="invisible">``, the text of every span is kept,
  and when that is still only part of the address the ``href`` is used. A link with
  other text becomes ``text (address)``;
* entities (``&amp;``, ``&#39;``, ``&nbsp;``...) are unescaped; runs of spaces collapse;
* the "RE: <link>" fallback Mastodon adds for quote posts (``class="quote-inline"``) is
  hidden on screen and dropped here too, as are ``script``/``style`` contents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

#: Elements that start and end a block: a blank line around them.
_BLOCKS = frozenset({"p", "div", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"})
#: Elements that never have an end tag.
_VOID = frozenset({"br", "img", "hr", "wbr", "input", "meta", "link", "source", "area", "col", "embed"})
_HIDDEN_CLASSES = frozenset({"quote-inline"})
_HIDDEN_TAGS = frozenset({"script", "style", "template"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_URL_START = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


@dataclass
class _Link:
    href: str
    is_tag_or_mention: bool
    chunks: list[str] = field(default_factory=list)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._links: list[_Link] = []
        self._hidden: list[str] = []  # open tags since a hidden element started (its own tag first)
        self._pre = 0

    def _emit(self, text: str) -> None:
        if self._links:
            self._links[-1].chunks.append(text)
        else:
            self.out.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = set(attributes.get("class", "").split())
        if self._hidden:
            if tag not in _VOID:
                self._hidden.append(tag)
            return
        if tag in _HIDDEN_TAGS or classes & _HIDDEN_CLASSES:
            if tag not in _VOID:
                self._hidden.append(tag)
            return
        if tag == "br":
            self._emit("\n")
        elif tag == "li":
            self._emit("\n- ")
        elif tag in _BLOCKS:
            self._emit("\n\n")
            self._pre += tag == "pre"
        elif tag == "a":
            tagged = bool(classes & {"mention", "hashtag"}) or "tag" in attributes.get("rel", "").split()
            self._links.append(_Link(attributes.get("href", "").strip(), tagged))

    def handle_endtag(self, tag: str) -> None:
        if self._hidden:
            if tag in self._hidden:  # close up to the matching start, tolerating unclosed children
                while self._hidden and self._hidden.pop() != tag:
                    pass
            return
        if tag in _BLOCKS:
            self._emit("\n\n")
            if tag == "pre" and self._pre:
                self._pre -= 1
        elif tag == "a" and self._links:
            link = self._links.pop()
            self._emit(_link_text(link))

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self._emit(data if self._pre else re.sub(r"\s+", " ", data))

    def close(self) -> None:
        super().close()
        while self._links:  # an <a> that was never closed still counts
            link = self._links.pop()
            self._emit(_link_text(link))


def _link_text(link: _Link) -> str:
    text = _SPACES.sub(" ", "".join(link.chunks)).strip()
    if link.is_tag_or_mention:
        return text or link.href
    if not link.href:
        return text
    if not text:
        return link.href
    bare_href = _URL_START.sub("", link.href)
    bare_text = _URL_START.sub("", text).rstrip("…").rstrip(".")
    if text == link.href or (bare_text and bare_href.startswith(bare_text)):
        return link.href
    return f"{text} ({link.href})"


def html_to_text(content: str | None) -> str:
    """The text a reader sees in ``content`` (see the module docstring for the rules)."""
    if not content:
        return ""
    parser = _TextExtractor()
    parser.feed(content)
    parser.close()
    text = "".join(parser.out)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


__all__ = ["html_to_text"]
