"""Service settings, read once from ``ECOWARN_*`` environment variables.

Settings fail at boot naming the key; domain code receives the values it needs
through constructors and never imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ecowarn.core.mqtturl import parse_mqtt_url

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
    # HJ 212 uploads split over several packets (PNUM/PNO), joined across connections: an
    # upload not complete this long after its first part is dead-lettered with its raw parts;
    # at most this many uploads and bytes are held per device, and bytes in all (the oldest
    # upload is dead-lettered to make room).
    hj212_split_timeout_s: float = Field(default=60.0, gt=0)
    hj212_max_split_uploads: int = Field(default=16, ge=1)
    hj212_max_split_bytes: int = Field(default=1 << 20, ge=1024)
    hj212_max_split_bytes_total: int = Field(default=64 << 20, ge=1024)
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
    # Where the detector runner runs: "process" (a child process of `ecowarn serve`, on a
    # core of its own; the default), "inline" (in the service's event loop) or "off" (not
    # here: another instance's runner evaluates). See detectors/runtime/process.py.
    runner: Literal["process", "inline", "off"] = "process"
    # Partitioned detector runners (docs/scaling.md): enterprises are split into this many
    # partitions by a stable hash (the air stations have one more of their own); every runner
    # of the database, on any host, owns a fair share and takes a stopped one's within
    # RUNNER_REBALANCE_S. Every runner of a database must use the same count. 0: one runner
    # per database (a leader lock, the others on standby), as before partitions.
    runner_partitions: int = Field(default=8, ge=0, le=1024)
    runner_rebalance_s: float = Field(default=2.0, gt=0, le=60)
    # Runner child processes of `ecowarn serve` with ECOWARN_RUNNER=process (unset: one per
    # core beyond the first, at least one). Inline there is one.
    runners: int | None = Field(default=None, ge=1, le=64)
    # Batches written concurrently (each holds a pool connection); they still commit in order.
    ingest_writers: int = Field(default=2, ge=1, le=8)
    # On-disk spool used while the database is unreachable: at most this many bytes of
    # batches not yet written back (then ingest blocks: backpressure, never a drop).
    spool_max_bytes: int = Field(default=2 * 1024**3, ge=1024 * 1024)
    # Spool directory; defaults to DATA_DIR/spool/<MQTT_CLIENT_ID>. One process per directory.
    spool_dir: Path | None = None
    # The broker's per-client window of unacknowledged QoS 1 messages (Mosquitto
    # max_inflight_messages); the collector commits early when half of it waits for an ack.
    mqtt_max_inflight: int = Field(default=1000, ge=1, le=65535)
    # Automated risk warnings (alerts/warnings.py): which alerts warn (YAML, default
    # config/warnings.yaml), the HMAC secret for X-Ecowarn-Signature (global, and per
    # enterprise as JSON {"<enterprise id>": "<secret>"}), retries and timeouts.
    warning_policy: Path | None = None
    warning_webhook_secret: SecretStr | None = None
    warning_webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    warning_max_attempts: int = Field(default=10, ge=1)
    warning_backoff_initial_s: float = Field(default=30.0, gt=0)
    warning_backoff_max_s: float = Field(default=3600.0, gt=0)
    warning_timeout_s: float = Field(default=10.0, gt=0)
    warning_poll_ms: int = Field(default=2000, ge=10)
    # Publish warnings on MQTT warnings/{enterprise_id} as well as by webhook.
    warning_mqtt: bool = True
    # Base URL of the console as enterprises reach it, for the "url" of warnings
    # (e.g. https://ecowarn.example.gov.cn); empty: warnings carry the link path only.
    public_url: str = ""
    # Notifications to officers (alerts/notify.py): the channel file (YAML, see
    # config/officer_channels.example.yaml; unset: officers are not notified). Enterprises
    # are reminded this many hours before an answer or rectification deadline, through
    # their warning channels (0: no reminders).
    officer_channels: Path | None = None
    reminder_lead_h: float = Field(default=24.0, ge=0)
    # Environmental credit (credit/): deduction table (YAML, default config/credit.yaml)
    # and the margin of raw readings around an alert in its evidence package.
    credit_table: Path | None = None
    evidence_margin_min: float = Field(default=30.0, ge=0)
    # Credit evaluations (credit/evaluation.py): the catalog files as a JSON list of paths
    # (default: config/credit_catalog_hebei_initial.yaml and credit_catalog_daxing_green.yaml),
    # the level-scheme file (default config/credit_levels.yaml) and the scheme whose level the
    # API reports (default: the file's ``active``, hebei). Checked at start (file:line errors).
    credit_catalogs: list[Path] | None = None
    credit_level_schemes: Path | None = None
    credit_level_scheme: str | None = None
    # Supervision by credit level and positive list (credit/supervision): inspection frequency
    # and draw weights (YAML, default config/supervision.yaml; checked at start).
    supervision_config: Path | None = None

    # Alert workflow (docs/enforcement.md). An alert nobody acknowledged is escalated
    # after this many minutes per severity (again after each further period, up to
    # ESCALATION_MAX_LEVEL levels); the escalator sweeps every ESCALATION_SWEEP_S.
    escalate_after_min_high: int = Field(default=120, ge=1)
    escalate_after_min_medium: int = Field(default=1440, ge=1)
    escalate_after_min_low: int = Field(default=4320, ge=1)
    escalation_max_level: int = Field(default=3, ge=1)
    escalation_sweep_s: float = Field(default=60.0, gt=0)
    # Days the enterprise has to answer once an alert is dispatched to it, per severity,
    # and per rule as JSON overriding them, e.g. {"data_gap": 14}.
    answer_deadline_days_high: int = Field(default=3, ge=1)
    answer_deadline_days_medium: int = Field(default=14, ge=1)
    answer_deadline_days_low: int = Field(default=14, ge=1)
    answer_deadline_days_by_rule: dict[str, int] = Field(default_factory=dict)
    # Maintenance an enterprise declares takes effect at once only when it starts no earlier
    # than this many minutes before it is declared and lasts at most MAINTENANCE_MAX_HOURS;
    # any other waits for an officer's approval (CONTRACT section 8).
    maintenance_grace_min: float = Field(default=60.0, ge=0)
    maintenance_max_hours: float = Field(default=72.0, gt=0)

    # 首违不罚 (first offence without penalty, CONTRACT section 9): no confirmed violation of
    # the same rule may stand this many months before the violation; the rules that allow it
    # as a JSON list (e.g. ["data_gap", "treatment_underload"]; unset: every rule, []: none).
    first_offence_window_months: int = Field(default=12, ge=1, le=120)
    first_offence_rules: list[str] | None = None

    @field_validator("first_offence_rules")
    @classmethod
    def _rule_ids(cls, v: list[str] | None) -> list[str] | None:
        bad = [rule for rule in v or () if not rule.strip() or not rule.replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"rule ids are letters, digits and underscores (not {bad!r})")
        return v

    @field_validator("answer_deadline_days_by_rule")
    @classmethod
    def _whole_days(cls, v: dict[str, int]) -> dict[str, int]:
        bad = sorted(rule for rule, days in v.items() if days < 1)
        if bad:
            raise ValueError(f"deadlines must be >= 1 day (rules: {', '.join(bad)})")
        return v

    def escalate_after_min(self) -> dict[str, int]:
        """Minutes before an unacknowledged alert escalates, per severity."""
        return {"high": self.escalate_after_min_high, "medium": self.escalate_after_min_medium,
                "low": self.escalate_after_min_low}

    def answer_deadline_days(self) -> dict[str, int]:
        """Days the enterprise has to answer a dispatched alert, per severity."""
        return {"high": self.answer_deadline_days_high,
                "medium": self.answer_deadline_days_medium,
                "low": self.answer_deadline_days_low}

    def resolved_runners(self) -> int:
        """``runners``, or one per core beyond the first (at least one)."""
        if self.runners is not None:
            return self.runners
        return max(1, (os.cpu_count() or 1) - 1)

    def resolved_spool_dir(self) -> Path:
        """``spool_dir``, or ``data_dir/spool/<client id>`` (one spool per collector identity)."""
        if self.spool_dir is not None:
            return self.spool_dir
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.mqtt_client_id)
        return self.data_dir / "spool" / (safe or "default")

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        parse_mqtt_url(v)  # the ValueError names what is wrong
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
