"""The pipeline's own metrics: StatsD lines (:mod:`.statsd`) under the names in :mod:`.names`, sent by
the code that knows each figure (the drain, the lag trigger, the health check, the sources' HTTP client)
to the statsd_exporter that Prometheus scrapes (docs/metrics.md)."""
