"""I/O side of ``treatment_underload``: a treatment stage running far below its typical load.

Subject: a treatment stage (CONTRACT 1.1 section 7) that some production meter lists in
``treated_by``; its production is the producers listing that stage (running when any of
them runs). A stage of one meter is that meter's id, as in 1.0; a stage of alternatives
(duty/standby) is one subject, its meter ids joined by ``+``, judged by the members'
combined power, so a switchover is no change of load and two units each half running
are one stage at full load.

The typical running load is learned per local day (``detectors._baselines``) over
``baseline_window_s`` before the day of the new data: series ``load:<id>`` (a meter's
power on the minutes it runs) or ``load:<a>+<b>`` (the members' combined power on the
minutes the stage and its production both run: a stage left off while production runs
would otherwise teach it a load near zero). With fewer than ``baseline_min_samples``
running minutes ``rated_kw`` stands in (a stage of alternatives: its largest member's,
since one unit carries the stage), and the alert says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import BoolArray, Finding, FloatArray, IntArray, minute_grid
from ecowarn.detectors.baseline import Baseline
from ecowarn.detectors.running import ON, running_state
from ecowarn.detectors.runtime._baselines import (
    BaselineAsk,
    GridSampler,
    baselines_as_of_many,
    invalidate_many,
    power_sampler,
)
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import (
    Evaluator,
    baseline_evidence,
    baseline_phrase,
    fmt,
    state,
)
from ecowarn.detectors.runtime._load import (
    DEFAULT_HOLD_S,
    Series,
    covered_mask,
    epoch,
    held_on_grid,
    latest_ts,
    load_series,
    local_day_start,
)
from ecowarn.detectors.runtime.contract import Window, utc
from ecowarn.detectors.treatment_underload import (
    RULE_ID,
    TreatmentUnderloadParams,
    stage_power,
    stage_underload,
    treatment_underload,
)
from ecowarn.i18n import Field, Join, Minutes, Phrase, summary

__all__ = ["TreatmentUnderloadEvaluator", "stage_subject"]

# Joins the meter ids of a stage of alternatives into its subject.
STAGE_SEP = "+"


def stage_subject(members: tuple[str, ...]) -> str:
    """The subject of a stage: its meter's id, or its alternatives' ids joined by ``+``."""
    return STAGE_SEP.join(members)


@dataclass(frozen=True, slots=True)
class _Stage:
    members: tuple[Device, ...]
    producers: tuple[Device, ...]

    @property
    def rated_kw(self) -> float | None:
        rated = [m.rated_kw for m in self.members if m.rated_kw is not None]
        return max(rated) if rated else None


def combined_production(kws: list[FloatArray], thresholds: list[float]) -> tuple[FloatArray, float]:
    """One production series for several producers: raw kW for one producer, else each
    producer's power in multiples of its own running threshold, the largest per point
    (running at 1.0, so "any producer running")."""
    if len(kws) == 1:
        return kws[0], thresholds[0]
    with np.errstate(invalid="ignore"):
        stacked = np.vstack([kw / thr for kw, thr in zip(kws, thresholds, strict=True)])
    known = np.isfinite(stacked)
    best = np.where(known, stacked, -np.inf).max(axis=0)
    return np.where(known.any(axis=0), best, np.nan), 1.0


def stage_sampler(stage: _Stage, off_ratio: float) -> GridSampler:
    """The baseline :data:`Sampler` of a stage of alternatives: the members' combined power
    on the minute grid of ``[lo, hi)``, sampled where the stage and its production run."""

    def sample(series: Mapping[tuple[str, str], Series], grid: IntArray) -> tuple[FloatArray, BoolArray]:
        def kw(dev: Device) -> FloatArray:
            return held_on_grid(series.get((dev.id, "p"), Series.empty()), grid)

        combined, stage_on = stage_power(np.vstack([kw(m) for m in stage.members]),
                                         [m.running_threshold_kw for m in stage.members], off_ratio)
        prod, prod_thr = combined_production([kw(p) for p in stage.producers],
                                             [p.running_threshold_kw for p in stage.producers])
        prod_on = running_state(prod, prod_thr, off_ratio * prod_thr) == ON
        return combined, np.asarray(stage_on & prod_on)

    return GridSampler(tuple(d.id for d in (*stage.members, *stage.producers)), ("p",), sample)


class TreatmentUnderloadEvaluator(Evaluator):
    rule = RULE_ID
    held_grid = True

    def __init__(self, registry: Registry, params: TreatmentUnderloadParams) -> None:
        super().__init__()
        self._registry = registry
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(minutes=params.min_duration_min + 60)
        self._stages: dict[str, _Stage] = {}
        # A meter alone as a stage: every producer listing it as one (1.0: every producer).
        for dev in registry.devices.values():
            if dev.kind == "power" and dev.role == "treatment":
                producers = [p for p in registry.producers_treated_by(dev.id)
                             if (dev.id,) in _stages_of(p)]
                if producers:
                    self._stages[dev.id] = _Stage((dev,), tuple(producers))
        # Alternatives: one subject per set of meters, with every producer listing that set.
        alternatives: dict[frozenset[str], tuple[tuple[str, ...], list[Device]]] = {}
        for prod in registry.production_devices():
            for stage in _stages_of(prod):
                if len(stage) > 1:
                    alternatives.setdefault(frozenset(stage), (stage, []))[1].append(prod)
        for members, producers in alternatives.values():
            self._stages[stage_subject(members)] = _Stage(
                tuple(registry.devices[m] for m in members), tuple(producers))
        for subject, st in self._stages.items():
            self._add_subject(subject, [d.id for d in (*st.members, *st.producers)])

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        return [(m.id, "p") for m in self._stages[subject].members]

    def _maintenance_devices(self, subject: str) -> list[str]:
        st = self._stages[subject]
        return [d.id for d in (*st.members, *st.producers)]

    def _sampler(self, st: _Stage) -> GridSampler:
        if len(st.members) == 1:
            return power_sampler(st.members[0], self._params.off_ratio)
        return stage_sampler(st, self._params.off_ratio)

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str,
                       window: Window, cache: SeriesCache | None = None) -> tuple[datetime, list[AlertDraft]]:
        until = await latest_ts(conn, cache, self.primary_keys(subject))
        if until is None:
            self._evaluated.pop(subject, None)
            return window.t_min, []
        st = self._stages[subject]
        as_of, baseline = await self._new_data_baseline(
            conn, window, until, _series(subject), self._params.baseline_params(), st.rated_kw,
            self._sampler(st))
        return await self._judged(conn, cache, subject, window, until, as_of, baseline)

    async def evaluate_many(self, conn: psycopg.AsyncConnection[Any],
                            items: Sequence[tuple[str, Window]],
                            cache: SeriesCache | None = None) -> list[tuple[datetime, list[AlertDraft]]]:
        """:meth:`evaluate` of each item, the baselines of all in a few queries: the day
        summaries the windows touch forgotten in one, the stored ones read in one, the
        missing ones computed from one streamed read of history and stored in one
        (:func:`baselines_as_of_many`); then each subject judged in turn."""
        if len({s for s, _ in items}) != len(items):
            return await super().evaluate_many(conn, items, cache)
        untils = [await latest_ts(conn, cache, self.primary_keys(s)) for s, _ in items]
        live = [(s, w, until) for (s, w), until in zip(items, untils, strict=True) if until is not None]
        await invalidate_many(conn, [(_series(s), w.t_min, w.t_max) for s, w, _ in live],
                              memo=self.baseline_memo)
        asks = [BaselineAsk(_series(s), local_day_start(epoch(min(w.t_max, until))),
                            self._stages[s].rated_kw, self._sampler(self._stages[s]))
                for s, w, until in live]
        baselines = iter(await baselines_as_of_many(conn, asks, self._params.baseline_params(),
                                                    memo=self.baseline_memo))
        asked = iter(asks)
        out: list[tuple[datetime, list[AlertDraft]]] = []
        for (subject, window), until in zip(items, untils, strict=True):
            if until is None:
                self._evaluated.pop(subject, None)
                out.append((window.t_min, []))
                continue
            as_of, baseline = next(asked).as_of_s, next(baselines)
            out.append(await self._judged(conn, cache, subject, window, until, as_of,
                                          None if baseline is None or baseline.value <= 0 else baseline))
        return out

    async def _judged(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str,
                      window: Window, until: datetime, as_of: int,
                      baseline: Baseline | None) -> tuple[datetime, list[AlertDraft]]:
        """The rest of :meth:`evaluate` once the baseline as of ``as_of`` is known."""
        if baseline is None:
            self._evaluated[subject] = (until.timestamp(), (as_of, None))
            return window.t_min, []
        self._evaluated[subject] = (until.timestamp(),
                                    (as_of, self._params.load_ratio * baseline.value))

        async def run(since: datetime) -> list[AlertDraft]:
            return await self._judge(conn, cache, subject, since, until, baseline, as_of)

        return await self._widening(window, until, run)

    def tail_quiet(self, subject: str, cache: SeriesCache | None) -> bool:
        """On the same local day as the last full evaluation (same baseline), at every new
        grid point: production decidedly off, or the stage decidedly off (every member
        without a value or below its off threshold), or some member without a value (the
        stage's load unknown), or the combined load at or above the underload threshold."""
        done = self._evaluated.get(subject)
        if done is None:
            return False
        st = self._stages[subject]
        keys = [(d.id, "p") for d in (*st.members, *st.producers)]
        tail = self._tail_held(subject, keys, DEFAULT_HOLD_S, cache)
        if tail is None:
            return False
        grid, held, latest = tail
        as_of, threshold_kw = done[1]
        if local_day_start(int(latest)) != as_of:
            return False
        if grid.size == 0 or threshold_kw is None:
            return True
        prod, prod_on = combined_production([held[(p.id, "p")] for p in st.producers],
                                            [p.running_threshold_kw for p in st.producers])
        r = self._params.off_ratio
        kw = np.vstack([held[(m.id, "p")] for m in st.members])
        with np.errstate(invalid="ignore"):
            may_run = np.zeros(grid.size, dtype=bool)
            for row, m in zip(kw, st.members, strict=True):
                may_run |= row >= r * m.running_threshold_kw
            total = kw.sum(axis=0)
            ok = ~(prod >= r * prod_on) | ~may_run | np.isnan(total) | (total >= threshold_kw)
        return bool(ok.all())

    async def _judge(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str,
                     since: datetime, until: datetime, baseline: Baseline, as_of: int) -> list[AlertDraft]:
        st = self._stages[subject]
        ids = [d.id for d in (*st.members, *st.producers)]
        series = await load_series(conn, cache, ids, ["p"], since - timedelta(seconds=DEFAULT_HOLD_S), until)
        grid = minute_grid(epoch(since), epoch(until))
        maint = await self._maintenance(conn, subject, since, until)
        blank = covered_mask(grid, maint) if maint else None

        def kw(dev: Device) -> FloatArray:
            v = held_on_grid(series.get((dev.id, "p"), Series.empty()), grid)
            return v if blank is None else np.where(blank, np.nan, v)

        prod_kws = [kw(p) for p in st.producers]
        prod, prod_on = combined_production(prod_kws, [p.running_threshold_kw for p in st.producers])
        if len(st.members) == 1:
            findings = treatment_underload(grid, prod, prod_on, kw(st.members[0]),
                                           st.members[0].running_threshold_kw, baseline, self._params)
        else:
            findings = stage_underload(grid, prod, prod_on, np.vstack([kw(m) for m in st.members]),
                                       [m.running_threshold_kw for m in st.members], baseline,
                                       self._params)
        return [self._draft(subject, st, prod_kws, grid, f, baseline, as_of) for f in findings]

    def _draft(self, subject: str, st: _Stage, prod_kws: list[FloatArray], grid: IntArray,
               f: Finding, baseline: Baseline, as_of: int) -> AlertDraft:
        facts = dict(f.facts)
        producers = st.producers
        lo = int(np.searchsorted(grid, f.start_s))
        hi = grid.size if f.end_s is None else int(np.searchsorted(grid, f.end_s))
        prod_mean = {p.id: round(float(np.nanmean(kw[lo:hi])), 2) if np.isfinite(kw[lo:hi]).any()
                     else None for p, kw in zip(producers, prod_kws, strict=True)}
        facts["production_mean_kw"] = prod_mean
        bp = self._params.baseline_params()
        dur = float(facts["duration_min"])
        production = Join(Phrase("at_power", name=p.label, kw=fmt(prod_mean[p.id] or 0)) for p in producers)
        common: dict[str, Field] = {
            "treatment_kw": fmt(facts["treatment_mean_kw"]), "load_pct": fmt(facts["load_pct_of_baseline"]),
            "ratio_pct": fmt(100 * self._params.load_ratio), "threshold_kw": fmt(facts["threshold_kw"]),
            "baseline": baseline_phrase(baseline, "kW", bp), "production": production,
            "duration": Minutes(dur), "state": state(f.end_s)}
        if len(st.members) == 1:
            summary_en, summary_zh = summary("treatment_underload", treatment=st.members[0].label, **common)
        else:
            facts["members"] = [m.id for m in st.members]
            members = Join(Phrase("at_power", name=m.label, kw=fmt(x))
                           for m, x in zip(st.members, facts["member_mean_kw"], strict=True))
            summary_en, summary_zh = summary("treatment_underload_stage", members=members, **common)
        treat_on: float | dict[str, float] = st.members[0].running_threshold_kw if len(st.members) == 1 \
            else {m.id: m.running_threshold_kw for m in st.members}
        return AlertDraft(
            rule=RULE_ID, subject=subject, enterprise_id=st.members[0].enterprise_id,
            device_ids=tuple(d.id for d in (*st.members, *producers)),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=summary_en, summary_zh=summary_zh,
            params={
                "min_duration_min": self._params.min_duration_min,
                "load_ratio": self._params.load_ratio,
                "off_ratio": self._params.off_ratio,
                "baseline_window_s": self._params.baseline_window_s,
                "baseline_min_samples": self._params.baseline_min_samples,
                "treatment_on_kw": treat_on,
                "production_on_kw": {p.id: p.running_threshold_kw for p in producers},
                "suppressed_by_maintenance": self._params.suppressed_by_maintenance,
            },
            evidence={"facts": facts, "metric": "p",
                      "baseline": baseline_evidence(baseline, bp, as_of),
                      "devices": {d.id: d.label for d in (*st.members, *producers)}},
        )


def _series(subject: str) -> str:
    """The baseline series of a subject (its typical running load)."""
    return f"load:{subject}"


def _stages_of(prod: Device) -> tuple[tuple[str, ...], ...]:
    return prod.stages or tuple((t,) for t in prod.treated_by)
