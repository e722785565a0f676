"""The kinds of labelled events of a scenario and how each is laid down.

A :class:`Kind` names the rule it probes, whether that rule must fire, its duration range
(minutes), what it is placed on (an enterprise, an air station, a water outlet, or any of
an enterprise's devices or a station) and a builder that adds the simulator's injections
(and any declaration or order) to the :class:`Plan`. :func:`label_new` then turns the
injections a builder added into labels. :func:`kinds` lists every kind: violations of each
rule of the catalog and the hard negatives around them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from ecowarn.config.registry import Device, Registry
from ecowarn.evaluation._edits import WATER_DIGITS, SeriesEdit, WaterFreeze, WaterJitter
from ecowarn.evaluation._labels import Declaration, EvalLabel, Order
from ecowarn.simulator import (
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
from ecowarn.simulator.scenario import SEQUENCE_RUN_MIN, WATER_POLLUTANTS

__all__ = ["Build", "Kind", "Plan", "kinds", "label_new", "water_outlets"]


@dataclass
class Plan:
    """What the planner has laid down so far."""

    start: datetime
    rng: np.random.Generator
    injections: list[Injection] = field(default_factory=list)
    edits: list[SeriesEdit] = field(default_factory=list)
    labels: list[EvalLabel] = field(default_factory=list)
    maintenance: list[Declaration] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)

    def at(self, minute: int | float) -> datetime:
        return self.start + timedelta(minutes=minute)

    def minute(self, when: datetime) -> int:
        return int((when - self.start).total_seconds() // 60)

    def label(self, kind: str, rule: str, positive: bool, device_ids: Sequence[str],
              s: int, e: int, note: str = "") -> None:
        self.label_at(kind, rule, positive, device_ids, self.at(s), self.at(e), note)

    def label_at(self, kind: str, rule: str, positive: bool, device_ids: Sequence[str],
                 start: datetime, end: datetime, note: str = "", *, single: bool = False,
                 due: datetime | None = None) -> None:
        self.labels.append(EvalLabel(len(self.labels) + 1, kind, rule, positive,
                                     tuple(dict.fromkeys(device_ids)), start, end, note,
                                     single, due))

    def pick(self, items: Sequence[Any]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def integer(self, lo: int, hi: int) -> int:
        """A whole number in ``[lo, hi]``."""
        return int(self.rng.integers(lo, hi + 1))


Build = Callable[[Plan, Registry, str, int, int], bool]
"""``build(plan, registry, key, s, e)``: lay the event down on ``key`` (an enterprise id, a
station id or a water outlet id) over minutes ``[s, e)``; False when ``key`` has nothing
it applies to."""


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of event: its rule, sign, duration range (min) and how to lay it down.

    ``align``: the event starts on a multiple of this many minutes of local time (1440: a
    whole local day, 60: a clock hour). ``silences``: it makes devices of an enterprise
    silent, so it also needs the enterprise's water outlets free (their timelines hold
    day-long events that a gap would break). ``share``: the fraction of the scenario's
    count per kind to place (rounded up), for events too long to place as many of.
    ``site``: a water outlet's event that also needs its enterprise's timeline free
    (production must run through it undisturbed).
    """

    name: str
    rule: str
    positive: bool
    dur: tuple[int, int]
    target: Literal["enterprise", "air", "any", "water"]
    build: Build
    note: str = ""
    within_hour: bool = False
    align: int = 0
    silences: bool = False
    share: float = 1.0
    site: bool = False


# --- what an enterprise has -------------------------------------------------------------


def _devices(reg: Registry, eid: str) -> list[Device]:
    ent = reg.enterprises.get(eid)
    return [reg.devices[d] for d in ent.device_ids] if ent is not None else []


def _stages(dev: Device) -> tuple[tuple[str, ...], ...]:
    return dev.stages or tuple((t,) for t in dev.treated_by)


def _treated(reg: Registry, eid: str) -> list[Device]:
    return [d for d in _devices(reg, eid) if d.role == "production" and d.treated_by]


def _producers(reg: Registry, eid: str) -> list[Device]:
    return [d for d in _devices(reg, eid) if d.role == "production"]


def _alternatives(reg: Registry) -> set[str]:
    """Meters that are one of several alternatives of a stage."""
    return {m for d in reg.production_devices() for st in d.stages if len(st) > 1 for m in st}


def _treatments(reg: Registry, eid: str) -> list[Device]:
    """Treatment meters some producer lists, duty/standby alternatives left out (a standby
    unit idles: its underload would be no underload of the stage)."""
    alt = _alternatives(reg)
    return [d for d in _devices(reg, eid)
            if d.role == "treatment" and reg.producers_treated_by(d.id) and d.id not in alt]


def _cems(reg: Registry, eid: str) -> list[Device]:
    return [d for d in _devices(reg, eid) if d.kind == "cems" and d.serves]


def water_outlets(reg: Registry, eid: str | None = None) -> list[str]:
    """Ids of the water outlets (of one enterprise, or all), sorted."""
    return sorted(d.id for d in reg.devices.values()
                  if d.kind == "water" and (eid is None or d.enterprise_id == eid))


def _water(reg: Registry, key: str) -> list[Device]:
    dev = reg.devices.get(key)
    return [dev] if dev is not None and dev.kind == "water" else []


def _station(reg: Registry, key: str) -> list[Device]:
    return [reg.devices[key]] if key in reg.stations else []


# --- builders -----------------------------------------------------------------------------


def _one(ctor: Callable[..., Injection], pool: Callable[[Registry, str], list[Device]],
         **fixed: Any) -> Build:
    """A builder injecting ``ctor`` on one device of ``pool``, labelled as the kind says."""

    def build(p: Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
        devs = pool(reg, eid)
        if not devs:
            return False
        dev = p.pick(devs)
        kw = {k: (v(p, dev) if callable(v) else v) for k, v in fixed.items()}
        p.injections.append(ctor((dev.id,), p.at(s), p.at(e), **kw))
        return True

    return build


def _limit_metric(p: Plan, dev: Device) -> str:
    return str(p.pick(sorted(dev.limits)))


def _flag(p: Plan, dev: Device) -> str:
    return str(p.pick(["M", "C", "D"]))


def _build_emergency(positive: bool) -> Build:
    def build(p: Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
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


def _build_declared_marking(p: Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
    devs = _cems(reg, eid)
    if not devs:
        return False
    dev = p.pick(devs)
    p.injections.append(Marking((dev.id,), p.at(s), p.at(e), metric=_limit_metric(p, dev),
                                flag=str(p.pick(["M", "C", "D"])), factor=p.uniform(1.3, 2.0)))
    p.maintenance.append(Declaration(dev.id, p.at(s - 10), p.at(e + 10),
                                     "scheduled calibration and probe cleaning"))
    return True


def _build_gap(p: Plan, reg: Registry, key: str, s: int, e: int) -> bool:
    ids = [key] if key in reg.stations else list(reg.enterprises[key].device_ids)
    if not ids:
        return False
    p.injections.append(DataGap((str(p.pick(ids)),), p.at(s), p.at(e)))
    return True


def _build_declared_gap(p: Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
    ids = list(reg.enterprises[eid].device_ids)
    if not ids:
        return False
    did = str(p.pick(ids))
    p.injections.append(DataGap((did,), p.at(s), p.at(e)))
    p.maintenance.append(Declaration(did, p.at(s - 10), p.at(e + 10),
                                     "meter replacement, declared in advance"))
    return True


def _build_site_outage(p: Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
    ids = tuple(reg.enterprises[eid].device_ids)
    if len(ids) < 2:
        return False
    p.injections.append(SiteOutage(ids, p.at(s), p.at(e)))
    return True


def _build_stage_outage(p: Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
    devs = [d for d in _treated(reg, eid) if len(_stages(d)) > 1]
    if not devs:
        return False
    dev = p.pick(devs)
    p.injections.append(StageOutage((dev.id,), p.at(s), p.at(e), stage=p.integer(0, len(_stages(dev)) - 1)))
    return True


def _own_stages(reg: Registry, dev: Device) -> list[int]:
    """Stages of ``dev`` no other producer shares (holding one off affects ``dev`` alone)."""
    return [k for k, st in enumerate(_stages(dev))
            if all(p.id == dev.id for m in st for p in reg.producers_treated_by(m))]


def _build_sequence(late: bool | None, lag: tuple[int, int]) -> Build:
    """A late start (``late``), an early stop (not ``late``) or either (None) of one stage,
    ``lag`` minutes; production is stopped for the rest of ``[s, e)`` but the hour it runs."""

    def build(p: Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
        devs = [d for d in _treated(reg, eid) if _own_stages(reg, d)]
        if not devs:
            return False
        dev = p.pick(devs)
        stage = int(p.pick(_own_stages(reg, dev)))
        n = p.integer(*lag)
        off = (e - s) - n - SEQUENCE_RUN_MIN
        is_late = bool(p.integer(0, 1)) if late is None else late
        if is_late:  # stopped [s, s + off), starts at s + off, the stage n min later
            a = s + off
            p.injections.append(LateTreatmentStart((dev.id,), p.at(a), p.at(a + n), stage=stage,
                                                   off_min=float(off)))
        else:  # runs from s, the stage stops at s + 60, production n min later, then off
            a = s + SEQUENCE_RUN_MIN
            p.injections.append(EarlyTreatmentStop((dev.id,), p.at(a), p.at(a + n), stage=stage,
                                                   off_min=float(off)))
        return True

    return build


def _build_standby_off(p: Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
    meters = sorted({m for d in _treated(reg, eid) for st in d.stages if len(st) > 1 for m in st})
    if not meters:
        return False
    p.injections.append(StandbyOff((str(p.pick(meters)),), p.at(s), p.at(e)))
    return True


def _water_exceedance(p: Plan, reg: Registry, key: str, s: int, e: int) -> bool:
    devs = _water(reg, key)
    metrics = sorted(m for m in devs[0].limits if m in WATER_POLLUTANTS) if devs else []
    if not metrics:
        return False
    dev = devs[0]
    metric = str(p.pick(metrics))
    factor = p.uniform(1.3, 1.8)
    hourly = dev.limits_hourly.get(metric)
    if hourly is not None:  # stay under the hourly limit: one alert, on the daily mean
        factor = max(1.2, min(factor, 0.8 * hourly / dev.limits[metric]))
    p.injections.append(WaterExceedance((dev.id,), p.at(s), p.at(e), metric=metric, factor=factor))
    return True


def _water_spike(p: Plan, reg: Registry, key: str, s: int, e: int) -> bool:
    devs = _water(reg, key)
    if not devs:
        return False
    dev = devs[0]
    metrics = sorted(m for m in dev.limits if m in WATER_POLLUTANTS and m not in dev.limits_hourly)
    if not metrics:
        return False
    p.injections.append(WaterSpike((dev.id,), p.at(s), p.at(e), metric=str(p.pick(metrics)),
                                   factor=3.0))
    return True


def _water_hourly(p: Plan, reg: Registry, key: str, s: int, e: int) -> bool:
    """A metric with an hourly limit at 1.2-1.5 times it (the day's mean stays under the
    daily limit: an hour or two of it is no daily exceedance)."""
    devs = _water(reg, key)
    metrics = sorted(m for m in devs[0].limits_hourly if m in devs[0].limits) if devs else []
    if not metrics:
        return False
    dev = devs[0]
    metric = str(p.pick(metrics))
    factor = p.uniform(1.2, 1.5) * dev.limits_hourly[metric] / dev.limits[metric]
    p.injections.append(WaterExceedance((dev.id,), p.at(s), p.at(e), metric=metric, factor=factor))
    return True


def _water_edit(edit: type[WaterFreeze] | type[WaterJitter]) -> Build:
    """A builder editing one analyser's series (COD, NH3-N, TP or TN) of a water outlet."""

    def build(p: Plan, reg: Registry, key: str, s: int, e: int) -> bool:
        devs = _water(reg, key)
        if not devs:
            return False
        p.edits.append(edit(devs[0].id, str(p.pick(sorted(WATER_DIGITS))), p.at(s), p.at(e)))
        return True

    return build


def _stage_load(positive: bool) -> Build:
    """A stage of alternatives (duty/standby) of one producer: one member at 10-20% of its
    typical load with the others idle (the stage underloaded), or every member at 22-25% of
    its own (each alone would be underloaded; the stage, at about half its load, is not)."""

    def build(p: Plan, reg: Registry, eid: str, s: int, e: int) -> bool:
        stages = [st for d in _treated(reg, eid) for st in _stages(d) if len(st) > 1]
        if not stages:
            return False
        stage = p.pick(stages)
        if positive:
            duty = str(p.pick(stage))
            p.injections.append(TreatmentUnderload((duty,), p.at(s), p.at(e), fraction=p.uniform(0.1, 0.2)))
            p.injections.append(StandbyOff(tuple(m for m in stage if m != duty), p.at(s), p.at(e)))
        else:
            p.injections.append(TreatmentUnderload(tuple(stage), p.at(s), p.at(e),
                                                   fraction=p.uniform(0.22, 0.25)))
        return True

    return build


def _ph_level(p: Plan, dev: Device) -> float:
    low, high = dev.ph_range
    return round(low - 0.8, 2) if p.integer(0, 1) else round(high + 0.8, 2)


# --- the catalog of kinds -------------------------------------------------------------------


def kinds() -> list[Kind]:
    cems, treated, treatments = _cems, _treated, _treatments
    pins = ["so2", "nox", "pm", "o2"]
    return [
        # --- violations ---
        Kind("treatment_outage", "treatment_off", True, (15, 60), "enterprise",
             _one(TreatmentOutage, treated)),
        Kind("stage_outage", "treatment_off", True, (15, 60), "enterprise", _build_stage_outage,
             "one treatment stage off, the others running"),
        Kind("late_treatment_start", "treatment_sequence", True, (100, 160), "enterprise",
             _build_sequence(True, (4, 8)), "a stage starts 4-8 min after production"),
        Kind("early_treatment_stop", "treatment_sequence", True, (100, 160), "enterprise",
             _build_sequence(False, (4, 8)), "a stage stops 4-8 min before production"),
        Kind("treatment_underload", "treatment_underload", True, (45, 120), "enterprise",
             _one(TreatmentUnderload, treatments, fraction=lambda p, d: p.uniform(0.1, 0.25))),
        Kind("stage_underload", "treatment_underload", True, (45, 120), "enterprise", _stage_load(True),
             "one alternative of a stage at 10-20% of its load, the others idle", share=0.5),
        Kind("emergency_production", "emergency_noncompliance", True, (90, 240), "enterprise",
             _build_emergency(True)),
        Kind("exceedance", "emission_exceedance", True, (120, 300), "enterprise",
             _one(Exceedance, cems, metric=_limit_metric, factor=lambda p, d: p.uniform(1.3, 2.5))),
        Kind("water_exceedance", "emission_exceedance", True, (1440, 1440), "water",
             _water_exceedance, "a whole local day above the daily limit", align=1440, share=0.5),
        Kind("ph_out_of_range", "emission_exceedance", True, (90, 150), "water",
             _one(PhOutOfRange, _water, level=_ph_level)),
        Kind("water_hourly", "emission_exceedance", True, (60, 120), "water", _water_hourly,
             "a metric with an hourly limit at 1.2-1.5x it from a clock hour on", align=60, share=0.5),
        Kind("flatline", "flatline", True, (150, 300), "enterprise",
             _one(Flatline, cems, metric=lambda p, d: str(p.pick(pins)))),
        Kind("water_flatline", "flatline", True, (780, 960), "water", _water_edit(WaterFreeze),
             "a water analyser repeating one value over the 12-h minimum", share=0.5, site=True),
        Kind("o2_dilution", "o2_dilution", True, (80, 180), "enterprise", _one(O2Dilution, cems)),
        Kind("bypass", "bypass_suspected", True, (80, 180), "enterprise", _one(Bypass, cems)),
        Kind("marking", "undeclared_marking", True, (80, 180), "enterprise",
             _one(Marking, cems, metric=_limit_metric, flag=_flag,
                  factor=lambda p, d: p.uniform(1.3, 2.0))),
        Kind("pinned", "pinned_below_limit", True, (480, 720), "enterprise",
             _one(Pinned, cems, metric=_limit_metric, level=lambda p, d: p.uniform(0.93, 0.97))),
        Kind("data_gap", "data_gap", True, (45, 180), "any", _build_gap, silences=True),
        Kind("site_outage", "data_gap", True, (40, 90), "enterprise", _build_site_outage,
             "every device of the enterprise silent together: one alert", silences=True),
        Kind("air_hotspot", "air_hotspot", True, (45, 120), "air",
             _one(AirHotspot, _station, delta=lambda p, d: p.uniform(80.0, 200.0))),
        # --- hard negatives ---
        Kind("threshold_noise", "treatment_off", False, (30, 90), "enterprise",
             _one(ThresholdNoise, treated), "production idles at 82-97% of its running threshold, "
             "treatment off"),
        Kind("treatment_blip", "treatment_off", False, (3, 8), "enterprise",
             _one(TreatmentBlip, treated), "treatment off for less than the 10-min minimum"),
        Kind("planned_shutdown", "treatment_off", False, (120, 360), "enterprise",
             _one(PlannedShutdown, treated), "production stops, treatment stops after it"),
        Kind("standby_off", "treatment_off", False, (30, 60), "enterprise", _build_standby_off,
             "a duty/standby alternative off while its partner runs"),
        Kind("planned_restart", "treatment_sequence", False, (40, 120), "enterprise",
             _one(PlannedShutdown, treated), "production stops and restarts, treatment stops "
             "after it and starts before it"),
        Kind("short_sequence", "treatment_sequence", False, (100, 160), "enterprise",
             _build_sequence(None, (1, 2)), "a stage 1-2 min late or early, under the 3-min minimum"),
        Kind("order_complied", "emergency_noncompliance", False, (150, 300), "enterprise",
             _build_emergency(False), "shutdown order; production stopped 30 min before it"),
        Kind("stopped_zero", "flatline", False, (180, 360), "enterprise",
             _one(StoppedZero, cems), "production stopped; pollutants and flow read exactly 0"),
        Kind("declared_maintenance", "undeclared_marking", False, (80, 180), "enterprise",
             _build_declared_marking, "M/C/D flags covered by maintenance declared in advance"),
        Kind("declared_gap", "data_gap", False, (45, 120), "enterprise", _build_declared_gap,
             "a device silent during maintenance declared in advance", silences=True),
        Kind("short_underload", "treatment_underload", False, (10, 20), "enterprise",
             _one(TreatmentUnderload, treatments), "under the 30-min minimum"),
        Kind("stage_shared_load", "treatment_underload", False, (45, 120), "enterprise", _stage_load(False),
             "every alternative of a stage at 22-25% of its own load: the stage at about half"),
        Kind("short_exceedance", "emission_exceedance", False, (10, 15), "enterprise",
             _one(Exceedance, cems, metric=_limit_metric, factor=1.2),
             "1.2x the limit for 10-15 min inside one clock hour", within_hour=True),
        Kind("water_spike", "emission_exceedance", False, (60, 60), "water", _water_spike,
             "one hour at 3x the daily limit of a metric without an hourly limit; the day "
             "stays compliant", align=60),
        Kind("short_ph", "emission_exceedance", False, (25, 45), "water",
             _one(PhOutOfRange, _water, level=_ph_level), "pH out of range under the 1-h minimum"),
        Kind("short_flatline", "flatline", False, (60, 100), "enterprise",
             _one(Flatline, cems, metric=lambda p, d: str(p.pick(pins))), "under the 2-h minimum"),
        Kind("water_jitter", "flatline", False, (780, 960), "water", _water_edit(WaterJitter),
             "a stable water analyser: each cycle within 0.5% of the last, never repeating",
             share=0.5),
        Kind("short_o2_dilution", "o2_dilution", False, (25, 45), "enterprise",
             _one(O2Dilution, cems), "under the 1-h minimum"),
        Kind("short_bypass", "bypass_suspected", False, (25, 45), "enterprise",
             _one(Bypass, cems), "under the 1-h minimum"),
        Kind("short_marking", "undeclared_marking", False, (20, 45), "enterprise",
             _one(Marking, cems, metric=_limit_metric, flag=_flag, factor=1.5),
             "under the 60-min minimum"),
        Kind("short_pinned", "pinned_below_limit", False, (180, 240), "enterprise",
             _one(Pinned, cems, metric=_limit_metric, level=0.95), "under the 6-h minimum"),
        Kind("short_gap", "data_gap", False, (10, 20), "any", _build_gap, "under the 30-min minimum",
             silences=True),
        Kind("short_hotspot", "air_hotspot", False, (10, 20), "air",
             _one(AirHotspot, _station, delta=120.0), "under the 30-min minimum"),
    ]


# --- labels ---------------------------------------------------------------------------------


def label_new(p: Plan, reg: Registry, kind: Kind, first_inj: int, s: int, e: int) -> None:
    """Labels for the injections the builder just added: one per injection and device,
    except where one event involves several devices (a stage and its producer, a site)."""
    new = p.injections[first_inj:]
    if kind.name in ("stage_underload", "stage_shared_load"):  # one stage, one label
        members = [d for inj in new for d in inj.device_ids]
        p.label(kind.name, kind.rule, kind.positive, members, s, e, kind.note)
        return
    if kind.name in ("water_flatline", "water_jitter"):  # an edit, no injection
        edit = p.edits[-1]
        p.label(kind.name, kind.rule, kind.positive, (edit.device_id,), s, e,
                f"{edit.metric}; {kind.note}")
        return
    if kind.name == "order_complied":
        devs = [d for inj in new for d in inj.device_ids]
        p.label(kind.name, kind.rule, False, devs, s + 30, e - 30, kind.note)
        return
    reg_note = kind.note
    for inj in new:
        metric = getattr(inj, "metric", None)
        note = f"{metric}; {reg_note}" if metric and reg_note else (metric or reg_note)
        args = (kind.name, kind.rule, kind.positive)
        if isinstance(inj, SiteOutage):
            p.label_at(*args, inj.device_ids, inj.start, inj.end, note, single=True)
        elif isinstance(inj, LateTreatmentStart | EarlyTreatmentStop | StageOutage):
            # the producer and the meters of the stage; a sequence event is reportable once
            # the stage started (late) or production stopped (early): the label's end
            devs = [inj.device_ids[0], *_stages(reg.devices[inj.device_ids[0]])[inj.stage]]
            due = None if isinstance(inj, StageOutage) else inj.end
            p.label_at(*args, devs, inj.start, inj.end, f"{note}; stage {inj.stage}".lstrip("; "), due=due)
        elif isinstance(inj, StandbyOff):
            producers = [d.id for d in reg.producers_treated_by(inj.device_ids[0])]
            p.label_at(*args, (*inj.device_ids, *producers), inj.start, inj.end, note)
        elif isinstance(inj, WaterExceedance):
            p.label_at(*args, inj.device_ids, inj.start, inj.end, note, due=inj.end)
        else:
            for did in inj.device_ids:
                p.label_at(*args, (did,), inj.start, inj.end, note)

