"""Labelled evaluation scenarios: a synthetic registry and a seeded plan of events.

:func:`synthetic_registry` clones the enterprise patterns of a template registry
(``config/registry.example.yaml``) ``n`` times with valid unified social credit
codes and unique device ids, and lays a grid of air stations 2 km apart.

:func:`plan_scenario` places, on one timeline per enterprise (one per air station and
one per water outlet), the simulator's injections for every rule of the catalog and
hard negatives around them (:mod:`ecowarn.evaluation._kinds`), each with an
:class:`EvalLabel` saying which rule it probes and whether that rule should fire:

- violations of every rule (positives), among them the 1.1 ones: one treatment stage
  off, a stage starting late or stopping early, one alternative of a duty/standby stage
  underloaded while the others idle, a water outlet's day above its daily limit, an hour
  above its hourly limit, pH out of range, a water analyser repeating one value for
  longer than the 12-h minimum, a whole site silent (one ``data_gap`` alert expected);
- hard negatives: production idling just under its running threshold with the
  treatment off, treatment blips under the minimum duration, planned shutdowns of
  production and treatment, a standby unit off while its partner runs, both
  alternatives of a stage at a quarter of their load (the stage at half), a stage a
  minute or two late, an emergency order that is complied with, CEMS values at exactly
  zero while production is stopped, M/C/D marking and a silent device covered by
  maintenance declared in advance, an hour's spike of a water metric that leaves the day
  compliant, a stable water analyser that never repeats a value, and every duration
  rule's condition held for less than its minimum;
- late, shuffled delivery of an enterprise's data (labelled as a ``data_gap``
  negative: a device replaying a backlog is not silent).

Events on one timeline are at least ``margin_min`` apart and start after the warm-up
days (the baselines of ``bypass_suspected`` and ``treatment_underload`` learn from a day
of history), so each label has one cause. A water outlet's events (a whole day for a
daily-mean exceedance) have a timeline of their own, which events silencing the
enterprise's devices must also find free; a frozen water analyser needs its enterprise's
timeline free as well (production must run through it). Events the simulator has no
injection for are edits of the simulated series (:mod:`ecowarn.evaluation._edits`).
Violations are placed before hard negatives, the longest first: they are the hardest to fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import yaml

from ecowarn.config.credit_code import make_code
from ecowarn.config.registry import Device, Registry, parse_registry
from ecowarn.evaluation._edits import SeriesEdit
from ecowarn.evaluation._kinds import Kind, Plan, kinds, label_new, water_outlets
from ecowarn.evaluation._labels import Declaration, EvalLabel, LateDelivery, Order
from ecowarn.simulator import CST, Injection

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


@dataclass(frozen=True)
class Scenario:
    registry: Registry
    start: datetime
    minutes: int
    seed: int
    injections: tuple[Injection, ...] = ()
    edits: tuple[SeriesEdit, ...] = ()
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

    days: int = 5
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


# Fictional trade names (字号) of the clones: one character of each row per digit of the
# clone's number in base 16, so every clone has its own name.
_TRADE_ROWS = ("恒瑞泰丰润兴盛宏源隆昌达鑫华泽安", "川岳峰林泉晟祥宇诚信和远越嘉锦辰")
_PLACEHOLDER = "某某"  # the sample registry's stand-in for a trade name


def _trade_name(index: int) -> str:
    digits: list[int] = []
    n = index
    while n or len(digits) < 2:
        n, d = divmod(n, 16)
        digits.append(d)
    return "".join(_TRADE_ROWS[k % 2][d] for k, d in enumerate(reversed(digits)))


def _clone_name(name: str, index: int) -> str:
    """The template's name with a trade name of the clone's own in place of 某某."""
    if _PLACEHOLDER in name:
        return name.replace(_PLACEHOLDER, _trade_name(index), 1)
    return f"{name} #{index:03d}"


def _device_yaml(dev: Device, rename: Callable[[str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rename(dev.id), "kind": dev.kind}
    if dev.role:
        out["role"] = dev.role
    if dev.equipment:
        out["equipment"] = dev.equipment
    for key in ("rated_kw", "running_kw", "password", "outlet", "ref_o2", "design_flow"):
        value = getattr(dev, key)
        if value is not None:
            out[key] = value
    if dev.treated_by:  # stage by stage, alternatives as lists
        stages = dev.stages or tuple((t,) for t in dev.treated_by)
        out["treated_by"] = [rename(st[0]) if len(st) == 1 else [rename(m) for m in st] for st in stages]
    if dev.limits:
        out["limits"] = dict(dev.limits)
    if dev.kind == "water":
        if dev.limits_hourly:
            out["limits_hourly"] = dict(dev.limits_hourly)
        out["ph_range"] = list(dev.ph_range)
    if dev.serves:
        out["serves"] = [rename(s) for s in dev.serves]
    if dev.kind == "power" and dev.mn is not None:  # a terminal of this clone's own
        out["mn"] = rename(dev.mn)
        out["codes"] = dict(dev.codes)
    return out


def synthetic_registry(template: Registry, enterprises: int, stations: int) -> Registry:
    """``enterprises`` clones of the template's enterprises (round robin) and a station grid.

    Enterprise ids are valid unified social credit codes of the template's region
    (:func:`~ecowarn.config.credit_code.make_code`), names put a trade name of the clone's
    own in place of the template's 某某 (others get `` #007``); device ids carry the
    clone's number (``E007-PWR-KILN-1``; CEMS and water MNs stay 14 digits). Treatment
    stages, water limits and HJ 212 terminals are cloned too. Stations sit on a square grid
    ``STATION_SPACING_KM`` apart, so each has neighbours within 5 km.
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
            if dev.kind in ("cems", "water"):
                mapping[dev.id] = f"{pat.region}{i:06d}{next(cems_no):02d}"
            else:
                mapping[dev.id] = f"E{i:03d}-{dev.id}"
            if dev.kind == "power" and dev.mn is not None:
                mapping.setdefault(dev.mn, f"{dev.mn}-{i:03d}")
        ents.append({
            "id": make_code(pat.region, i),
            "name": _clone_name(pat.name, i),
            "region": pat.region,
            "industry": pat.industry,
            "devices": [_device_yaml(d, mapping.__getitem__) for d in devs],
        })
    cols = max(1, math.ceil(math.sqrt(stations)))
    lat0, lon0 = _GRID_ORIGIN
    dlat = STATION_SPACING_KM / 111.32
    dlon = STATION_SPACING_KM / (111.32 * math.cos(math.radians(lat0)))
    grid = [{"id": f"AQ-{k:04d}", "name": f"网格{k // cols + 1}-{k % cols + 1}",
             "lat": round(lat0 + (k // cols) * dlat, 6), "lon": round(lon0 + (k % cols) * dlon, 6)}
            for k in range(stations)]
    text = yaml.safe_dump({"enterprises": ents, "stations": grid}, sort_keys=False, allow_unicode=True)
    return parse_registry(text, f"<synthetic: {enterprises} enterprises, {stations} stations>")


# --- planning ---------------------------------------------------------------------------------


class _Timeline:
    """Busy intervals (minutes from the scenario start) of one enterprise, station or water outlet."""

    def __init__(self) -> None:
        self.busy: list[tuple[int, int]] = []

    def free(self, s: int, e: int, margin: int) -> bool:
        return all(e + margin <= bs or s >= be + margin for bs, be in self.busy)

    def take(self, s: int, e: int) -> None:
        self.busy.append((s, e))


POSITIVE_KINDS = tuple(k.name for k in kinds() if k.positive)
NEGATIVE_KINDS = (*(k.name for k in kinds() if not k.positive), "late_delivery")


@dataclass(frozen=True)
class _Pools:
    """Where events go: enterprises, stations, water outlets (sorted ids)."""

    ents: list[str]
    stations: list[str]
    waters: list[str]


def plan_scenario(registry: Registry, start: datetime, size: ScenarioSize, seed: int,
                  progress: Callable[[str], None] | None = None) -> Scenario:
    """Place ``size`` events on ``registry`` from ``start``; see the module docstring."""
    if start.utcoffset() is None:
        raise ValueError("start must be an aware datetime")
    minutes = size.days * 1440
    first = size.warmup_days * 1440
    last = minutes - 120  # leave two hours after the last event for episodes to close
    rng = np.random.default_rng([seed, 0xE7A1])
    plan = Plan(start=start, rng=rng)
    pools = _Pools(sorted(registry.enterprises), sorted(registry.stations), water_outlets(registry))
    timelines = {key: _Timeline() for key in (*pools.ents, *pools.stations, *pools.waters)}
    shortfalls: list[str] = []
    # Violations first, then hard negatives; long events first: they are the hardest to fit.
    order = sorted(kinds(), key=lambda k: (not k.positive, -k.dur[1]))
    for kind in order:
        want = math.ceil((size.per_rule if kind.positive else size.negatives_per_kind) * kind.share)
        placed = 0
        for n in range(want):
            if _place(plan, kind, registry, timelines, pools, first, last, size.margin_min, n):
                placed += 1
        if placed < want:
            shortfalls.append(f"{kind.name}: placed {placed} of {want} (no room; use more "
                              "enterprises or days)")
        if progress is not None:
            progress(f"planned {placed} x {kind.name}")
    late = _plan_late(plan, registry, pools.ents, size, first, last)
    for item in late:
        plan.label("late_delivery", "data_gap", False, item.device_ids,
                   int((item.start - start).total_seconds() // 60),
                   int((item.end - start).total_seconds() // 60),
                   f"published {int((item.release_at - item.end).total_seconds() // 60)} min late, "
                   "shuffled")
    labels = sorted(plan.labels, key=lambda lb: (lb.start, lb.id))
    return Scenario(registry=registry, start=start, minutes=minutes, seed=seed,
                    injections=tuple(plan.injections), edits=tuple(plan.edits),
                    labels=tuple(replace(lb, id=i + 1) for i, lb in enumerate(labels)),
                    maintenance=tuple(plan.maintenance), orders=tuple(plan.orders),
                    late=tuple(late), shortfalls=tuple(shortfalls))


def _aligned_start(plan: Plan, kind: Kind, rng: np.random.Generator, dur: int, first: int,
                   last: int) -> int | None:
    """A start in ``[first, last - dur)`` on a multiple of ``kind.align`` local minutes."""
    local = plan.start.astimezone(CST)
    offset = (-(local.hour * 60 + local.minute)) % kind.align  # scenario minute of a boundary
    lo = math.ceil((first - offset) / kind.align)
    hi = math.floor((last - dur - offset) / kind.align)
    if hi < lo:
        return None
    return offset + kind.align * int(rng.integers(lo, hi + 1))


def _place(plan: Plan, kind: Kind, registry: Registry, timelines: dict[str, _Timeline],
           pools: _Pools, first: int, last: int, margin: int, n: int) -> bool:
    """Put one event of ``kind`` on the first enterprise (station, water outlet) with room for it."""
    rng = plan.rng
    dur = int(rng.integers(kind.dur[0], kind.dur[1] + 1))
    if kind.target == "air" or (kind.target == "any" and pools.stations and n % 3 == 2):
        # A hotspot needs neighbours to compare with (min_neighbours 2 by default).
        pool = pools.stations if len(pools.stations) >= 3 or kind.target == "any" else []
    elif kind.target == "water":
        pool = pools.waters
    else:
        pool = pools.ents
    offset = int(rng.integers(len(pool))) if pool else 0
    for key in pool[offset:] + pool[:offset]:
        # An event silencing an enterprise's devices also needs its water outlets free.
        lines = [timelines[key]]
        if kind.silences and key in registry.enterprises:
            lines += [timelines[w] for w in water_outlets(registry, key)]
        owner = registry.devices[key].enterprise_id if key in registry.devices else None
        if kind.site and owner is not None:
            lines.append(timelines[owner])
        for _ in range(60):
            if last - dur <= first:
                return False
            if kind.align:
                aligned = _aligned_start(plan, kind, rng, dur, first, last)
                if aligned is None:
                    return False
                s = aligned
            else:
                s = int(rng.integers(first, last - dur))
            if kind.within_hour:
                s = (s // 60) * 60 + int(rng.integers(5, max(6, 55 - dur)))
            e = s + dur
            if not all(tl.free(s, e, margin) for tl in lines):
                continue
            mark = len(plan.injections)
            if not kind.build(plan, registry, key, s, e):
                break
            for tl in lines:
                tl.take(s, e)
            label_new(plan, registry, kind, mark, s, e)
            return True
    return False


def _plan_late(plan: Plan, registry: Registry, ents: list[str], size: ScenarioSize,
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
