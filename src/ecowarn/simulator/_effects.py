"""How each injection edits the working arrays, step by step.

Steps run in order: production plans, treatment plans, CEMS before the reported
values are computed, CEMS after, water outlets, air stations, then presence (data
gaps). Within a step, injections apply in the order given, so a later one wins where
two overlap on the same device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import numpy as np

from ecowarn.config.registry import Registry
from ecowarn.simulator._cems import POLLUTANTS, CemsWork
from ecowarn.simulator._common import BoolArray, FloatArray, Grid, ar1, rng_for
from ecowarn.simulator._power import ProductionPlan, TreatmentPlan
from ecowarn.simulator._water import WaterWork
from ecowarn.simulator.errors import InjectionError
from ecowarn.simulator.scenario import (
    SEQUENCE_RUN_MIN,
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
    StageOutage,
    StandbyOff,
    StoppedZero,
    ThresholdNoise,
    TreatmentBlip,
    TreatmentOutage,
    TreatmentUnderload,
    WaterExceedance,
    WaterSpike,
)

__all__ = ["air", "cems_after", "cems_before", "presence", "production", "treatment", "water"]

_SEQUENCE_RUN = timedelta(minutes=SEQUENCE_RUN_MIN)
# A stage held off around a late start or an early stop: from this long before production
# starts, or until this long after it stops, which covers the 8-12 min its units would lead
# or lag production by.
_HOLD_OFF_MIN = 13
# A partner of a standby unit that is off runs from this long before to this long after.
_PARTNER_MARGIN_MIN = 5

_RUNS_SERVED = (Exceedance, Flatline, O2Dilution, Bypass, Marking, Pinned)


def _rng(seed: int, idx: int, inj: Injection, *keys: str) -> np.random.Generator:
    return rng_for(seed, "injection", idx, inj.kind, *keys)


def _len(sl: slice) -> int:
    return max(0, int(sl.stop) - int(sl.start))


def production(injs: Sequence[Injection], registry: Registry,
               plans: Mapping[str, ProductionPlan], grid: Grid, seed: int) -> None:
    for idx, inj in enumerate(injs):
        sl = grid.span(inj.start, inj.end)
        if _len(sl) == 0:
            continue
        if isinstance(inj, TreatmentOutage):
            for pid in inj.device_ids:
                plans[pid].run(sl, follow=False)
        elif isinstance(inj, EmergencyProduction | StageOutage):
            for pid in inj.device_ids:
                plans[pid].run(sl)
        elif isinstance(inj, LateTreatmentStart):
            for pid in inj.device_ids:
                plans[pid].stop(grid.span(inj.start - timedelta(minutes=inj.off_min), inj.start))
                plans[pid].run(grid.span(inj.start, max(inj.end, inj.start + _SEQUENCE_RUN)))
        elif isinstance(inj, EarlyTreatmentStop):
            for pid in inj.device_ids:
                plans[pid].run(grid.span(min(inj.start, inj.end - _SEQUENCE_RUN), inj.end))
                plans[pid].stop(grid.span(inj.end, inj.end + timedelta(minutes=inj.off_min)))
        elif isinstance(inj, StandbyOff):
            for tid in inj.device_ids:
                for dev in registry.producers_treated_by(tid):
                    plans[dev.id].run(sl)
        elif isinstance(inj, TreatmentUnderload):
            for tid in inj.device_ids:
                for dev in registry.producers_treated_by(tid):
                    plans[dev.id].run(sl)
        elif isinstance(inj, PlannedShutdown):
            for pid in inj.device_ids:
                plans[pid].stop(sl)
        elif isinstance(inj, ThresholdNoise):
            for pid in inj.device_ids:
                plan = plans[pid]
                plan.stop(sl)
                # First minute at standby (clearly off), then idling just under the threshold.
                idle = slice(sl.start + 1, sl.stop)
                thr = plan.device.running_threshold_kw
                plan.override_kw[idle] = thr * _rng(seed, idx, inj, pid).uniform(0.82, 0.97, _len(idle))
        elif isinstance(inj, (*_RUNS_SERVED, StoppedZero)):
            for cid in inj.device_ids:
                for pid in registry.devices[cid].serves:
                    if isinstance(inj, StoppedZero):
                        plans[pid].stop(sl)
                    else:
                        plans[pid].run(sl)


def treatment(injs: Sequence[Injection], registry: Registry,
              plans: Mapping[str, TreatmentPlan], grid: Grid, seed: int) -> None:
    for idx, inj in enumerate(injs):
        sl = grid.span(inj.start, inj.end)
        n = _len(sl)
        if n == 0:
            continue
        if isinstance(inj, TreatmentOutage | TreatmentBlip):
            level = inj.level_kw if isinstance(inj, TreatmentOutage) else 2.0
            for pid in inj.device_ids:
                for tid in registry.devices[pid].treated_by:
                    plan = plans[tid]
                    cap = min(level, 0.25 * plan.device.running_threshold_kw)
                    plan.override_kw[sl] = _rng(seed, idx, inj, tid).uniform(0.0, cap, n)
        elif isinstance(inj, StageOutage):
            for pid in inj.device_ids:
                for tid in _stage(registry, pid, inj.stage):
                    plan = plans[tid]
                    cap = min(inj.level_kw, 0.25 * plan.device.running_threshold_kw)
                    plan.override_kw[sl] = _rng(seed, idx, inj, tid).uniform(0.0, cap, n)
        elif isinstance(inj, LateTreatmentStart | EarlyTreatmentStop):
            late = isinstance(inj, LateTreatmentStart)
            hold = timedelta(minutes=_HOLD_OFF_MIN)
            off = grid.span(inj.start - hold, inj.end) if late else grid.span(inj.start, inj.end + hold)
            for pid in inj.device_ids:
                for tid in _stage(registry, pid, inj.stage):
                    plans[tid].on[off] = False
        elif isinstance(inj, StandbyOff):
            margin = timedelta(minutes=_PARTNER_MARGIN_MIN)
            around = grid.span(inj.start - margin, inj.end + margin)
            for tid in inj.device_ids:
                plan = plans[tid]
                cap = min(2.0, 0.25 * plan.device.running_threshold_kw)
                plan.override_kw[sl] = _rng(seed, idx, inj, tid).uniform(0.0, cap, n)
                for partner in _partners(registry, tid):
                    if partner not in inj.device_ids:
                        plans[partner].on[around] = True
        elif isinstance(inj, TreatmentUnderload):
            for tid in inj.device_ids:
                plan = plans[tid]
                thr = plan.device.running_threshold_kw
                rated = plan.device.rated_kw or plan.typical_kw
                lo = 1.1 * thr
                hi = 0.28 * min(plan.typical_kw, rated)
                if lo >= hi:
                    raise InjectionError(
                        f"{inj.kind} on {tid!r}: its running threshold {thr:g} kW leaves no "
                        f"load that is running yet under 30% of typical ({plan.typical_kw:.1f} kW)")
                level = float(np.clip(inj.fraction * plan.typical_kw, lo, hi))
                noise = 1.0 + _rng(seed, idx, inj, tid).normal(0.0, 0.03, n)
                plan.override_kw[sl] = np.clip(level * noise, lo, hi)


def _stage(registry: Registry, production_id: str, stage: int) -> tuple[str, ...]:
    dev = registry.devices[production_id]
    return (dev.stages or tuple((t,) for t in dev.treated_by))[stage]


def _partners(registry: Registry, treatment_id: str) -> list[str]:
    """The other alternatives of every stage that lists ``treatment_id``."""
    out: list[str] = []
    for dev in registry.producers_treated_by(treatment_id):
        for stage in dev.stages:
            if treatment_id in stage:
                out.extend(m for m in stage if m != treatment_id and m not in out)
    return out


def _hourly_levels(grid: Grid, sl: slice, level: float, rng: np.random.Generator) -> FloatArray:
    hours = grid.t_s[sl] // 3600
    uniq, inv = np.unique(hours, return_inverse=True)
    per_hour = level + rng.uniform(-0.008, 0.008, uniq.size)
    return np.asarray(per_hour[inv], dtype=np.float64)


def cems_before(injs: Sequence[Injection], works: Mapping[str, CemsWork], grid: Grid,
                seed: int) -> None:
    for idx, inj in enumerate(injs):
        sl = grid.span(inj.start, inj.end)
        n = _len(sl)
        if n == 0:
            continue
        for cid in inj.device_ids:
            if cid not in works:
                continue
            w = works[cid]
            rng = _rng(seed, idx, inj, cid)
            if isinstance(inj, Exceedance | Marking):
                limit = w.scale[inj.metric]
                w.conv[inj.metric][sl] = np.maximum(
                    inj.factor * limit * (1.0 + ar1(rng, n, 0.9, 0.05)), 0.0)
            elif isinstance(inj, Pinned):
                limit = w.scale[inj.metric]
                lv = _hourly_levels(grid, sl, inj.level, rng)
                minute = lv * (1.0 + rng.normal(0.0, 0.01, n))
                w.conv[inj.metric][sl] = limit * np.clip(minute, 0.905, 0.995)
            elif isinstance(inj, O2Dilution):
                w.o2[sl] = np.clip(rng.uniform(19.7, 20.2) + ar1(rng, n, 0.9, 0.15), 19.6, 20.3)
            elif isinstance(inj, Bypass):
                w.flow[sl] = w.typical_flow * rng.uniform(0.02, 0.07, n)


def cems_after(injs: Sequence[Injection], works: Mapping[str, CemsWork], grid: Grid) -> None:
    for inj in injs:
        sl = grid.span(inj.start, inj.end)
        if _len(sl) == 0:
            continue
        for cid in inj.device_ids:
            if cid not in works:
                continue
            w = works[cid]
            if isinstance(inj, Flatline):
                v = w.values[inj.metric]
                v[sl] = v[sl.start]
            elif isinstance(inj, Marking):
                for m in POLLUTANTS:
                    w.flags[m][sl] = inj.flag
            elif isinstance(inj, StoppedZero):
                for m in (*POLLUTANTS, "flow"):
                    w.values[m][sl] = 0.0


def water(injs: Sequence[Injection], works: Mapping[str, WaterWork], grid: Grid, seed: int) -> None:
    for idx, inj in enumerate(injs):
        if not isinstance(inj, WaterExceedance | WaterSpike | PhOutOfRange):
            continue
        sl = grid.span(inj.start, inj.end)
        n = _len(sl)
        if n == 0:
            continue
        for wid in inj.device_ids:
            w = works[wid]
            rng = _rng(seed, idx, inj, wid)
            if isinstance(inj, PhOutOfRange):
                w.ph[sl] = inj.level + np.clip(rng.normal(0.0, 0.02, n), -0.05, 0.05)
            else:
                limit = w.device.limits[inj.metric]
                noise = 0.05 if isinstance(inj, WaterExceedance) else 0.02
                w.conc[inj.metric][sl] = w.held(sl, inj.factor * limit, rng, noise)


def air(injs: Sequence[Injection], stations: Mapping[str, dict[str, FloatArray]], grid: Grid,
        seed: int) -> None:
    for idx, inj in enumerate(injs):
        if not isinstance(inj, AirHotspot):
            continue
        sl = grid.span(inj.start, inj.end)
        n = _len(sl)
        if n == 0:
            continue
        for sid in inj.device_ids:
            rng = _rng(seed, idx, inj, sid)
            bump = inj.delta * np.clip(1.0 + ar1(rng, n, 0.9, 0.08), 0.75, 1.25)
            stations[sid]["pm25"][sl] += bump
            stations[sid]["pm10"][sl] += 1.3 * bump


def presence(injs: Sequence[Injection], present: Mapping[str, BoolArray], grid: Grid) -> None:
    for inj in injs:
        if isinstance(inj, DataGap):
            sl = grid.span(inj.start, inj.end)
            for did in inj.device_ids:
                present[did][sl] = False
