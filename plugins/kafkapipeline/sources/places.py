"""Where the configured cities are: a small built-in table for Metro Vancouver, or coordinates.

Keyless providers (Open-Meteo) and the replay source need coordinates, not names, and
there is no geocoding service to ask offline. A city is one of:

* a name from :data:`METRO_VANCOUVER` (case-insensitive), e.g. ``"Burnaby"``;
* ``"lat,lon"``, e.g. ``"49.2827,-123.1207"`` (the text itself becomes the record's city);
* ``"Name=lat,lon"``, e.g. ``"Whistler=50.1163,-122.9574"`` (``Name`` becomes the city).
"""

from __future__ import annotations

from dataclasses import dataclass

from kafkapipeline.errors import ConfigurationError


@dataclass(frozen=True)
class Place:
    """A city name as written into records, and its coordinates in decimal degrees."""

    name: str
    latitude: float
    longitude: float
    country: str | None = None

    @property
    def owm_query(self) -> str:
        """The ``q`` value for OpenWeatherMap (the country keeps Vancouver, BC apart from Vancouver, WA)."""
        return f"{self.name},{self.country}" if self.country else self.name


#: Metro Vancouver municipalities (city hall coordinates, rounded).
METRO_VANCOUVER: dict[str, Place] = {
    place.name.lower(): place
    for place in (
        Place("Vancouver", 49.2827, -123.1207, "CA"),
        Place("Burnaby", 49.2488, -122.9805, "CA"),
        Place("Surrey", 49.1913, -122.8490, "CA"),
        Place("Richmond", 49.1666, -123.1336, "CA"),
        Place("Coquitlam", 49.2838, -122.7932, "CA"),
        Place("North Vancouver", 49.3200, -123.0724, "CA"),
        Place("West Vancouver", 49.3286, -123.1602, "CA"),
        Place("New Westminster", 49.2057, -122.9110, "CA"),
        Place("Delta", 49.0847, -123.0586, "CA"),
        Place("Langley", 49.1044, -122.6604, "CA"),
        Place("Port Coquitlam", 49.2625, -122.7811, "CA"),
        Place("Port Moody", 49.2849, -122.8678, "CA"),
        Place("Maple Ridge", 49.2194, -122.6019, "CA"),
        Place("Pitt Meadows", 49.2210, -122.6899, "CA"),
        Place("White Rock", 49.0253, -122.8026, "CA"),
    )
}


def _coordinates(text: str, original: str) -> tuple[float, float]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2:
        raise ValueError
    latitude, longitude = float(parts[0]), float(parts[1])
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ConfigurationError(f"city {original!r}: latitude/longitude out of range")
    return latitude, longitude


def resolve_place(city: str) -> Place:
    """The :class:`Place` for a configured city; a clear error for anything else."""
    text = (city or "").strip()
    if not text:
        raise ConfigurationError("a city must not be empty")
    known = METRO_VANCOUVER.get(text.lower())
    if known is not None:
        return known
    name, separator, coordinates = text.partition("=")
    try:
        if separator:
            latitude, longitude = _coordinates(coordinates, text)
            return Place(name.strip() or coordinates.strip(), latitude, longitude)
        latitude, longitude = _coordinates(text, text)
        return Place(text, latitude, longitude)
    except ValueError:
        known_names = ", ".join(sorted(place.name for place in METRO_VANCOUVER.values()))
        raise ConfigurationError(
            f"unknown city {city!r}: use one of {known_names}, or coordinates as 'lat,lon' or 'Name=lat,lon'"
        ) from None


def is_known_city(city: str) -> bool:
    return (city or "").strip().lower() in METRO_VANCOUVER
