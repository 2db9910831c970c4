"""The streams (tweets, weather): each is one module with its record type, table and settings;
:mod:`kafkapipeline.streams.registry` lists them."""
