"""Labelled evaluation scenarios: a synthetic registry and a seeded plan of events.

:func:`synthetic_registry` clones the enterprise patterns of a template registry
(``config/registry.example.yaml``) ``n`` times with valid unified social credit
codes and unique device ids, and lays a grid of air stations 2 km apart.

:func:`plan_scenario` places, on one timeline per enterprise (and one for the air
grid), the simulator's injections for every rule of the catalog and hard
negatives around them, each with an :class:`EvalLabel` saying which rule it
probes and whether that rule should fire:

- violations of every rule (positives);
- hard negatives: production idling just under its running threshold with the
  treatment off, treatment blips under the minimum duration, planned shutdowns of
  production and treatment, an emergency order that is complied with, CEMS values
  at exactly zero while production is stopped, M/C/D marking covered by declared
  maintenance, and every duration rule's condition held for less than its minimum;
- late, shuffled delivery of an enterprise's data (labelled as a ``data_gap``
  negative: a device replaying a backlog is not silent).

Events on one enterprise (or one air station) are at least ``margin_min`` apart
and start after the
warm-up days (the baselines of ``bypass_suspected`` and ``treatment_underload``
learn from a day of history), so each label has one cause.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import yaml

from ecowarn.config.registry import Device, Registry, parse_registry, uscc_check_char
from ecowarn.simulator import (
    AirHotspot,
    Bypass,
    DataGap,
    EmergencyProduction,
    Exceedance,
    Flatline,
    Injection,
    Marking,
    O2Dilution,
    Pinned,
    PlannedShutdown,
    StoppedZero,
    ThresholdNoise,
    TreatmentBlip,
    TreatmentOutage,
    TreatmentUnderload,
)

__all__ = [
    "NEGATIVE_KINDS",
    "POSITIVE_KINDS",
    "Declaration",
    "EvalLabel",
    "LateDelivery",
    "Order",
    "Scenario",
    "ScenarioSize",
    "plan_scenario",
    "synthetic_registry",
]

STATION_SPACING_KM = 2.0
_GRID_ORIGIN = (38.0428, 114.5149)


# --- what a scenario holds --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvalLabel:
    """What one event should do to one rule: fire (``positive``) or stay silent."""

    id: int
    kind: str
    rule: str
    positive: bool
    device_ids: tuple[str, ...]
    start: datetime
    end: datetime
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "rule": self.rule, "positive": self.positive,
                "device_ids": list(self.device_ids), "start": self.start.isoformat(),
                "end": self.end.isoformat(), "note": self.note}


@dataclass(frozen=True, slots=True)
class Declaration:
    """Declared maintenance of one device (``POST /api/v1/maintenance``)."""

    device_id: str
    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Order:
    """An emergency shutdown order (``POST /api/v1/emergency-orders``)."""

    enterprise_ids: tuple[str, ...]
    start: datetime
    end: datetime
    measure: str = "shutdown"


@dataclass(frozen=True, slots=True)
class LateDelivery:
    """Readings of ``device_ids`` in ``[start, end)`` held back, then published shuffled
    once the rest of the stream has reached ``release_at`` (event time)."""

    device_ids: tuple[str, ...]
    start: datetime
    end: datetime
    release_at: datetime


@dataclass(frozen=True)
class Scenario:
    registry: Registry
    start: datetime
    minutes: int
    seed: int
    injections: tuple[Injection, ...] = ()
    labels: tuple[EvalLabel, ...] = ()
    maintenance: tuple[Declaration, ...] = ()
    orders: tuple[Order, ...] = ()
    late: tuple[LateDelivery, ...] = ()
    shortfalls: tuple[str, ...] = field(default=())

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    @property
    def device_days(self) -> float:
        return len(self.registry.devices) * self.minutes / 1440.0


@dataclass(frozen=True, slots=True)
class ScenarioSize:
    """How big a labelled scenario is: violations per rule, hard negatives per kind."""

    days: int = 4
    warmup_days: int = 1
    per_rule: int = 12
    negatives_per_kind: int = 6
    late_deliveries: int = 4
    margin_min: int = 120

    def __post_init__(self) -> None:
        if self.days < 1 or not 0 <= self.warmup_days < self.days:
            raise ValueError("need days >= 1 and 0 <= warmup_days < days")
        if self.per_rule < 0 or self.negatives_per_kind < 0 or self.late_deliveries < 0:
            raise ValueError("event counts must not be negative")


# --- the synthetic registry ----------------------------------------------------------------


def _uscc(region: str, index: int) -> str:
    first17 = f"91{region}EW{index:07d}"
    return first17 + uscc_check_char(first17)


def _device_yaml(dev: Device, rename: Callable[[str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rename(dev.id), "kind": dev.kind}
    if dev.role:
        out["role"] = dev.role
    if dev.equipment:
        out["equipment"] = dev.equipment
    for key in ("rated_kw", "running_kw", "password", "outlet", "ref_o2"):
        value = getattr(dev, key)
        if value is not None:
            out[key] = value
    if dev.treated_by:
        out["treated_by"] = [rename(t) for t in dev.treated_by]
    if dev.limits:
        out["limits"] = dict(dev.limits)
    if dev.serves:
        out["serves"] = [rename(s) for s in dev.serves]
    return out


def synthetic_registry(template: Registry, enterprises: int, stations: int) -> Registry:
    """``enterprises`` clones of the template's enterprises (round robin) and a station grid.

    Enterprise ids are valid unified social credit codes; device ids carry the
    clone's number (``E007-PWR-KILN-1``; CEMS MNs stay 14 digits). Stations sit on a
    square grid ``STATION_SPACING_KM`` apart, so each has neighbours within 5 km.
    """
    if enterprises < 0 or stations < 0:
        raise ValueError("counts must not be negative")
    patterns = [e for e in template.enterprises.values() if e.device_ids]
    if enterprises and not patterns:
        raise ValueError(f"template registry {template.source} has no enterprise with devices")
    ents: list[dict[str, Any]] = []
    for i in range(enterprises):
        pat = patterns[i % len(patterns)]
        devs = [template.devices[d] for d in pat.device_ids]
        cems_no = iter(range(1, 100))
        mapping: dict[str, str] = {}
        for dev in devs:
            if dev.kind == "cems":
                mapping[dev.id] = f"{pat.region}{i:06d}{next(cems_no):02d}"
            else:
                mapping[dev.id] = f"E{i:03d}-{dev.id}"
        ents.append({
            "id": _uscc(pat.region, i),
            "name": f"{pat.name} #{i:03d}",
            "region": pat.region,
            "industry": pat.industry,
            "devices": [_device_yaml(d, mapping.__getitem__) for d in devs],
        })
    cols = max(1, math.ceil(math.sqrt(stations)))
    lat0, lon0 = _GRID_ORIGIN
    dlat = STATION_SPACING_KM / 111.32
    dlon = STATION_SPACING_KM / (111.32 * math.cos(math.radians(lat0)))
    grid = [{"id": f"AQ-{k:04d}", "name": f"grid {k // cols}-{k % cols}",
             "lat": round(lat0 + (k // cols) * dlat, 6), "lon": round(lon0 + (k % cols) * dlon, 6)}
            for k in range(stations)]
    text = yaml.safe_dump({"enterprises": ents, "stations": grid}, sort_keys=False, allow_unicode=True)
    return parse_registry(text, f"<synthetic: {enterprises} enterprises, {stations} stations>")


# --- planning ---------------------------------------------------------------------------------


class _Timeline:
    """Busy intervals (minutes from the scenario start) of one enterprise or of the air grid."""

    def __init__(self) -> None:
        self.busy: list[tuple[int, int]] = []

    def free(self, s: int, e: int, margin: int) -> bool:
        return all(e + margin <= bs or s >= be + margin for bs, be in self.busy)

    def take(self, s: int, e: int) -> None:
        self.busy.append((s, e))


@dataclass
class _Plan:
    start: datetime
    rng: np.random.Generator
    injections: list[Injection] = field(default_factory=list)
    labels: list[EvalLabel] = field(default_factory=list)
    maintenance: list[Declaration] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)

    def at(self, minute: int) -> datetime:
        return self.start + timedelta(minutes=minute)

    def label(self, kind: str, rule: str, positive: bool, device_ids: Sequence[str],
              s: int, e: int, note: str = "") -> None:
        self.labels.append(EvalLabel(len(self.labels) + 1, kind, rule, positive,
                                     tuple(device_ids), self.at(s), self.at(e), note))

    def pick(self, items: Sequence[Any]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))


@dataclass(frozen=True, slots=True)
class _Kind:
    """One kind of event: its rule, sign, duration range (min) and how to lay it down."""

    name: str
    rule: str
    positive: bool
    dur: tuple[int, int]
    target: str  # "enterprise" | "air" | "any" (an enterprise device or a station)
    build: Callable[[_Plan, Registry, str, int, int], bool]
    note: str = ""
    within_hour: bool = False


def _treated(reg: Registry, eid: str) -> list[Device]:
    return [reg.devices[d] for d in reg.enterprises[eid].device_ids
            if reg.devices[d].role == "production" and reg.devices[d].treated_by]


def _producers(reg: Registry, eid: str) -> list[Device]:
    return [reg.devices[d] for d in reg.enterprises[eid].device_ids
            if reg.devices[d].role == "production"]


def _treatments(reg: Registry, eid: str) -> list[Device]:
    return [reg.devices[d] for d in reg.enterprises[eid].device_ids
            if reg.devices[d].role == "treatment" and reg.producers_treated_by(d)]


def _cems(reg: Registry, eid: str) -> list[Device]:
    return [reg.devices[d] for d in reg.enterprises[eid].device_ids
            if reg.devices[d].kind == "cems" and reg.devices[d].serves]


def _one(ctor: Callable[..., Injection], pool: Callable[[Registry, str], list[Device]],
         **fixed: Any) -> Callable[[_Plan, Registry, str, int, int], bool]:
    """A builder injecting ``ctor`` on one device of ``pool``, labelled as the kind says."""

    def build(p: _Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
        devs = pool(reg, eid)
        if not devs:
            return False
        dev = p.pick(devs)
        kw = {k: (v(p, dev) if callable(v) else v) for k, v in fixed.items()}
        p.injections.append(ctor((dev.id,), p.at(s), p.at(e), **kw))
        return True

    return build


def _limit_metric(p: _Plan, dev: Device) -> str:
    return str(p.pick(sorted(dev.limits)))


def _build_emergency(positive: bool) -> Callable[[_Plan, Registry, str, int, int], bool]:
    def build(p: _Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
        prods = _producers(reg, eid)
        if not prods:
            return False
        if positive:
            # Every production unit of the enterprise runs through the order: one label each.
            p.orders.append(Order((eid,), p.at(s), p.at(e)))
            for dev in prods:
                p.injections.append(EmergencyProduction((dev.id,), p.at(s), p.at(e)))
            return True
        # Complied with: production stops half an hour before the order and restarts after it.
        p.orders.append(Order((eid,), p.at(s + 30), p.at(e - 30)))
        for dev in prods:
            p.injections.append(PlannedShutdown((dev.id,), p.at(s), p.at(e)))
        return True

    return build


def _build_declared_marking(p: _Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
    devs = _cems(reg, eid)
    if not devs:
        return False
    dev = p.pick(devs)
    p.injections.append(Marking((dev.id,), p.at(s), p.at(e), metric=_limit_metric(p, dev),
                                flag=str(p.pick(["M", "C", "D"])), factor=p.uniform(1.3, 2.0)))
    p.maintenance.append(Declaration(dev.id, p.at(s - 10), p.at(e + 10),
                                     "scheduled calibration and probe cleaning"))
    return True


def _build_gap(p: _Plan, reg: Registry, key: str, s: int, e: int) -> bool:
    ids = [key] if key in reg.stations else list(reg.enterprises[key].device_ids)
    if not ids:
        return False
    p.injections.append(DataGap((str(p.pick(ids)),), p.at(s), p.at(e)))
    return True


def _station(reg: Registry, key: str) -> list[Device]:
    return [reg.devices[key]] if key in reg.stations else []


def _flag(p: _Plan, dev: Device) -> str:
    return str(p.pick(["M", "C", "D"]))


def _kinds() -> list[_Kind]:
    cems, treated, treatments = _cems, _treated, _treatments
    return [
        # --- violations ---
        _Kind("treatment_outage", "treatment_off", True, (15, 60), "enterprise",
              _one(TreatmentOutage, treated)),
        _Kind("treatment_underload", "treatment_underload", True, (45, 120), "enterprise",
              _one(TreatmentUnderload, treatments, fraction=lambda p, d: p.uniform(0.1, 0.25))),
        _Kind("emergency_production", "emergency_noncompliance", True, (90, 240), "enterprise",
              _build_emergency(True)),
        _Kind("exceedance", "emission_exceedance", True, (120, 300), "enterprise",
              _one(Exceedance, cems, metric=_limit_metric, factor=lambda p, d: p.uniform(1.3, 2.5))),
        _Kind("flatline", "flatline", True, (150, 300), "enterprise",
              _one(Flatline, cems, metric=lambda p, d: str(p.pick(["so2", "nox", "pm", "o2"])))),
        _Kind("o2_dilution", "o2_dilution", True, (80, 180), "enterprise", _one(O2Dilution, cems)),
        _Kind("bypass", "bypass_suspected", True, (80, 180), "enterprise", _one(Bypass, cems)),
        _Kind("marking", "undeclared_marking", True, (80, 180), "enterprise",
              _one(Marking, cems, metric=_limit_metric, flag=_flag,
                   factor=lambda p, d: p.uniform(1.3, 2.0))),
        _Kind("pinned", "pinned_below_limit", True, (480, 720), "enterprise",
              _one(Pinned, cems, metric=_limit_metric, level=lambda p, d: p.uniform(0.93, 0.97))),
        _Kind("data_gap", "data_gap", True, (45, 180), "any", _build_gap),
        _Kind("air_hotspot", "air_hotspot", True, (45, 120), "air",
              _one(AirHotspot, _station, delta=lambda p, d: p.uniform(80.0, 200.0))),
        # --- hard negatives ---
        _Kind("threshold_noise", "treatment_off", False, (30, 90), "enterprise",
              _one(ThresholdNoise, treated), "production idles at 82-97% of its running threshold, "
              "treatment off"),
        _Kind("treatment_blip", "treatment_off", False, (3, 8), "enterprise",
              _one(TreatmentBlip, treated), "treatment off for less than the 10-min minimum"),
        _Kind("planned_shutdown", "treatment_off", False, (120, 360), "enterprise",
              _one(PlannedShutdown, treated), "production stops, treatment stops after it"),
        _Kind("order_complied", "emergency_noncompliance", False, (150, 300), "enterprise",
              _build_emergency(False), "shutdown order; production stopped 30 min before it"),
        _Kind("stopped_zero", "flatline", False, (180, 360), "enterprise",
              _one(StoppedZero, cems), "production stopped; pollutants and flow read exactly 0"),
        _Kind("declared_maintenance", "undeclared_marking", False, (80, 180), "enterprise",
              _build_declared_marking, "M/C/D flags covered by declared maintenance"),
        _Kind("short_underload", "treatment_underload", False, (10, 20), "enterprise",
              _one(TreatmentUnderload, treatments), "under the 30-min minimum"),
        _Kind("short_exceedance", "emission_exceedance", False, (10, 15), "enterprise",
              _one(Exceedance, cems, metric=_limit_metric, factor=1.2),
              "1.2x the limit for 10-15 min inside one clock hour", within_hour=True),
        _Kind("short_flatline", "flatline", False, (60, 100), "enterprise",
              _one(Flatline, cems, metric=lambda p, d: str(p.pick(["so2", "nox", "pm", "o2"]))),
              "under the 2-h minimum"),
        _Kind("short_o2_dilution", "o2_dilution", False, (25, 45), "enterprise",
              _one(O2Dilution, cems), "under the 1-h minimum"),
        _Kind("short_bypass", "bypass_suspected", False, (25, 45), "enterprise",
              _one(Bypass, cems), "under the 1-h minimum"),
        _Kind("short_marking", "undeclared_marking", False, (20, 45), "enterprise",
              _one(Marking, cems, metric=_limit_metric, flag=_flag, factor=1.5),
              "under the 60-min minimum"),
        _Kind("short_pinned", "pinned_below_limit", False, (180, 240), "enterprise",
              _one(Pinned, cems, metric=_limit_metric, level=0.95), "under the 6-h minimum"),
        _Kind("short_gap", "data_gap", False, (10, 20), "any", _build_gap, "under the 30-min minimum"),
        _Kind("short_hotspot", "air_hotspot", False, (10, 20), "air",
              _one(AirHotspot, _station, delta=120.0), "under the 30-min minimum"),
    ]


POSITIVE_KINDS = tuple(k.name for k in _kinds() if k.positive)
NEGATIVE_KINDS = (*(k.name for k in _kinds() if not k.positive), "late_delivery")


def _label_new(p: _Plan, kind: _Kind, first_inj: int, s: int, e: int) -> None:
    """Labels for the injections the builder just added (one per injection and device)."""
    new = p.injections[first_inj:]
    if kind.name == "order_complied":
        devs = [d for inj in new for d in inj.device_ids]
        order = p.orders[-1]
        p.label(kind.name, kind.rule, False, devs, s + 30, e - 30, kind.note)
        assert order.start == p.at(s + 30)
        return
    for inj in new:
        note = kind.note
        if isinstance(inj, Exceedance | Marking | Pinned | Flatline):
            note = f"{inj.metric}; {note}" if note else inj.metric
        for did in inj.device_ids:
            p.label(kind.name, kind.rule, kind.positive, (did,), s, e, note)


def plan_scenario(registry: Registry, start: datetime, size: ScenarioSize, seed: int,
                  progress: Callable[[str], None] | None = None) -> Scenario:
    """Place ``size`` events on ``registry`` from ``start``; see the module docstring."""
    if start.utcoffset() is None:
        raise ValueError("start must be an aware datetime")
    minutes = size.days * 1440
    first = size.warmup_days * 1440
    last = minutes - 120  # leave two hours after the last event for episodes to close
    rng = np.random.default_rng([seed, 0xE7A1])
    plan = _Plan(start=start, rng=rng)
    timelines = {key: _Timeline() for key in (*registry.enterprises, *registry.stations)}
    ents = sorted(registry.enterprises)
    stations = sorted(registry.stations)
    shortfalls: list[str] = []
    kinds = _kinds()
    # Long events first: they are the hardest to fit.
    order = sorted(kinds, key=lambda k: -k.dur[1])
    for kind in order:
        want = size.per_rule if kind.positive else size.negatives_per_kind
        placed = 0
        for n in range(want):
            if _place(plan, kind, registry, timelines, ents, stations, first, last,
                      size.margin_min, n):
                placed += 1
        if placed < want:
            shortfalls.append(f"{kind.name}: placed {placed} of {want} (no room; use more "
                              "enterprises or days)")
        if progress is not None:
            progress(f"planned {placed} x {kind.name}")
    late = _plan_late(plan, registry, ents, size, first, last)
    for item in late:
        plan.label("late_delivery", "data_gap", False, item.device_ids,
                   int((item.start - start).total_seconds() // 60),
                   int((item.end - start).total_seconds() // 60),
                   f"published {int((item.release_at - item.end).total_seconds() // 60)} min late, "
                   "shuffled")
    labels = sorted(plan.labels, key=lambda lb: (lb.start, lb.id))
    return Scenario(registry=registry, start=start, minutes=minutes, seed=seed,
                    injections=tuple(plan.injections),
                    labels=tuple(EvalLabel(i + 1, lb.kind, lb.rule, lb.positive, lb.device_ids,
                                           lb.start, lb.end, lb.note)
                                 for i, lb in enumerate(labels)),
                    maintenance=tuple(plan.maintenance), orders=tuple(plan.orders),
                    late=tuple(late), shortfalls=tuple(shortfalls))


def _place(plan: _Plan, kind: _Kind, registry: Registry, timelines: dict[str, _Timeline],
           ents: list[str], stations: list[str], first: int, last: int, margin: int,
           n: int) -> bool:
    """Put one event of ``kind`` on the first enterprise (or station) with room for it."""
    rng = plan.rng
    dur = int(rng.integers(kind.dur[0], kind.dur[1] + 1))
    if kind.target == "air" or (kind.target == "any" and stations and n % 3 == 2):
        # A hotspot needs neighbours to compare with (min_neighbours 2 by default).
        pool = stations if len(stations) >= 3 or kind.target == "any" else []
    else:
        pool = ents
    offset = int(rng.integers(len(pool))) if pool else 0
    for key in pool[offset:] + pool[:offset]:
        tl = timelines[key]
        for _ in range(60):
            if last - dur <= first:
                return False
            s = int(rng.integers(first, last - dur))
            if kind.within_hour:
                s = (s // 60) * 60 + int(rng.integers(5, max(6, 55 - dur)))
            e = s + dur
            if not tl.free(s, e, margin):
                continue
            mark = len(plan.injections)
            if not kind.build(plan, registry, key, s, e):
                break
            tl.take(s, e)
            _label_new(plan, kind, mark, s, e)
            return True
    return False


def _plan_late(plan: _Plan, registry: Registry, ents: list[str], size: ScenarioSize,
               first: int, last: int) -> list[LateDelivery]:
    out: list[LateDelivery] = []
    if not ents:
        return out
    rng = plan.rng
    chosen = rng.permutation(len(ents))[:size.late_deliveries]
    for k in chosen.tolist():
        eid = ents[k]
        dur = int(rng.integers(120, 241))
        s = int(rng.integers(first, max(first + 1, last - dur - 240)))
        delay = int(rng.integers(60, 181))
        out.append(LateDelivery(tuple(registry.enterprises[eid].device_ids), plan.at(s),
                                plan.at(s + dur), plan.at(s + dur + delay)))
    return out
