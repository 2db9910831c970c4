"""ensure_topics against the real broker when its first metadata read misses a topic that exists.

On a cluster a broker can answer ``list_topics`` before it has learnt of a topic created a
moment ago, or another bootstrap run creates it in between: creating it then fails with
TOPIC_ALREADY_EXISTS. The topic must be checked and reported like any other, exactly once.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import unique_name

pytestmark = pytest.mark.integration


class FirstReadMissesTopic:
    """The real AdminClient, except that its first full metadata read does not list ``hidden``."""

    def __init__(self, admin: Any, hidden: str) -> None:
        self._admin = admin
        self._hidden = hidden
        self._first = True

    def list_topics(self, *args: Any, **kwargs: Any) -> Any:
        metadata = self._admin.list_topics(*args, **kwargs)
        if self._first and not args and "topic" not in kwargs:
            self._first = False
            metadata.topics.pop(self._hidden, None)
        return metadata

    def __getattr__(self, name: str) -> Any:
        return getattr(self._admin, name)


@pytest.fixture
def existing_topic(kafka_hook):
    from kafkapipeline.kafka.topics import TopicSpec, ensure_topics

    admin = kafka_hook.admin()
    name = unique_name("raced")
    ensure_topics(admin, [TopicSpec(name, 2, 3_600_000)])
    yield admin, name
    for future in admin.delete_topics([name], operation_timeout=30).values():
        future.result(timeout=30)


def test_a_topic_created_meanwhile_is_reported_unchanged_once(existing_topic):
    from kafkapipeline.kafka.topics import TopicSpec, ensure_topics

    admin, name = existing_topic
    report = ensure_topics(FirstReadMissesTopic(admin, name), [TopicSpec(name, 2, 3_600_000)])
    assert report.created == []
    assert report.unchanged == [name]
    assert not report.changed


def test_a_topic_created_meanwhile_still_gets_the_wanted_partitions_and_retention(existing_topic):
    from kafkapipeline.kafka.topics import TopicSpec, ensure_topics

    admin, name = existing_topic
    report = ensure_topics(FirstReadMissesTopic(admin, name), [TopicSpec(name, 3, 7_200_000)])
    assert (report.created, report.unchanged) == ([], [])
    assert report.partitions_increased == [name]
    assert report.retention_changed == [name]
    assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 3
