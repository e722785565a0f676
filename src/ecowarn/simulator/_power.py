"""Production and treatment equipment and their power meters.

Production either runs around the clock (kilns, furnaces, coke ovens) or on a day
shift with ramps. Treatment units follow their production: they start a few
minutes (8-12) before it and stop the same after it, so clean data never shows
production running with its treatment off, nor a stage starting late or stopping
early. Alternatives of one treatment stage (CONTRACT section 7: duty/standby units)
take turns: one runs, the others idle near 0 kW; every 2-4 days, in the daytime, the
standby unit starts 5-15 min before the one on duty stops (:func:`apply_duty`). Plans
are mutable working arrays on the padded grid; injections edit them before power is
computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ecowarn.config.registry import Device
from ecowarn.simulator._common import BoolArray, FloatArray, Grid, ar1, rng_for, widen

__all__ = [
    "ProductionPlan",
    "ProductionProfile",
    "TreatmentPlan",
    "apply_duty",
    "default_profile",
    "duty_masks",
    "meter_series",
    "plan_production",
    "plan_treatment",
]

# Equipment names as registries write them, English or Chinese (磨边线, 包装车间, 回转窑, 焦炉...).
_SHIFT_WORDS = ("grind", "cutting", "packing", "packag", "workshop", "assembly", "paint",
                "spray", "mill", "crush", "line", "mixing", "welding", "printing",
                "磨", "切割", "包装", "车间", "装配", "喷涂", "涂装", "粉碎", "破碎", "线",
                "搅拌", "焊接", "印刷")
_CONTINUOUS_WORDS = ("kiln", "furnace", "oven", "boiler", "battery", "reactor", "sinter",
                     "smelt", "incinerat", "converter", "calciner",
                     "窑", "炉", "反应釜", "烧结", "冶炼", "焚烧", "煅烧")
_CONTINUOUS_INDUSTRIES = frozenset({
    "cement", "coking", "glass", "steel", "iron", "power", "thermal_power", "chemical",
    "petrochemical", "refining", "ceramics", "nonferrous", "incineration", "lime",
})


@dataclass(frozen=True, slots=True)
class ProductionProfile:
    """How a piece of production equipment runs.

    ``shift`` runs from ``shift_start_min`` to ``shift_end_min`` (local minutes of
    the day, UTC+8) with a few minutes of jitter per day, ramping up over
    ``ramp_up_min`` and down over ``ramp_down_min``. ``load_lo``/``load_hi`` bound
    the running load as a fraction of rated power.
    """

    mode: Literal["continuous", "shift"]
    shift_start_min: int = 8 * 60
    shift_end_min: int = 20 * 60
    ramp_up_min: int = 15
    ramp_down_min: int = 10
    load_lo: float = 0.6
    load_hi: float = 0.95

    def __post_init__(self) -> None:
        if self.mode not in ("continuous", "shift"):
            raise ValueError(f"mode must be continuous or shift, not {self.mode!r}")
        if not 30 <= self.shift_start_min < self.shift_end_min <= 1440 - 30:
            raise ValueError("the shift must start and end within the day, start before end")
        if self.ramp_up_min < 1 or self.ramp_down_min < 1:
            raise ValueError("ramps last at least one minute")
        if self.ramp_up_min + self.ramp_down_min > self.shift_end_min - self.shift_start_min - 20:
            raise ValueError("the ramps do not fit in the shift")
        if not 0.5 <= self.load_lo <= self.load_hi <= 1.0:
            raise ValueError("need 0.5 <= load_lo <= load_hi <= 1")


def default_profile(device: Device, industry: str) -> ProductionProfile:
    """Continuous for kilns, furnaces and ovens (and continuous industries), else a day shift."""
    name = device.equipment.lower()
    if any(w in name for w in _SHIFT_WORDS):
        return ProductionProfile("shift")
    if any(w in name for w in _CONTINUOUS_WORDS) or industry.lower() in _CONTINUOUS_INDUSTRIES:
        return ProductionProfile("continuous")
    return ProductionProfile("shift")


def _rated(device: Device) -> float:
    if device.rated_kw is None:
        raise ValueError(f"device {device.id} has no rated_kw")
    return device.rated_kw


def _standby(device: Device, rng: np.random.Generator, n: int) -> FloatArray:
    """Control and lighting load while stopped: far below the off threshold (80% of running)."""
    cap = min(0.02 * _rated(device), 0.4 * device.running_threshold_kw)
    return cap * rng.uniform(0.3, 1.0, n)


@dataclass(slots=True)
class ProductionPlan:
    """Working arrays for one production meter on the padded grid.

    ``on``: drawing running load; ``follow``: what its treatment operators follow
    (differs from ``on`` only when production runs with treatment deliberately off);
    ``ramp``: 0-1 multiplier of ``load`` (fraction of rated) while on;
    ``override_kw``: power forced by an injection, NaN where none.
    """

    device: Device
    on: BoolArray
    follow: BoolArray
    ramp: FloatArray
    load: FloatArray
    standby_kw: FloatArray
    override_kw: FloatArray

    def run(self, sl: slice, *, follow: bool = True) -> None:
        """Run at normal load over ``sl`` (no ramp); treatment follows unless ``follow`` is False."""
        self.on[sl] = True
        self.ramp[sl] = 1.0
        if follow:
            self.follow[sl] = True

    def stop(self, sl: slice) -> None:
        self.on[sl] = False
        self.follow[sl] = False

    def power_kw(self) -> FloatArray:
        p = np.where(self.on, self.load * self.ramp * _rated(self.device), self.standby_kw)
        return np.where(np.isnan(self.override_kw), p, self.override_kw)


def plan_production(device: Device, profile: ProductionProfile, grid: Grid,
                    seed: int) -> ProductionPlan:
    n = grid.size
    rated = _rated(device)
    rng = rng_for(seed, device.id, "production")
    # Running load: a per-device level, slow wander and minute noise, kept above the
    # running threshold with margin.
    lo = max(profile.load_lo, min(1.0, 1.15 * device.running_threshold_kw / rated))
    hi = max(profile.load_hi, lo)
    level = rng.uniform(0.72, 0.88)
    load = level + ar1(rng, n, 0.995, 0.05) + rng.normal(0.0, 0.015, n)
    load = np.clip(load, lo, hi)
    standby = _standby(device, rng, n)
    if profile.mode == "continuous":
        on = np.ones(n, dtype=bool)
        ramp = np.ones(n)
    else:
        on, ramp = _shift(device, profile, grid, seed)
    return ProductionPlan(device=device, on=on, follow=on.copy(), ramp=ramp, load=load,
                          standby_kw=standby, override_kw=np.full(n, np.nan))


def _shift(device: Device, profile: ProductionProfile, grid: Grid,
           seed: int) -> tuple[BoolArray, FloatArray]:
    """Day-shift running mask and ramp; start and end jitter per local calendar day."""
    mod = grid.local_minute_of_day()
    days, inverse = np.unique(grid.local_day(), return_inverse=True)
    starts = np.empty(days.size, dtype=np.int64)
    ends = np.empty(days.size, dtype=np.int64)
    for k, day in enumerate(days.tolist()):
        r = rng_for(seed, device.id, "shift", day)
        starts[k] = profile.shift_start_min + int(r.integers(-5, 6))
        ends[k] = profile.shift_end_min + int(r.integers(-5, 11))
    s = starts[inverse]
    e = ends[inverse]
    on = (mod >= s) & (mod < e)
    up = np.clip((mod - s + 1) / profile.ramp_up_min, 0.0, 1.0)
    down = np.clip((e - mod) / profile.ramp_down_min, 0.0, 1.0)
    ramp = np.where(on, np.minimum(up, down), 0.0)
    return np.asarray(on), np.asarray(ramp, dtype=np.float64)


@dataclass(slots=True)
class TreatmentPlan:
    """Working arrays for one treatment meter; ``typical_kw`` is its mean running load."""

    device: Device
    on: BoolArray
    load: FloatArray
    standby_kw: FloatArray
    override_kw: FloatArray
    typical_kw: float

    def power_kw(self) -> FloatArray:
        p = np.where(self.on, self.load * _rated(self.device), self.standby_kw)
        return np.where(np.isnan(self.override_kw), p, self.override_kw)


def plan_treatment(device: Device, producers: list[ProductionPlan], grid: Grid,
                   seed: int) -> TreatmentPlan:
    """A treatment unit on from 8-12 min before any of its producers runs to 8-12 min after."""
    n = grid.size
    rated = _rated(device)
    rng = rng_for(seed, device.id, "treatment")
    lead = int(rng.integers(8, 13))
    lag = int(rng.integers(8, 13))
    follow = np.zeros(n, dtype=bool)
    for plan in producers:
        follow |= plan.follow
    on = widen(follow, lead, lag)
    lo = max(0.6, min(1.0, 1.2 * device.running_threshold_kw / rated))
    hi = max(0.85, lo)
    level = rng.uniform(0.66, 0.78)
    load = np.clip(level + ar1(rng, n, 0.99, 0.03) + rng.normal(0.0, 0.01, n), lo, hi)
    return TreatmentPlan(device=device, on=on, load=load, standby_kw=_standby(device, rng, n),
                         override_kw=np.full(n, np.nan), typical_kw=float(level * rated))


def duty_masks(ids: tuple[str, ...], grid: Grid, seed: int) -> dict[str, BoolArray]:
    """When each alternative of a stage (``ids``, two or more) is on duty, per grid minute.

    One unit at a time, the first listed first; the duty rotates every 2-4 local days
    (per stage) at a daytime minute (09:00-16:00), the incoming unit starting 5-15 min
    before the outgoing one stops, so the stage never stops at a switchover. Depends only
    on the seed, the ids and the local calendar, not on the simulated span.
    """
    k = len(ids)
    key = "+".join(ids)
    rng = rng_for(seed, key, "duty")
    period = int(rng.integers(2, 5))
    offset = int(rng.integers(0, period))
    day = grid.local_day()
    mod = grid.local_minute_of_day()
    days = np.unique(day)
    switch = np.full(days.size, -1, dtype=np.int64)
    overlap = np.zeros(days.size, dtype=np.int64)
    for i, d in enumerate(days.tolist()):
        if (d + offset) % period == 0:
            r = rng_for(seed, key, "switch", d)
            switch[i] = int(r.integers(9 * 60, 16 * 60))
            overlap[i] = int(r.integers(5, 16))
    at = np.searchsorted(days, day)
    rotation = (days[at] + offset) // period
    sw, ov = switch[at], overlap[at]
    switching_day = sw >= 0
    duty = (rotation - (switching_day & (mod < sw))) % k
    incoming = switching_day & (mod >= sw - ov) & (mod < sw)
    return {m: np.asarray((duty == j) | (incoming & (rotation % k == j))) for j, m in enumerate(ids)}


def apply_duty(stages: Iterable[tuple[str, ...]], plans: Mapping[str, TreatmentPlan], grid: Grid,
               seed: int) -> None:
    """Alternatives of each stage run only on duty (:func:`duty_masks`); standby units idle.

    A meter listed in several stages takes the duty of the first stage it is seen in.
    """
    done: set[str] = set()
    for stage in stages:
        ids = tuple(m for m in stage if m in plans and m not in done)
        if len(ids) < 2:
            continue
        done.update(ids)
        for m, mask in duty_masks(ids, grid, seed).items():
            plans[m].on &= mask


def meter_series(device: Device, power_kw: FloatArray, seed: int) -> dict[str, FloatArray]:
    """A power meter's p (kW), cumulative e (kWh) and current i (A) from its power."""
    rng = rng_for(seed, device.id, "meter")
    n = power_kw.size
    p = np.round(np.maximum(power_kw, 0.0), 2)
    e0 = float(np.round(rng.uniform(1e4, 5e5), 1))
    e = np.round(e0 + np.cumsum(p) / 60.0, 2)
    volts_kv = 10.0 if _rated(device) >= 1000 else 0.38
    pf = np.clip(0.88 + rng.normal(0.0, 0.01, n), 0.8, 0.97)
    i = np.round(p / (math.sqrt(3.0) * volts_kv * pf), 2)
    return {"p": p, "e": e, "i": i}


def producers_by_id(plans: Mapping[str, ProductionPlan], ids: tuple[str, ...]) -> list[ProductionPlan]:
    return [plans[i] for i in ids if i in plans]
