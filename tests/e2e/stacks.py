"""The run command's stack for one e2e module, and what it leaves behind removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devtools.devstack import LocalStack, local_stack, tail


@contextmanager
def isolated_stack(
    home: Path, extra: Mapping[str, str], cassandra: Any, kafka_hook: Any
) -> Iterator[LocalStack]:
    """``local_stack`` on ``home``; its logs printed if anything fails, its keyspace and topics
    (with their dead-letter topics) dropped at the end, so modules never see each other's data."""
    stack = None
    try:
        with local_stack(home, dict(extra)) as stack:
            yield stack
    except BaseException:
        if stack is not None:
            print(stack.logs_tail())
        else:
            for log in sorted(home.glob("logs/**/*.log")):
                print(f"--- {log}\n{tail(log, 40)}")
        raise
    finally:
        if stack is not None:
            cassandra.execute(f"DROP KEYSPACE IF EXISTS {stack.keyspace}", timeout=120)
            topics = [stack.env["KAFKAPIPELINE_TWEETS_TOPIC"], stack.env["KAFKAPIPELINE_WEATHER_TOPIC"]]
            kafka_hook.admin().delete_topics([*topics, *(f"{t}.dlq" for t in topics)])
