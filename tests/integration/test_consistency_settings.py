"""The consistency settings reach real Cassandra: on one node, a level that needs two replicas fails.

A keyspace with replication factor 1 cannot satisfy TWO, so Cassandra answers Unavailable to
every statement sent at TWO and serves the same statement at LOCAL_QUORUM: a write or read that
succeeds under ``..._CONSISTENCY=TWO`` did not use the setting.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from cassandra.cluster import NoHostAvailable

from kafkapipeline.cassandra.session import cassandra_session
from kafkapipeline.cassandra.writer import ConcurrentRowWriter
from kafkapipeline.csvio.load import import_path
from kafkapipeline.sentiment.rescore import SENTIMENT_COLUMNS, rescore_tweets
from kafkapipeline.sentiment.scorers import VADER
from tests.integration.test_csv_seed_import import SMALL_TWEETS
from tests.integration.test_rescore import write_tweets

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 20)
#: Cassandra's Unavailable answer (the driver wraps it in NoHostAvailable once no host is left).
TWO_REFUSED = "Cannot achieve consistency level TWO"


def test_sessions_read_at_the_read_consistency(keyspace, monkeypatch):
    query = f"SELECT tweet_id FROM {keyspace}.tweets LIMIT 1"
    with cassandra_session() as session:
        assert session.execute(query).one() is None  # LOCAL_QUORUM, the default: served
    monkeypatch.setenv("KAFKAPIPELINE_READ_CONSISTENCY", "TWO")
    with cassandra_session() as session, pytest.raises(NoHostAvailable, match=TWO_REFUSED):
        session.execute(query)


def test_a_session_without_schema_metadata_still_runs_prepared_statements(keyspace):
    query = f"SELECT tweet_id FROM {keyspace}.tweets WHERE city = ? AND day = ? LIMIT 1"
    with cassandra_session() as session:
        assert keyspace in session.cluster.metadata.keyspaces
    with cassandra_session(schema_metadata=False) as session:
        assert session.cluster.metadata.keyspaces == {}
        assert session.execute(session.prepare(query), ("Vancouver", DAY)).one() is None


def test_the_row_writer_writes_at_the_write_consistency_by_default(keyspace, cassandra, monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_WRITE_CONSISTENCY", "TWO")
    writer = ConcurrentRowWriter(cassandra, keyspace, SENTIMENT_COLUMNS)  # no level given
    writer.write([("Vancouver", DAY, datetime(2026, 11, 20, tzinfo=UTC), "t1", 0.5, "Positive", "m", "1")])
    outcome = writer.flush()
    assert outcome.rows_written == 0
    assert re.search(TWO_REFUSED, str(outcome.first_error)), outcome.first_error


def test_rescore_writes_at_the_write_consistency(keyspace, cassandra, monkeypatch):
    write_tweets(cassandra, keyspace, "Vancouver", DAY, 3)
    monkeypatch.setenv("KAFKAPIPELINE_WRITE_CONSISTENCY", "TWO")
    with pytest.raises(Exception, match=TWO_REFUSED):
        rescore_tweets(DAY, DAY, cities=["Vancouver"], model=VADER, force=True)
    monkeypatch.setenv("KAFKAPIPELINE_WRITE_CONSISTENCY", "LOCAL_QUORUM")
    assert rescore_tweets(DAY, DAY, cities=["Vancouver"], model=VADER, force=True).rows_rescored == 3


def test_csv_import_writes_at_the_write_consistency(keyspace, data_root, cassandra, monkeypatch):
    (data_root / "tweets.csv").write_text(SMALL_TWEETS, encoding="utf-8")
    monkeypatch.setenv("KAFKAPIPELINE_WRITE_CONSISTENCY", "TWO")
    with pytest.raises(Exception, match=TWO_REFUSED):
        import_path("tweets.csv")
    rows = cassandra.execute(f"SELECT COUNT(*) FROM {keyspace}.tweets").one()[0]
    assert rows == 0
