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
StageOutage                 production meters     production runs; every unit of one stage
                                                  draws 0-2 kW, the other stages run
LateTreatmentStart          production meters     production, stopped ``off_min`` before the
                                                  window, starts at its start; one stage
                                                  starts at its end (the lag, under 10 min)
EarlyTreatmentStop          production meters     one stage stops at the window's start,
                                                  production at its end (then stays off
                                                  ``off_min``)
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
SiteOutage                  devices of one        all of them send nothing (one data_gap
                            enterprise            alert is the right answer)
WaterExceedance             water outlets         ``metric`` at ``factor`` x its daily limit
PhOutOfRange                water outlets         pH at ``level`` (outside ``ph_range``)
AirHotspot                  air stations          pm25 +``delta``, pm10 +1.3 x ``delta`` ug/m3
EmergencyProduction         production meters     production runs (label only: the order is not
                                                  telemetry)
PlannedShutdown (neg.)      production meters     production stops; treatment follows it
TreatmentBlip (neg.)        production meters     treatment dips to 0-2 kW for < 10 min
ThresholdNoise (neg.)       production meters     production idles just under its running
                                                  threshold while treatment is off
StoppedZero (neg.)          CEMS                  served production stops; pollutants and
                                                  flow read exactly 0
StandbyOff (neg.)           treatment meters      production runs; the meter (an alternative)
                                                  is off while a partner of its stage runs
WaterSpike (neg.)           water outlets         ``metric`` (no hourly limit) at ``factor``
                                                  x its daily limit for at most an hour
==========================  ====================  =========================================

Every injection that needs production running forces it on for its window, at its
normal running load (at least 60% of rated). Stages (``stage``) are 0-based indices into
the production unit's ``treated_by``; an enterprise id given to :class:`SiteOutage`
stands for every device of the enterprise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from ecowarn.config.registry import Device, Registry
from ecowarn.simulator._water import WATER_POLLUTANTS
from ecowarn.simulator.errors import InjectionError

__all__ = [
    "INJECTION_TYPES",
    "SEQUENCE_RUN_MIN",
    "WATER_POLLUTANTS",
    "AirHotspot",
    "Bypass",
    "DataGap",
    "EarlyTreatmentStop",
    "EmergencyProduction",
    "Exceedance",
    "Flatline",
    "Injection",
    "LateTreatmentStart",
    "Marking",
    "O2Dilution",
    "PhOutOfRange",
    "Pinned",
    "PlannedShutdown",
    "SiteOutage",
    "StageOutage",
    "StandbyOff",
    "StoppedZero",
    "ThresholdNoise",
    "TreatmentBlip",
    "TreatmentOutage",
    "TreatmentUnderload",
    "WaterExceedance",
    "WaterSpike",
    "injection_labels",
    "validate_injections",
]

POLLUTANTS = ("so2", "nox", "pm", "co")
Target = Literal["production", "treatment", "cems", "water", "air", "any"]
# A treatment stage late or early by this much or more is treatment_off, not treatment_sequence.
SEQUENCE_MAX_MIN = 10.0
# Production stopped around a late start or an early stop at least this long.
SEQUENCE_MIN_OFF_MIN = 30.0
# Production runs at least this long after a late start (and before an early stop).
SEQUENCE_RUN_MIN = 60


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


def _check_stage(inj: Injection, stage: float) -> None:
    """``stage`` is a whole number >= 0 (spec options arrive as floats); store it as int."""
    if not (isinstance(stage, int | float) and math.isfinite(stage) and stage >= 0
            and float(stage).is_integer()):
        raise InjectionError(f"{inj.kind}: stage={stage} is not a stage index (0, 1, ...)")
    object.__setattr__(inj, "stage", int(stage))


def _check_sequence(inj: Injection, off_min: float) -> None:
    if inj.duration_min >= SEQUENCE_MAX_MIN:
        raise InjectionError(f"{inj.kind}: a stage {SEQUENCE_MAX_MIN:g} min or more late or early "
                             f"is treatment_off (use treatment_outage), not {inj.duration_min:g} min")
    _check_fraction(inj.kind, "off_min", off_min, SEQUENCE_MIN_OFF_MIN, 7 * 1440.0)


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
class StageOutage(Injection):
    """Production runs while every unit of treatment stage ``stage`` draws at most
    ``level_kw``; the other stages run (CONTRACT section 8: any stage off is treatment_off)."""

    stage: int = 0
    level_kw: float = 2.0
    kind: ClassVar[str] = "stage_outage"
    rule: ClassVar[str] = "treatment_off"
    target: ClassVar[Target] = "production"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_stage(self, self.stage)
        _check_fraction(self.kind, "level_kw", self.level_kw, 0.0, 1e6)


@dataclass(frozen=True, slots=True)
class LateTreatmentStart(Injection):
    """治污设施晚开: production, stopped for ``off_min`` before ``start``, starts at ``start``;
    every unit of treatment stage ``stage`` stays off until ``end`` (the lag, under 10 min),
    the other stages start ahead of production as usual. Production runs for an hour at
    least after ``start``."""

    stage: int = 0
    off_min: float = 60.0
    kind: ClassVar[str] = "late_treatment_start"
    rule: ClassVar[str] = "treatment_sequence"
    target: ClassVar[Target] = "production"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_stage(self, self.stage)
        _check_sequence(self, self.off_min)


@dataclass(frozen=True, slots=True)
class EarlyTreatmentStop(Injection):
    """治污设施早关: treatment stage ``stage`` stops at ``start`` while production runs (for
    an hour at least before), production stops at ``end`` (the lead, under 10 min) and stays
    off for ``off_min``; the other stages stop after production as usual."""

    stage: int = 0
    off_min: float = 60.0
    kind: ClassVar[str] = "early_treatment_stop"
    rule: ClassVar[str] = "treatment_sequence"
    target: ClassVar[Target] = "production"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_stage(self, self.stage)
        _check_sequence(self, self.off_min)


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
class SiteOutage(DataGap):
    """Every device given (of one enterprise; an enterprise id stands for all its devices)
    sends nothing: a site or network outage. CONTRACT section 8 wants one ``data_gap``
    alert naming all of them, so the label carries ``single_alert``."""

    kind: ClassVar[str] = "site_outage"
    rule: ClassVar[str] = "data_gap"
    target: ClassVar[Target] = "any"

    def label(self) -> dict[str, Any]:
        return {**Injection.label(self), "single_alert": True}


@dataclass(frozen=True, slots=True)
class WaterExceedance(Injection):
    """``metric`` (cod, nh3n, tp or tn) of a water outlet at ``factor`` times its daily
    limit, one value per measurement cycle (+-5%). A whole local day of it is a daily-mean
    exceedance; less of a day may not be."""

    metric: str = "cod"
    factor: float = 1.5
    kind: ClassVar[str] = "water_exceedance"
    rule: ClassVar[str] = "emission_exceedance"
    target: ClassVar[Target] = "water"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_fraction(self.kind, "factor", self.factor, 1.1, 20.0)


@dataclass(frozen=True, slots=True)
class PhOutOfRange(Injection):
    """pH of a water outlet at ``level`` (+-0.05), outside the outlet's ``ph_range``."""

    level: float = 5.2
    kind: ClassVar[str] = "ph_out_of_range"
    rule: ClassVar[str] = "emission_exceedance"
    target: ClassVar[Target] = "water"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_fraction(self.kind, "level", self.level, 0.5, 13.5)


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


@dataclass(frozen=True, slots=True)
class StandbyOff(Injection):
    """Production runs; the meter, an alternative of a treatment stage, is off (0-2 kW)
    while a partner of its stage runs (from 5 min before to 5 min after the window): the
    stage runs, so this is no ``treatment_off``."""

    kind: ClassVar[str] = "standby_off"
    rule: ClassVar[str] = "treatment_off"
    positive: ClassVar[bool] = False
    target: ClassVar[Target] = "treatment"


@dataclass(frozen=True, slots=True)
class WaterSpike(Injection):
    """``metric`` of a water outlet at ``factor`` times its daily limit for at most an hour:
    the day's mean stays under the limit and the metric has no hourly limit it would
    cross, so no ``emission_exceedance``."""

    metric: str = "nh3n"
    factor: float = 3.0
    kind: ClassVar[str] = "water_spike"
    rule: ClassVar[str] = "emission_exceedance"
    positive: ClassVar[bool] = False
    target: ClassVar[Target] = "water"

    def __post_init__(self) -> None:
        Injection.__post_init__(self)
        _check_fraction(self.kind, "factor", self.factor, 1.2, 8.0)
        if self.end - self.start > timedelta(minutes=60):
            raise InjectionError(f"{self.kind}: a spike lasts an hour at most, "
                                 f"not {self.duration_min:g} min")


INJECTION_TYPES: dict[str, type[Injection]] = {
    cls.kind: cls
    for cls in (TreatmentOutage, StageOutage, LateTreatmentStart, EarlyTreatmentStop,
                TreatmentUnderload, Exceedance, Flatline, O2Dilution, Bypass, Marking, Pinned,
                DataGap, SiteOutage, WaterExceedance, PhOutOfRange, AirHotspot,
                EmergencyProduction, PlannedShutdown, TreatmentBlip, ThresholdNoise, StoppedZero,
                StandbyOff, WaterSpike)
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
    if want == "water" and dev.kind != "water":
        raise InjectionError(f"{where}: needs a water outlet, not a {dev.kind} device")
    if want == "air" and dev.kind != "air":
        raise InjectionError(f"{where}: needs an air station, not a {dev.kind} device")
    if isinstance(inj, TreatmentOutage | TreatmentBlip | ThresholdNoise | StageOutage
                  | LateTreatmentStart | EarlyTreatmentStop) and not dev.treated_by:
        raise InjectionError(f"{where}: the production equipment has no treated_by units")
    if isinstance(inj, StageOutage | LateTreatmentStart | EarlyTreatmentStop):
        _check_stage_target(inj, dev, where, registry)
    if isinstance(inj, StandbyOff) and not any(
            len(stage) > 1 and did in stage for p in registry.producers_treated_by(did) for stage in p.stages):
        raise InjectionError(f"{where}: the meter is no alternative of a treatment stage "
                             "(a stage with two or more meters)")
    if isinstance(inj, WaterExceedance | WaterSpike | PhOutOfRange):
        _check_water(inj, dev, where)
        return
    metric = getattr(inj, "metric", None)
    if metric is not None:
        allowed = (*POLLUTANTS, "o2") if isinstance(inj, Flatline) else POLLUTANTS
        if metric not in allowed:
            raise InjectionError(f"{where}: metric {metric!r} is not one of {', '.join(allowed)}")
        if isinstance(inj, Exceedance | Pinned | Marking) and metric not in dev.limits:
            have = ", ".join(sorted(dev.limits)) or "none"
            raise InjectionError(f"{where}: no limit for {metric!r} in the registry "
                                 f"(limits: {have})")


def _check_stage_target(inj: StageOutage | LateTreatmentStart | EarlyTreatmentStop, dev: Device,
                        where: str, registry: Registry) -> None:
    stages = dev.stages or tuple((t,) for t in dev.treated_by)
    if inj.stage >= len(stages):
        raise InjectionError(f"{where}: stage {inj.stage} does not exist (the production equipment "
                             f"has {len(stages)} treatment stage(s), 0-{len(stages) - 1})")
    if isinstance(inj, StageOutage):
        return
    # Holding a stage off must not leave another running producer untreated.
    shared = sorted({p.id for m in stages[inj.stage] for p in registry.producers_treated_by(m)} - {dev.id})
    if shared:
        raise InjectionError(f"{where}: stage {inj.stage} also treats {', '.join(shared)}")


def _check_water(inj: WaterExceedance | WaterSpike | PhOutOfRange, dev: Device, where: str) -> None:
    if isinstance(inj, PhOutOfRange):
        low, high = dev.ph_range
        if low <= inj.level <= high:
            raise InjectionError(f"{where}: pH {inj.level:g} is inside the outlet's range "
                                 f"[{low:g}, {high:g}]")
        return
    if inj.metric not in WATER_POLLUTANTS:
        raise InjectionError(f"{where}: metric {inj.metric!r} is not one of "
                             f"{', '.join(WATER_POLLUTANTS)}")
    if inj.metric not in dev.limits:
        have = ", ".join(sorted(dev.limits)) or "none"
        raise InjectionError(f"{where}: no daily limit for {inj.metric!r} in the registry "
                             f"(limits: {have})")
    hourly = dev.limits_hourly.get(inj.metric)
    if isinstance(inj, WaterSpike) and hourly is not None and inj.factor * dev.limits[inj.metric] > hourly:
        raise InjectionError(f"{where}: {inj.factor:g} x the daily limit of {inj.metric} crosses its "
                             f"hourly limit {hourly:g}: that is an exceedance, not a hard negative")


def _expand_sites(inj: Injection, registry: Registry) -> Injection:
    """A :class:`SiteOutage` naming an enterprise id names every device of it."""
    if not isinstance(inj, SiteOutage):
        return inj
    ids: list[str] = []
    for did in inj.device_ids:
        ent = registry.enterprises.get(did)
        ids.extend(ent.device_ids if ent is not None else (did,))
    ids = list(dict.fromkeys(ids))
    owners = {registry.devices[d].enterprise_id for d in ids if d in registry.devices}
    if len(owners) > 1 or None in owners:
        raise InjectionError(f"{inj.kind}: the devices must belong to one enterprise")
    return replace(inj, device_ids=tuple(ids)) if tuple(ids) != inj.device_ids else inj


def validate_injections(registry: Registry,
                        injections: Sequence[Injection]) -> tuple[Injection, ...]:
    """Check every injection's targets against ``registry``; raise :class:`InjectionError`.

    Returns the injections, a :class:`SiteOutage` naming an enterprise with its devices.
    """
    out = []
    for inj in injections:
        if not isinstance(inj, Injection):
            raise InjectionError(f"not an injection: {inj!r}")
        inj = _expand_sites(inj, registry)
        for did in inj.device_ids:
            _check_target(inj, registry.devices.get(did), did, registry)
        out.append(inj)
    return tuple(out)
