"""Compact injection specs for the command line.

Grammar::

    SPEC     ::= NAME ":" TARGETS "@" WHEN "+" DURATION [ ":" OPTION { "," OPTION } ]
    NAME     ::= an injection kind or a CONTRACT rule id (see SPEC_NAMES), e.g.
                 treatment_off, treatment_outage, stage_outage, treatment_sequence,
                 late_start, early_stop, exceedance, emission_exceedance, flatline,
                 o2_dilution, bypass, marking, pinned, data_gap, site_outage,
                 water_exceedance, ph, air_hotspot, emergency, planned_shutdown,
                 treatment_blip, threshold_noise, stopped_zero, standby_off, water_spike
    TARGETS  ::= DEVICE { "," DEVICE } [ "/" METRIC ]
                 (site_outage also takes an enterprise id: all its devices)
    WHEN     ::= HH ":" MM     local time (UTC+8): the first such minute at or after start
               | SPAN | "0"    time after start
    DURATION ::= SPAN          must be positive
    SPAN     ::= [ N "d" ] [ N "h" ] [ N "m" ]      e.g. 25m, 2h, 1h30m, 1d6h
    OPTION   ::= KEY "=" VALUE  a parameter of the injection (level_kw, fraction,
                                factor, flag, level, delta, metric, stage, off_min)

Examples::

    treatment_off:PWR-KILN-1@02:00+25m          kiln 1's treatment off 02:00-02:25
    exceedance:13010500000001/nox@3h+2h:factor=2
    marking:13010500000001@22:00+90m:flag=C
    data_gap:AQ-0002,AQ-0003@0+45m
    air_hotspot:AQ-0004@1d+1h:delta=120
    late_start:PWR-KILN-1@06:00+6m:stage=2      kiln starts 06:00 after an hour off; SCR at 06:06
    site_outage:91130182MA0DEM001G@03:00+45m    every device of the coking plant silent
    water_exceedance:13018200000002/cod@1d+1d:factor=1.6

Every error names the spec and what is wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from datetime import datetime, timedelta
from typing import Any

from ecowarn.config.registry import Registry
from ecowarn.simulator._common import CST
from ecowarn.simulator.errors import InjectionError
from ecowarn.simulator.scenario import (
    INJECTION_TYPES,
    AirHotspot,
    Bypass,
    DataGap,
    EarlyTreatmentStop,
    EmergencyProduction,
    Exceedance,
    Flatline,
    Injection,
    LateTreatmentStart,
    Marking,
    O2Dilution,
    PhOutOfRange,
    Pinned,
    PlannedShutdown,
    SiteOutage,
    StandbyOff,
    TreatmentBlip,
    TreatmentOutage,
    TreatmentUnderload,
    WaterExceedance,
    WaterSpike,
    validate_injections,
)

__all__ = ["SPEC_NAMES", "parse_injection", "parse_span_min"]

SPEC_NAMES: dict[str, type[Injection]] = {
    **INJECTION_TYPES,
    # CONTRACT section 3 rule ids -> the injection that makes the rule fire
    "treatment_off": TreatmentOutage,
    "emission_exceedance": Exceedance,
    "bypass_suspected": Bypass,
    "undeclared_marking": Marking,
    "pinned_below_limit": Pinned,
    "emergency_noncompliance": EmergencyProduction,
    "treatment_sequence": LateTreatmentStart,
    # short forms
    "outage": TreatmentOutage,
    "underload": TreatmentUnderload,
    "dilution": O2Dilution,
    "gap": DataGap,
    "hotspot": AirHotspot,
    "emergency": EmergencyProduction,
    "shutdown": PlannedShutdown,
    "blip": TreatmentBlip,
    "freeze": Flatline,
    "late_start": LateTreatmentStart,
    "early_stop": EarlyTreatmentStop,
    "standby": StandbyOff,
    "site": SiteOutage,
    "water": WaterExceedance,
    "spike": WaterSpike,
    "ph": PhOutOfRange,
}
"""Names accepted before the first ``:`` of a spec."""

_SPAN = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_FIXED = {"device_ids", "start", "end"}


def parse_span_min(text: str) -> int:
    """Minutes in a span such as ``25m``, ``2h``, ``1h30m``, ``1d6h`` or ``0``."""
    t = text.strip()
    if t == "0":
        return 0
    m = _SPAN.match(t)
    if not t or m is None:
        raise ValueError(f"{text!r} is not a span like 25m, 2h, 1h30m or 1d6h")
    d, h, mi = (int(g) if g else 0 for g in m.groups())
    return (d * 24 + h) * 60 + mi


def _when(text: str, start: datetime) -> datetime:
    clock = _CLOCK.match(text)
    if clock is None:
        return start + timedelta(minutes=parse_span_min(text))
    hh, mm = int(clock.group(1)), int(clock.group(2))
    if hh > 23 or mm > 59:
        raise ValueError(f"{text!r} is not a time of day (HH:MM, 00:00-23:59)")
    local = start.astimezone(CST)
    at = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if at < local:
        at += timedelta(days=1)
    return at


def _options(cls: type[Injection], text: str, metric: str) -> dict[str, Any]:
    allowed = {f.name: f for f in fields(cls) if f.name not in _FIXED}
    out: dict[str, Any] = {}
    pairs = [p for p in text.split(",") if p.strip()] if text else []
    if metric:
        pairs.insert(0, f"metric={metric}")
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise ValueError(f"option {pair!r} is not KEY=VALUE")
        f = allowed.get(key)
        if f is None:
            names = ", ".join(sorted(allowed)) or "none"
            what = "metric" if key == "metric" else f"option {key!r}"
            raise ValueError(f"{cls.kind} takes no {what} (options: {names})")
        default = f.default if f.default is not MISSING else None
        if isinstance(default, float | int) and not isinstance(default, bool):
            try:
                out[key] = float(value)
            except ValueError:
                raise ValueError(f"option {key}={value!r} is not a number") from None
        else:
            out[key] = value
    return out


def parse_injection(spec: str, registry: Registry, start: datetime) -> Injection:
    """Parse ``spec`` (see the module docstring for the grammar) relative to ``start``.

    Raises :class:`InjectionError` naming the spec and the problem; device ids are
    checked against ``registry``.
    """
    if start.utcoffset() is None:
        raise ValueError("start must be an aware datetime")
    try:
        name, sep, rest = spec.strip().partition(":")
        if not sep or not name:
            raise ValueError("expected NAME:TARGETS@WHEN+DURATION")
        cls = SPEC_NAMES.get(name.strip().lower())
        if cls is None:
            raise ValueError(f"unknown injection {name!r} (known: {', '.join(sorted(SPEC_NAMES))})")
        targets, sep, rest = rest.partition("@")
        if not sep:
            raise ValueError("missing '@' before the start time")
        when_text, sep, rest = rest.partition("+")
        if not sep:
            raise ValueError("missing '+' before the duration")
        dur_text, _, opt_text = rest.partition(":")
        dev_text, _, metric = targets.partition("/")
        device_ids = tuple(d.strip() for d in dev_text.split(",") if d.strip())
        if not device_ids:
            raise ValueError("no device ids before '@'")
        begin = _when(when_text.strip(), start)
        minutes = parse_span_min(dur_text)
        if minutes <= 0:
            raise ValueError(f"duration {dur_text!r} must be positive")
        params = _options(cls, opt_text, metric.strip())
        inj = cls(device_ids, begin, begin + timedelta(minutes=minutes), **params)
        inj = validate_injections(registry, [inj])[0]
    except (ValueError, TypeError) as exc:
        raise InjectionError(f"injection spec {spec!r}: {exc}") from exc
    return inj
