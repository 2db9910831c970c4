"""Errors that tell the user exactly what to fix."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """A connection, credential or setting is missing or wrong; the message says what to set."""


def missing_connection(conn_id: str, example: str) -> ConfigurationError:
    env_name = f"AIRFLOW_CONN_{conn_id.upper()}"
    return ConfigurationError(
        f"Airflow connection '{conn_id}' is not defined. Add it under Admin > Connections "
        f"or set the environment variable {env_name}, for example: {env_name}='{example}'"
    )
