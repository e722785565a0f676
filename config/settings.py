"""Service settings, read once from ``ECOWARN_*`` environment variables.

Settings fail at boot naming the key; domain code receives the values it needs
through constructors and never imports this module.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "default_data_dir", "load_settings"]


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def default_data_dir() -> Path:
    """Where embedded services keep their state when ``ECOWARN_DATA_DIR`` is unset."""
    return Path.home() / ".local" / "share" / "ecowarn"


class Settings(BaseSettings):
    """All ``ECOWARN_*`` variables of CONTRACT section 6, plus optional extensions."""

    model_config = SettingsConfigDict(env_prefix="ECOWARN_", frozen=True, extra="ignore")

    database_url: str | None = None
    mqtt_url: str | None = None
    registry: Path | None = None
    rules: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    hj212_port: int = Field(default=9212, ge=0, le=65535)
    # Interface of the HJ 212 gateway; defaults to ECOWARN_HTTP_HOST.
    hj212_host: str | None = None
    # Strict HJ 212: reject non-standard Flag values and MNs that are not 24 hex characters.
    hj212_strict: bool = False
    # MQTT: prefix before telemetry/ (for shared brokers), and a shared-subscription
    # group so several collectors split the load ($share/GROUP/telemetry/+/+).
    mqtt_topic_prefix: str = ""
    mqtt_shared_group: str | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    log_level: str = "INFO"
    # Ingest batching: a batch is written when it holds this many readings or
    # when the oldest reading in it has waited this long.
    ingest_batch_size: int = Field(default=5000, ge=1)
    ingest_flush_ms: int = Field(default=100, ge=1)
    ingest_queue_size: int = Field(default=200_000, ge=1)
    db_pool_max: int = Field(default=8, ge=2)
    mqtt_client_id: str = "ecowarn-collector"
    # Detector runner poll interval when no new data wakes it up.
    runner_poll_ms: int = Field(default=1000, ge=10)

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ValueError("must look like mqtt://user:pass@host:port")
        if not parts.hostname:
            raise ValueError("has no host")
        return v

    @field_validator("database_url")
    @classmethod
    def _empty_is_none(cls, v: str | None) -> str | None:
        return v or None


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise :class:`SettingsError` naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = "ECOWARN_" + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{key}: {err['msg']}")
        raise SettingsError("; ".join(problems)) from exc
