"""The officer channel file (``ECOWARN_OFFICER_CHANNELS``): loading, validation, templates.

The file is validated once at start; every problem is reported as
``<file>: channels[1].url_env: ...`` (:class:`NotifyConfigError`). Secrets (a robot URL
carries its key) may stay out of the file: ``url_env`` and ``secret_env`` name environment
variables that hold them. See ``config/officer_channels.example.yaml``.

A template is any JSON value; in its strings ``{field}`` is replaced by the notification's
field (``{{`` and ``}}`` are literal braces). A string that is exactly one ``{field}`` becomes
the field's JSON value (a number, null), not its text.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ecowarn.alerts._robots import DEFAULT_TEMPLATES, GENERIC_FIELDS, Kind

__all__ = [
    "EVENTS",
    "FIELDS",
    "Event",
    "NotifyConfig",
    "NotifyConfigError",
    "OfficerChannel",
    "load_officer_channels",
    "render_template",
]

Event = Literal["high_alert", "escalated", "rectification_overdue", "maintenance_pending"]
EVENTS: Final[tuple[Event, ...]] = ("high_alert", "escalated", "rectification_overdue",
                                    "maintenance_pending")
# What a template may name.
FIELDS: Final[frozenset[str]] = frozenset((*GENERIC_FIELDS, "open_zh", "open_en"))

_EXACT_FIELD = re.compile(r"\{([a-z_]+)\}")
_FORMATTER = string.Formatter()


class NotifyConfigError(ValueError):
    """The officer channel file is invalid; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class OfficerChannel:
    """Where officers are told: a webhook, the events it takes and the region it serves.

    ``region`` None serves every region (and notifications of no enterprise); otherwise the
    enterprises whose administrative division code starts with it. ``template`` is the JSON
    text of the message template.
    """

    id: str
    url: str = field(repr=False)  # a robot's URL holds its key
    events: frozenset[str]
    template: str
    kind: Kind = "generic"
    secret: str | None = field(default=None, repr=False)
    region: str | None = None

    def serves(self, region: str | None) -> bool:
        return self.region is None or (region is not None and region.startswith(self.region))


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """The channels and the delivery policy of officer notifications."""

    channels: tuple[OfficerChannel, ...] = ()
    # Events older than this are not notified any more (a first start on an old database).
    horizon_h: float = 72.0
    # Severities of a new alert that notify (event high_alert).
    severities: frozenset[str] = frozenset({"high"})
    max_attempts: int = 10
    backoff_initial_s: float = 30.0
    backoff_max_s: float = 3600.0
    timeout_s: float = 10.0
    poll_s: float = 10.0

    def channel(self, channel_id: str) -> OfficerChannel | None:
        return next((c for c in self.channels if c.id == channel_id), None)


_Severity = Literal["low", "medium", "high"]


def _only_high() -> list[_Severity]:
    return ["high"]


class _Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_attempts: int = Field(default=10, ge=1)
    backoff_initial_s: float = Field(default=30.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    poll_s: float = Field(default=10.0, gt=0)


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: Kind = "generic"
    url: str | None = None
    url_env: str | None = None
    secret: str | None = None
    secret_env: str | None = None
    region: str | None = Field(default=None, pattern=r"^[0-9]{2,6}$")
    events: list[Event] = Field(min_length=1)
    template: Any = None

    @field_validator("region", mode="before")
    @classmethod
    def _digits(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v  # region: 1301 unquoted in YAML


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[_Channel] = Field(default_factory=list)
    horizon_h: float = Field(default=72.0, gt=0)
    severities: list[_Severity] = Field(default_factory=_only_high, min_length=1)
    delivery: _Delivery = Field(default_factory=_Delivery)


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _placeholders(text: str, where: str) -> set[str]:
    try:
        return {name for _, name, _, _ in _FORMATTER.parse(text) if name is not None}
    except ValueError as exc:
        raise NotifyConfigError(f"{where}: {exc} (write {{{{ and }}}} for literal braces)") from exc


def _check_template(template: Any, where: str) -> None:
    """Every placeholder is a known field; raises naming the template's key."""
    if isinstance(template, str):
        unknown = sorted(n for n in _placeholders(template, where) if n not in FIELDS)
        if unknown:
            raise NotifyConfigError(f"{where}: unknown field {{{unknown[0]}}}; fields: {', '.join(sorted(FIELDS))}")
    elif isinstance(template, dict):
        for key, value in template.items():
            _check_template(value, f"{where}.{key}")
    elif isinstance(template, list):
        for i, value in enumerate(template):
            _check_template(value, f"{where}[{i}]")
    elif template is not None and not isinstance(template, (bool, int, float)):
        raise NotifyConfigError(f"{where}: a template holds JSON values, not {type(template).__name__}")


def render_template(template: Any, fields: Mapping[str, Any]) -> Any:
    """The JSON value of ``template`` with ``fields`` filled in (module docstring)."""
    if isinstance(template, str):
        exact = _EXACT_FIELD.fullmatch(template)
        if exact is not None:
            return fields.get(exact.group(1))
        return template.format_map({k: "" if v is None else v for k, v in fields.items()})
    if isinstance(template, dict):
        return {key: render_template(value, fields) for key, value in template.items()}
    if isinstance(template, list):
        return [render_template(value, fields) for value in template]
    return template


def _from_env(value: str | None, env_name: str | None, where: str, what: str,
              environ: Mapping[str, str]) -> str | None:
    if value is not None and env_name is not None:
        raise NotifyConfigError(f"{where}: give {what} or {what}_env, not both")
    if env_name is None:
        return value
    found = environ.get(env_name, "")
    if not found:
        raise NotifyConfigError(f"{where}_env: environment variable {env_name} is not set")
    return found


def _channel(c: _Channel, where: str, environ: Mapping[str, str]) -> OfficerChannel:
    url = _from_env(c.url, c.url_env, f"{where}.url", "url", environ)
    if url is None:
        raise NotifyConfigError(f"{where}.url: a channel needs url or url_env")
    if not url.startswith(("https://", "http://")):
        raise NotifyConfigError(f"{where}.url{'_env' if c.url_env else ''}: not an http(s) URL")
    secret = _from_env(c.secret, c.secret_env, f"{where}.secret", "secret", environ)
    template = c.template if c.template is not None else DEFAULT_TEMPLATES[c.kind]
    _check_template(template, f"{where}.template")
    if not isinstance(template, dict):
        raise NotifyConfigError(f"{where}.template: the message must be a JSON object")
    return OfficerChannel(id=c.id, kind=c.kind, url=url, secret=secret, region=c.region,
                          events=frozenset(c.events),
                          template=json.dumps(template, ensure_ascii=False))


def load_officer_channels(path: Path, environ: Mapping[str, str] | None = None) -> NotifyConfig:
    """The channels of ``path``; secrets named by ``*_env`` come from ``environ`` (default:
    the process environment). Raises :class:`NotifyConfigError` naming file and key."""
    env = os.environ if environ is None else environ
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        f = _File.model_validate(raw if raw is not None else {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise NotifyConfigError(f"{path}: cannot read the officer channels: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{_loc(tuple(e['loc']))}: {e['msg']}" for e in exc.errors())
        raise NotifyConfigError(f"{path}: {problems}") from exc
    channels = []
    seen: set[str] = set()
    try:
        for i, c in enumerate(f.channels):
            if c.id in seen:
                raise NotifyConfigError(f"channels[{i}].id: {c.id!r} is used by an earlier channel")
            seen.add(c.id)
            channels.append(_channel(c, f"channels[{i}]", env))
        if f.delivery.backoff_max_s < f.delivery.backoff_initial_s:
            raise NotifyConfigError("delivery.backoff_max_s: must be >= delivery.backoff_initial_s")
    except NotifyConfigError as exc:
        raise NotifyConfigError(f"{path}: {exc}") from None
    d = f.delivery
    return NotifyConfig(channels=tuple(channels), horizon_h=f.horizon_h, severities=frozenset(f.severities),
                        max_attempts=d.max_attempts, backoff_initial_s=d.backoff_initial_s,
                        backoff_max_s=d.backoff_max_s, timeout_s=d.timeout_s, poll_s=d.poll_s)
