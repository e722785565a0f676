"""Seeded minute data for every device of a registry.

:func:`simulate` computes whole series per device with numpy (pure: no I/O, no
clock; the same arguments give the same output); :func:`generate` walks them
minute by minute as CONTRACT section 1 readings::

    {"ts": "2026-11-23T08:01:00+08:00", "values": {...}, "flags": {...}}

CEMS and water readings flag every metric (``N`` unless an injection marks them); power
and air readings carry no flags (the contract's default is ``N``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

import numpy as np

from ecowarn.config.metrics import Kind
from ecowarn.config.registry import Registry
from ecowarn.simulator import _effects
from ecowarn.simulator._air import plan_air, regional, round_air
from ecowarn.simulator._cems import CemsWork, plan_cems
from ecowarn.simulator._common import CST, BoolArray, FloatArray, Grid, IntArray
from ecowarn.simulator._power import (
    ProductionPlan,
    ProductionProfile,
    TreatmentPlan,
    apply_duty,
    default_profile,
    meter_series,
    plan_production,
    plan_treatment,
)
from ecowarn.simulator._water import WaterWork, plan_water
from ecowarn.simulator.scenario import Injection, injection_labels, validate_injections

__all__ = [
    "DeviceSeries",
    "Minute",
    "Reading",
    "Simulation",
    "generate",
    "iter_minutes",
    "select_enterprises",
    "simulate",
]

log = logging.getLogger(__name__)


class Reading(TypedDict):
    """One reading in the JSON shape of CONTRACT section 1."""

    ts: str
    values: dict[str, float | None]
    flags: dict[str, str]


@dataclass(frozen=True, slots=True)
class Minute:
    """Everything the devices send for the minute starting at ``ts`` (UTC+8)."""

    ts: datetime
    messages: list[tuple[Kind, str, Reading]]


@dataclass(frozen=True, slots=True)
class DeviceSeries:
    """All readings of one device as arrays over the simulated minutes.

    ``values`` and ``flags`` hold what is sent, already rounded; ``present`` is
    False for minutes the device stays silent.
    """

    device_id: str
    kind: Kind
    values: Mapping[str, FloatArray]
    flags: Mapping[str, np.ndarray]
    present: BoolArray


@dataclass(frozen=True)
class Simulation:
    """A simulated span: minute times (epoch seconds) and each device's series."""

    start: datetime
    minutes: int
    seed: int
    times_s: IntArray
    series: Mapping[str, DeviceSeries]
    injections: tuple[Injection, ...] = field(default=())

    def device(self, device_id: str) -> DeviceSeries:
        try:
            return self.series[device_id]
        except KeyError:
            raise KeyError(f"no device {device_id!r} in this simulation") from None

    def index(self, when: datetime) -> int:
        """Index of the minute starting at ``when`` (may fall outside ``[0, minutes)``)."""
        return math.floor((when - self.start).total_seconds() / 60.0)

    def labels(self) -> list[dict[str, Any]]:
        return injection_labels(self.injections)


def select_enterprises(registry: Registry, enterprise_ids: Collection[str], *,
                       stations: bool = False) -> Registry:
    """A registry with only the given enterprises (and the air stations when ``stations``)."""
    unknown = sorted(set(enterprise_ids) - set(registry.enterprises))
    if unknown:
        raise KeyError(f"unknown enterprise ids: {', '.join(unknown)}")
    ents = {k: v for k, v in registry.enterprises.items() if k in enterprise_ids}
    devices = {
        k: d for k, d in registry.devices.items()
        if d.enterprise_id in ents or (stations and k in registry.stations)
    }
    return Registry(enterprises=ents, devices=devices,
                    stations=dict(registry.stations) if stations else {},
                    source=registry.source)


def simulate(registry: Registry, start: datetime, minutes: int, seed: int,
             injections: Sequence[Injection] = (), *,
             profiles: Mapping[str, ProductionProfile] | None = None) -> Simulation:
    """Series for every device of ``registry`` over ``[start, start + minutes)``.

    ``start`` must be aware and on a whole minute; ``seed`` a non-negative int.
    ``profiles`` overrides how given production devices run (default:
    :func:`default_profile`). Raises :class:`InjectionError` for an injection that
    does not fit the registry.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, not {seed!r}")
    grid = Grid.build(start, minutes)
    injs = validate_injections(registry, injections)
    profiles = profiles or {}
    for inj in injs:
        if grid.index(inj.end) <= grid.pad or grid.index(inj.start) >= grid.pad + minutes:
            log.warning("injection %s on %s lies outside the simulated span", inj.kind,
                        ",".join(inj.device_ids))

    prod: dict[str, ProductionPlan] = {}
    for dev in registry.production_devices():
        ent = registry.enterprises.get(dev.enterprise_id or "")
        profile = profiles.get(dev.id) or default_profile(dev, ent.industry if ent else "")
        prod[dev.id] = plan_production(dev, profile, grid, seed)
    _effects.production(injs, registry, prod, grid, seed)

    treat: dict[str, TreatmentPlan] = {}
    for dev in registry.devices.values():
        if dev.kind == "power" and dev.role == "treatment":
            producers = [prod[p.id] for p in registry.producers_treated_by(dev.id)]
            treat[dev.id] = plan_treatment(dev, producers, grid, seed)
    apply_duty((stage for dev in registry.production_devices() for stage in dev.stages), treat, grid,
               seed)
    _effects.treatment(injs, registry, treat, grid, seed)

    power_kw = {k: p.power_kw() for k, p in prod.items()}
    power_kw.update({k: t.power_kw() for k, t in treat.items()})

    values: dict[str, dict[str, FloatArray]] = {}
    cems: dict[str, CemsWork] = {}
    water: dict[str, WaterWork] = {}
    air: dict[str, dict[str, FloatArray]] = {}
    reg = None
    for dev in registry.devices.values():
        if dev.kind == "power":
            values[dev.id] = meter_series(dev, power_kw[dev.id], seed)
        elif dev.kind in ("cems", "water"):
            served = [s for s in dev.serves if s in power_kw]
            kw = np.asarray(np.sum([power_kw[s] for s in served], axis=0) if served
                            else np.zeros(grid.size), dtype=np.float64)
            rated = float(sum(registry.devices[s].rated_kw or 0.0 for s in served))
            if dev.kind == "cems":
                cems[dev.id] = plan_cems(dev, kw, rated, grid, seed)
            else:
                water[dev.id] = plan_water(dev, kw, rated, grid, seed)
        else:
            if reg is None:
                reg = regional(grid, seed)
            air[dev.id] = plan_air(dev, reg, grid, seed)

    _effects.cems_before(injs, cems, grid, seed)
    for cwork in cems.values():
        cwork.finish()
    _effects.cems_after(injs, cems, grid)
    _effects.water(injs, water, grid, seed)
    for wwork in water.values():
        wwork.finish()
    _effects.air(injs, air, grid, seed)
    present = {k: np.ones(grid.size, dtype=bool) for k in registry.devices}
    _effects.presence(injs, present, grid)

    sim = grid.sim
    no_flags: dict[str, np.ndarray] = {}
    series: dict[str, DeviceSeries] = {}
    for dev in registry.devices.values():
        flags = no_flags
        if dev.kind == "power":
            vals = values[dev.id]
        elif dev.kind in ("cems", "water"):
            work: CemsWork | WaterWork = cems[dev.id] if dev.kind == "cems" else water[dev.id]
            vals = work.values
            flags = {m: f[sim].copy() for m, f in work.flags.items()}
        else:
            vals = round_air(air[dev.id])
        series[dev.id] = DeviceSeries(
            device_id=dev.id, kind=dev.kind,
            values={m: np.ascontiguousarray(v[sim]) for m, v in vals.items()},
            flags=flags, present=present[dev.id][sim].copy(),
        )
    return Simulation(start=start, minutes=minutes, seed=seed,
                      times_s=grid.t_s[sim].copy(), series=series, injections=injs)


def _as_list(a: FloatArray) -> list[float | None]:
    out: list[float | None] = a.tolist()
    if np.isnan(a).any():
        out = [None if x is None or math.isnan(x) else x for x in out]
    return out


def iter_minutes(sim: Simulation) -> Iterator[Minute]:
    """The simulation's readings, minute by minute, devices in registry order."""
    prepared = []
    for s in sim.series.values():
        vals = {m: _as_list(a) for m, a in s.values.items()}
        flags = {m: list(a.tolist()) for m, a in s.flags.items()}
        prepared.append((s.kind, s.device_id, vals, flags, s.present.tolist()))
    start = sim.start.astimezone(CST)
    for i in range(sim.minutes):
        ts = start + timedelta(minutes=i)
        ts_str = ts.isoformat()
        messages: list[tuple[Kind, str, Reading]] = []
        for kind, did, vals, flags, present in prepared:
            if not present[i]:
                continue
            reading: Reading = {
                "ts": ts_str,
                "values": {m: v[i] for m, v in vals.items()},
                "flags": {m: f[i] for m, f in flags.items()},
            }
            messages.append((kind, did, reading))
        yield Minute(ts=ts, messages=messages)


def generate(registry: Registry, start: datetime, minutes: int, seed: int,
             injections: Sequence[Injection] = ()) -> Iterator[Minute]:
    """Readings of every device over ``[start, start + minutes)``, one :class:`Minute` at a time.

    The series are computed (and the arguments checked) before this returns; the
    iterator only builds the reading dicts.
    """
    return iter_minutes(simulate(registry, start, minutes, seed, injections))
