"""Topics, tables and the CSV export folder as Airflow assets: their URIs (:mod:`.definitions`) and
what each task reads, writes and records in its asset events (:mod:`.tasks`)."""
