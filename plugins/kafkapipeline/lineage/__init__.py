"""OpenLineage for the pipeline's tasks: their assets as datasets with row counts (:mod:`.datasets`),
reported by an extractor the provider loads (:mod:`.extractor`). Off unless a transport is set."""
