"""JSON-schema limits for DAG Params, derived from what records and Cassandra accept.

A manual trigger's conf is checked against them before the run exists, so no run starts with a value the
drain would dead-letter or Cassandra or Kafka refuse; task code checks the same rules again.
"""

from __future__ import annotations

import re
from typing import Any

from kafkapipeline.errors import ConfigurationError
from kafkapipeline.streams.base import CITY_MAX_CHARS, InvalidRecord, check_text

#: Text with no control characters (ECMA-262 and Python ``re`` read it alike).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
#: The ``lat,lon`` part of a weather city: digits, signs, dots, a comma and spaces; 50 fits
#: two coordinates written with more decimals than any GPS gives.
COORDINATES_MAX_CHARS = 50
#: A weather city spec: ``Name``, ``lat,lon`` or ``Name=lat,lon``; the name (or the bare
#: coordinates, which become the name) at most :data:`~kafkapipeline.streams.base.CITY_MAX_CHARS`.
CITY_SPEC_PATTERN = rf"^[^=\x00-\x1f\x7f]{{1,{CITY_MAX_CHARS}}}(=[-+0-9., ]{{3,{COORDINATES_MAX_CHARS}}})?$"
CITY_SPEC_MAX_CHARS = CITY_MAX_CHARS + 1 + COORDINATES_MAX_CHARS
#: Airflow's own limit on a dag_id, and its allowed characters.
DAG_ID_MAX_CHARS = 250
DAG_ID_PATTERN = r"^[a-zA-Z0-9_.-]+$"
#: Most cities one run handles: each is a request or a partition scan.
MAX_CITIES = 100

#: Schema of one city name (a tweets city, a city checked by health or purged).
CITY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": CITY_MAX_CHARS,
    "pattern": NO_CONTROL_CHARACTERS,
}
#: Schema of one weather city spec.
CITY_SPEC_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": CITY_SPEC_MAX_CHARS,
    "pattern": CITY_SPEC_PATTERN,
}
#: Schema of one dag_id.
DAG_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": DAG_ID_MAX_CHARS,
    "pattern": DAG_ID_PATTERN,
}


def check_city(city: str, what: str = "city") -> str:
    """``city`` if a record may carry it (length, UTF-8, no control characters); else a clear error."""
    try:
        check_text(what, city, CITY_MAX_CHARS)
    except InvalidRecord as err:
        raise ConfigurationError(f"{err}: use a city name of at most {CITY_MAX_CHARS} characters") from None
    if not city.strip() or not re.match(NO_CONTROL_CHARACTERS, city):
        raise ConfigurationError(f"{what}: {city[:40]!r} is blank or has control characters")
    return city


def check_city_spec(spec: str) -> str:
    """``spec`` if it is a well-formed weather city (``Name``, ``lat,lon`` or ``Name=lat,lon``)."""
    if not isinstance(spec, str) or not re.match(CITY_SPEC_PATTERN, spec):
        raise ConfigurationError(
            f"city {str(spec)[:40]!r}: expected a name of at most {CITY_MAX_CHARS} characters, "
            "'lat,lon' or 'Name=lat,lon'"
        )
    check_city(spec.partition("=")[0], "city")
    return spec
