"""Developer tooling around the pipeline, not used by the DAGs: the run command's steps
(``python -m devtools.devstack``, ``python -m devtools.first_run``), the Airflow REST client and
the isolated stacks the end-to-end tests and benchmarks start. Kept out of ``plugins/`` so no
Airflow component loads it."""
