"""Where the pipeline's records come from, behind one interface.

Every source is a :class:`~kafkapipeline.sources.base.RecordSource`: given an interval
``[start, end)`` it yields pages of tweet or weather records. :mod:`.selection` registers them
all and picks the one a run uses; :mod:`.ingest` is the task that produces a run's pages to Kafka.

* :mod:`.x_api`: X API v2 recent search (connection ``x_api_default``)
* :mod:`.mastodon`: public hashtag / local timelines of a Mastodon instance (connection ``mastodon_default``)
* :mod:`.openweathermap`: OpenWeatherMap current weather (connection ``openweathermap_default``)
* :mod:`.openmeteo`: Open-Meteo hourly history, keyless
* :mod:`.replay`: the built-in deterministic replay, the default when no connection is set
"""
