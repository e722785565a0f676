"""Injections: labelled violations and hard negatives laid over clean simulated data.

Each injection is a frozen dataclass naming its target devices and a half-open
window ``[start, end)`` of event time. ``rule`` is the CONTRACT section 3 rule it
exercises and ``positive`` says whether that rule should fire (a hard negative
looks suspicious but must not). ``label()`` gives a JSON-ready dict for an
evaluation harness.

Targets by injection (``device_ids``):

==========================  ====================  =========================================
injection                   targets               effect in its window
==========================  ====================  =========================================
TreatmentOutage             production meters     production runs; its treated_by units draw
                                                  0-2 kW (rule ``treatment_off``)
TreatmentUnderload          treatment meters      their production runs; the unit runs at
                                                  ~20% of its typical load
Exceedance                  CEMS                  converted ``metric`` at ``factor`` x limit
Flatline                    CEMS                  ``metric`` frozen at its value at start
O2Dilution                  CEMS                  O2 19.6-20.3% while production runs
Bypass                      CEMS                  flow 2-7% of typical while production runs
Marking                     CEMS                  pollutants flagged ``flag`` over an exceedance
Pinned                      CEMS                  hourly converted ``metric`` held at ``level``
                                                  x limit (+-0.8%)
DataGap                     any device            the device sends nothing
AirHotspot                  air stations          pm25 +``delta``, pm10 +1.3 x ``delta`` ug/m3
EmergencyProduction         production meters     production runs (label only: the order is not
                                                  telemetry)
PlannedShutdown (neg.)      production meters     production stops; treatment follows it
TreatmentBlip (neg.)        production meters     treatment dips to 0-2 kW for < 10 min
ThresholdNoise (neg.)       production meters     production idles just under its running
                                                  threshold while treatment is off
StoppedZero (neg.)          CEMS                  served production stops; pollutants and
                                                  flow read exactly 0
==========================  ====================  =========================================

Every injection that needs production running forces it on for its window, at its
normal running load (at least 60% of rated).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from ecowarn.config.registry import Device, Registry
from ecowarn.simulator.errors import InjectionError

__all__ = [
    "INJECTION_TYPES",
    "AirHotspot",
    "Bypass",
    "DataGap",
    "EmergencyProduction",
    "Exceedance",
    "Flatline",
    "Injection",
    "Marking",
    "O2Dilution",
    "Pinned",
    "PlannedShutdown",
    "StoppedZero",
    "ThresholdNoise",
    "TreatmentBlip",
    "TreatmentOutage",
    "TreatmentUnderload",
    "injection_labels",
    "validate_injections",
]

POLLUTANTS = ("so2", "nox", "pm", "co")
Target = Literal["production", "treatment", "cems", "air", "any"]


@dataclass(frozen=True, slots=True)
class Injection:
    """Base of all injections: target devices and the window ``[start, end)``."""

    device_ids: tuple[str, ...]
    start: datetime
    end: datetime

    kind: ClassVar[str] = "injection"
    rule: ClassVar[str] = ""
    positive: ClassVar[bool] = True
    target: ClassVar[Target] = "any"

    def __post_init__(self) -> None:
        ids = (self.device_ids,) if isinstance(self.device_ids, str) else tuple(self.device_ids)
        object.__setattr__(self, "device_ids", ids)
        if not ids:
            raise InjectionError(f"{self.kind}: no device ids")
        for name in ("start", "end"):
            t = getattr(self, name)
            if not isinstance(t, datetime) or t.utcoffset() is None:
                raise InjectionError(f"{self.kind}: {name} must be an aware datetime")
        if self.end <= self.start:
            raise InjectionError(f"{self.kind}: end {self.end.isoformat()} is not after "
                                 f"start {self.start.isoformat()}")

    @property
    def duration_min(self) -> float:
        return (self.end - self.start).total_seconds() / 60.0

    def params(self) -> dict[str, Any]:
        """The injection's own parameters (everything but targets and window)."""
        skip = {"device_ids", "start", "end"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}

    def label(self) -> dict[str, Any]:
        """A JSON-ready description: what was injected, where, when, and which rule it tests."""
        return {
            "kind": self.kind,
            "rule": self.rule,
            "positive": self.positive,
            "device_ids": list(self.device_ids),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "duration_min": self.duration_min,
            "params": self.params(),
        }


def _check_fraction(kind: str, name: str, value: float, lo: float, hi: float) -> None:
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InjectionError(f"{kind}: {name}={value} is outside [{lo}, {hi}]")


# --- violations -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreatmentOutage(Injection):
    """Production runs while every treatment unit it has draws at most ``level_kw``."""

    level_kw: float = 2.0
    kind: ClassVar[str] = "treatment_outage"
    rule: ClassVar[str] = "treatment_off"
    target: ClassVar[Target] = "production"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_fraction(self.kind, "level_kw", self.level_kw, 0.0, 1e6)


@dataclass(frozen=True, slots=True)
class TreatmentUnderload(Injection):
    """Treatment runs at ``fraction`` of its typical running load while production runs."""

    fraction: float = 0.2
    kind: ClassVar[str] = "treatment_underload"
    rule: ClassVar[str] = "treatment_underload"
    target: ClassVar[Target] = "treatment"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_fraction(self.kind, "fraction", self.fraction, 0.01, 0.29)


@dataclass(frozen=True, slots=True)
class Exceedance(Injection):
    """The converted concentration of ``metric`` runs at ``factor`` times its limit."""

    metric: str = "so2"
    factor: float = 1.6
    kind: ClassVar[str] = "exceedance"
    rule: ClassVar[str] = "emission_exceedance"
    target: ClassVar[Target] = "cems"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_fraction(self.kind, "factor", self.factor, 1.2, 20.0)


@dataclass(frozen=True, slots=True)
class Flatline(Injection):
    """``metric`` (a pollutant or o2) repeats its value at ``start``, flagged N."""

    metric: str = "so2"
    kind: ClassVar[str] = "flatline"
    rule: ClassVar[str] = "flatline"
    target: ClassVar[Target] = "cems"


@dataclass(frozen=True, slots=True)
class O2Dilution(Injection):
    """O2 reads 19.6-20.3% while production runs (air let into the flue)."""

    kind: ClassVar[str] = "o2_dilution"
    rule: ClassVar[str] = "o2_dilution"
    target: ClassVar[Target] = "cems"


@dataclass(frozen=True, slots=True)
class Bypass(Injection):
    """Flue-gas flow at 2-7% of its typical running flow while production runs at >= 60%."""

    kind: ClassVar[str] = "bypass"
    rule: ClassVar[str] = "bypass_suspected"
    target: ClassVar[Target] = "cems"


@dataclass(frozen=True, slots=True)
class Marking(Injection):
    """All pollutants flagged ``flag`` (M, C or D) over an exceedance of ``metric``."""

    metric: str = "so2"
    flag: str = "M"
    factor: float = 1.5
    kind: ClassVar[str] = "marking"
    rule: ClassVar[str] = "undeclared_marking"
    target: ClassVar[Target] = "cems"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        if self.flag not in ("M", "C", "D"):
            raise InjectionError(f"{self.kind}: flag {self.flag!r} must be M, C or D")
        _check_fraction(self.kind, "factor", self.factor, 1.2, 20.0)


@dataclass(frozen=True, slots=True)
class Pinned(Injection):
    """Hourly converted means of ``metric`` held at ``level`` of the limit (+-0.8%)."""

    metric: str = "so2"
    level: float = 0.95
    kind: ClassVar[str] = "pinned"
    rule: ClassVar[str] = "pinned_below_limit"
    target: ClassVar[Target] = "cems"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_fraction(self.kind, "level", self.level, 0.92, 0.98)


@dataclass(frozen=True, slots=True)
class DataGap(Injection):
    """The devices send nothing."""

    kind: ClassVar[str] = "data_gap"
    rule: ClassVar[str] = "data_gap"
    target: ClassVar[Target] = "any"


@dataclass(frozen=True, slots=True)
class AirHotspot(Injection):
    """A local source near the station: pm25 + ``delta`` and pm10 + 1.3 x ``delta`` ug/m3."""

    delta: float = 100.0
    kind: ClassVar[str] = "air_hotspot"
    rule: ClassVar[str] = "air_hotspot"
    target: ClassVar[Target] = "air"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_fraction(self.kind, "delta", self.delta, 40.0, 1000.0)


@dataclass(frozen=True, slots=True)
class EmergencyProduction(Injection):
    """Production runs during an emergency shutdown order (the order is not telemetry)."""

    kind: ClassVar[str] = "emergency_production"
    rule: ClassVar[str] = "emergency_noncompliance"
    target: ClassVar[Target] = "production"


# --- hard negatives -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedShutdown(Injection):
    """Production stops; treatment stops ~10 min after it and restarts ~10 min ahead of it."""

    kind: ClassVar[str] = "planned_shutdown"
    rule: ClassVar[str] = "treatment_off"
    positive: ClassVar[bool] = False
    target: ClassVar[Target] = "production"


@dataclass(frozen=True, slots=True)
class TreatmentBlip(Injection):
    """Treatment drops to 0-2 kW for less than the 10-minute minimum of ``treatment_off``."""

    kind: ClassVar[str] = "treatment_blip"
    rule: ClassVar[str] = "treatment_off"
    positive: ClassVar[bool] = False
    target: ClassVar[Target] = "production"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        if self.end - self.start >= timedelta(minutes=10):
            raise InjectionError(f"{self.kind}: a blip must last under 10 min, "
                                 f"not {self.duration_min:g} min")


@dataclass(frozen=True, slots=True)
class ThresholdNoise(Injection):
    """Production idles at 82-97% of its running threshold (never reaching it); treatment off."""

    kind: ClassVar[str] = "threshold_noise"
    rule: ClassVar[str] = "treatment_off"
    positive: ClassVar[bool] = False
    target: ClassVar[Target] = "production"


@dataclass(frozen=True, slots=True)
class StoppedZero(Injection):
    """Served production stops and the CEMS reads exactly 0 for pollutants and flow."""

    kind: ClassVar[str] = "stopped_zero"
    rule: ClassVar[str] = "flatline"
    positive: ClassVar[bool] = False
    target: ClassVar[Target] = "cems"


INJECTION_TYPES: dict[str, type[Injection]] = {
    cls.kind: cls
    for cls in (TreatmentOutage, TreatmentUnderload, Exceedance, Flatline, O2Dilution, Bypass,
                Marking, Pinned, DataGap, AirHotspot, EmergencyProduction, PlannedShutdown,
                TreatmentBlip, ThresholdNoise, StoppedZero)
}
"""Injection classes by ``kind``."""


def injection_labels(injections: Iterable[Injection]) -> list[dict[str, Any]]:
    """The labels of ``injections``, in order, as JSON-ready dicts."""
    return [inj.label() for inj in injections]


# --- validation against a registry ------------------------------------------------------


def _check_target(inj: Injection, dev: Device | None, did: str, registry: Registry) -> None:
    where = f"{inj.kind} on {did!r}"
    if dev is None:
        raise InjectionError(f"{where}: no such device in the registry")
    want = inj.target
    if want == "production" and not (dev.kind == "power" and dev.role == "production"):
        raise InjectionError(f"{where}: needs a production power meter, not a {dev.kind} device")
    if want == "treatment":
        if not (dev.kind == "power" and dev.role == "treatment"):
            raise InjectionError(f"{where}: needs a treatment power meter")
        if not registry.producers_treated_by(did):
            raise InjectionError(f"{where}: no production equipment lists it in treated_by")
    if want == "cems":
        if dev.kind != "cems":
            raise InjectionError(f"{where}: needs a cems device, not a {dev.kind} device")
        if not dev.serves:
            raise InjectionError(f"{where}: the cems device serves no production equipment")
    if want == "air" and dev.kind != "air":
        raise InjectionError(f"{where}: needs an air station, not a {dev.kind} device")
    if isinstance(inj, TreatmentOutage | TreatmentBlip | ThresholdNoise) and not dev.treated_by:
        raise InjectionError(f"{where}: the production equipment has no treated_by units")
    metric = getattr(inj, "metric", None)
    if metric is not None:
        allowed = (*POLLUTANTS, "o2") if isinstance(inj, Flatline) else POLLUTANTS
        if metric not in allowed:
            raise InjectionError(f"{where}: metric {metric!r} is not one of {', '.join(allowed)}")
        if isinstance(inj, Exceedance | Pinned | Marking) and metric not in dev.limits:
            have = ", ".join(sorted(dev.limits)) or "none"
            raise InjectionError(f"{where}: no limit for {metric!r} in the registry "
                                 f"(limits: {have})")


def validate_injections(registry: Registry,
                        injections: Sequence[Injection]) -> tuple[Injection, ...]:
    """Check every injection's targets against ``registry``; raise :class:`InjectionError`."""
    for inj in injections:
        if not isinstance(inj, Injection):
            raise InjectionError(f"not an injection: {inj!r}")
        for did in inj.device_ids:
            _check_target(inj, registry.devices.get(did), did, registry)
    return tuple(injections)
