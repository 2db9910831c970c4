"""Defaults shared by the tweet sources and their selection, in a module that imports nothing.

``selection`` and ``x_api`` both need the default query; keeping it here (instead of in
``selection``) means ``x_api`` never imports ``selection``, which imports ``x_api`` back.
"""

from __future__ import annotations

#: What ``ingest_tweets`` searches X for unless a run says otherwise.
DEFAULT_TWEET_QUERY = "Vancouver lang:en -is:retweet"

__all__ = ["DEFAULT_TWEET_QUERY"]
