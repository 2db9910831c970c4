"""Task functions also called directly (integration tests, a shell) refuse what their DAG's
Param schema refuses, before touching Kafka or Cassandra (``pydantic.validate_call``)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from kafkapipeline.dead_letters.replay import replay_dead_letters
from kafkapipeline.maintenance.retention import MAX_SWEEP_DAYS, purge_expired
from kafkapipeline.sentiment.rescore import MAX_PAGE_SIZE, rescore_tweets


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"max_messages": 0}, "max_messages"),
        ({"max_messages": True}, "max_messages"),
        ({"max_messages": "5"}, "max_messages"),
        ({"max_messages": 5, "max_replays": 0}, "max_replays"),
    ],
)
def test_replay_refuses_counts_that_are_not_whole_numbers_from_1(arguments, named):
    with pytest.raises(ValidationError, match=named):
        replay_dead_letters("tweets", **arguments)


@pytest.mark.parametrize("sweep_days", [0, MAX_SWEEP_DAYS + 1, True, 2.0])
def test_purge_refuses_a_sweep_outside_its_range(sweep_days):
    with pytest.raises(ValidationError, match="sweep_days"):
        purge_expired(sweep_days=sweep_days)


@pytest.mark.parametrize("page_size", [0, MAX_PAGE_SIZE + 1, False])
def test_rescore_refuses_a_page_size_outside_its_range(page_size):
    with pytest.raises(ValidationError, match="page_size"):
        rescore_tweets(date(2026, 11, 1), date(2026, 11, 2), page_size=page_size)
