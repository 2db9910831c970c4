"""The StatsD names the pipeline sends, one constant each; tags become Prometheus labels.

``deploy/prometheus/statsd-mapping.yml`` gives each its Prometheus name and type (a counter gets
``_total``, a histogram its buckets); docs/metrics.md lists both with their labels.
"""

from __future__ import annotations

#: Messages a consumer group has not committed on one partition (tags: topic, group, partition).
CONSUMER_LAG_MESSAGES = "kafkapipeline.kafka.consumer_lag_messages"
#: Age of the oldest message a group has not committed on one partition; 0 when none is pending.
CONSUMER_LAG_SECONDS = "kafkapipeline.kafka.consumer_lag_seconds"

#: Messages a drain read (tags: topic).
DRAIN_MESSAGES_READ = "kafkapipeline.drain.messages_read"
#: Rows a drain wrote and Cassandra acknowledged (tags: topic, table).
DRAIN_ROWS_WRITTEN = "kafkapipeline.drain.rows_written"
#: Messages a drain dead-lettered (tags: topic, reason: one of
#: ``kafkapipeline.drain.summary.DEAD_LETTER_REASONS``).
DRAIN_DEAD_LETTERS = "kafkapipeline.drain.dead_letters"
#: Drain batches by outcome (tags: topic, outcome: committed, empty, failed).
DRAIN_BATCHES = "kafkapipeline.drain.batches"
#: Messages in one batch, one observation a batch (tags: topic).
DRAIN_BATCH_MESSAGES = "kafkapipeline.drain.batch_messages"
#: Seconds one batch took, plan to commit (tags: topic).
DRAIN_BATCH_SECONDS = "kafkapipeline.drain.batch_seconds"
#: Messages per second of the latest batch while it ran (tags: topic).
DRAIN_MESSAGES_PER_SECOND = "kafkapipeline.drain.messages_per_second"
#: Produce-to-readable seconds: from a message's Kafka timestamp to its row's acknowledged write,
#: sampled on the first and last message of every chunk the drain consumed (tags: topic).
DRAIN_FRESHNESS_SECONDS = "kafkapipeline.drain.freshness_seconds"
#: Rows scored by a sentiment model (tags: model, version): which version scores now.
SCORED_ROWS = "kafkapipeline.sentiment.scored_rows"

#: Records an ingest run produced (tags: topic, source).
INGEST_RECORDS_PRODUCED = "kafkapipeline.ingest.records_produced"
#: Failed source HTTP attempts worth a retry (tags: source, reason: timeout, connection, http_5xx...).
SOURCE_HTTP_ERRORS = "kafkapipeline.source.http_errors"
#: Waits for an announced rate-limit reset (tags: source).
SOURCE_RATE_LIMIT_WAITS = "kafkapipeline.source.rate_limit_waits"
#: Seconds those waits lasted, summed (tags: source).
SOURCE_RATE_LIMIT_WAIT_SECONDS = "kafkapipeline.source.rate_limit_wait_seconds"

#: A pipeline_health figure's value (tags: metric, subject).
HEALTH_VALUE = "kafkapipeline.health.value"
#: A pipeline_health figure's status: 0 ok, 1 warn, 2 fail (tags: metric, subject).
HEALTH_STATUS = "kafkapipeline.health.status"

#: Every name above.
ALL = (
    CONSUMER_LAG_MESSAGES,
    CONSUMER_LAG_SECONDS,
    DRAIN_MESSAGES_READ,
    DRAIN_ROWS_WRITTEN,
    DRAIN_DEAD_LETTERS,
    DRAIN_BATCHES,
    DRAIN_BATCH_MESSAGES,
    DRAIN_BATCH_SECONDS,
    DRAIN_MESSAGES_PER_SECOND,
    DRAIN_FRESHNESS_SECONDS,
    SCORED_ROWS,
    INGEST_RECORDS_PRODUCED,
    SOURCE_HTTP_ERRORS,
    SOURCE_RATE_LIMIT_WAITS,
    SOURCE_RATE_LIMIT_WAIT_SECONDS,
    HEALTH_VALUE,
    HEALTH_STATUS,
)
