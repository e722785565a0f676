"""I/O side of ``treatment_off``: loads power series, runs the pure detector, drafts alerts.

Subject: a production meter with ``treated_by`` stages (CONTRACT 1.1 section 7: each
stage one meter or alternatives; it fires when any stage is off, naming it). The window
evaluated runs
from a look-back before the new data to the latest reading of the subject's
meters, so an episode still holding at the latest data is ongoing (``end`` null).
When a finding starts right at the window's left edge, the look-back is widened
so its true start is found.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import Finding
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import Evaluator, state
from ecowarn.detectors.runtime._load import reports_run_state, unit_power
from ecowarn.detectors.runtime.contract import utc
from ecowarn.detectors.treatment_off import RULE_ID, TreatmentOffParams, treatment_off
from ecowarn.i18n import Join, Phrase, summary

__all__ = ["TreatmentOffEvaluator"]


class TreatmentOffEvaluator(Evaluator):
    rule = RULE_ID
    held_grid = True

    def __init__(self, registry: Registry, params: TreatmentOffParams,
                 lookback: timedelta = timedelta(hours=2)) -> None:
        super().__init__()
        self._registry = registry
        self._params = params
        self.lookback = lookback
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        for dev in registry.production_devices():
            if dev.treated_by:
                self._add_subject(dev.id, [dev.id, *dev.treated_by])

    def _devices(self, subject: str) -> tuple[Device, list[Device]]:
        prod = self._registry.devices[subject]
        return prod, [self._registry.devices[t] for t in prod.treated_by]

    def _stage_of(self, prod: Device) -> np.ndarray:
        """Stage index of each meter of ``prod.treated_by`` (the same order)."""
        stages = prod.stages or tuple((t,) for t in prod.treated_by)
        return np.array([k for k, stage in enumerate(stages) for _ in stage], dtype=np.int64)

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        prod, treats = self._devices(subject)
        return [(d.id, "p") for d in (prod, *treats)]

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [k[0] for k in self.primary_keys(subject)]

    def tail_quiet(self, subject: str, cache: SeriesCache | None) -> bool:
        """Production decidedly off (no value, or below its off threshold) or every stage
        decidedly not off (one of its meters on, or without a value) at every new grid
        point: no episode can reach into them, and those before them were judged already."""
        prod, treats = self._devices(subject)
        if any(reports_run_state(d) for d in (prod, *treats)):
            return False  # run states change what power means: evaluate in full
        tail = self._tail_held(subject, self.primary_keys(subject), self._params.max_hold_s, cache)
        if tail is None:
            return False
        grid, held, _ = tail
        if grid.size == 0:
            return True
        stage_of = self._stage_of(prod)
        with np.errstate(invalid="ignore"):
            p = held[(prod.id, "p")]
            stage_runs = np.zeros((int(stage_of.max()) + 1, grid.size), dtype=bool)
            for t, k in zip(treats, stage_of.tolist(), strict=True):
                v = held[(t.id, "p")]
                stage_runs[k] |= np.isnan(v) | (v >= t.running_threshold_kw)
            ok = ~(p >= self._params.off_ratio * prod.running_threshold_kw) | stage_runs.all(axis=0)
        return bool(ok.all())

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str, since: datetime,
                   until: datetime) -> list[AlertDraft]:
        prod, treats = self._devices(subject)
        maint = await self._maintenance(conn, subject, since, until)
        grid, (prod_kw, *treat_rows) = await unit_power(conn, cache, [prod, *treats], since, until,
                                                        self._params.max_hold_s, maint)
        treat_kw = np.vstack(treat_rows)
        thresholds = np.array([t.running_threshold_kw for t in treats], dtype=np.float64)
        findings = treatment_off(grid, prod_kw, treat_kw, prod.running_threshold_kw,
                                 thresholds, self._params, self._stage_of(prod))
        return [self._draft(prod, treats, f) for f in findings]

    def _draft(self, prod: Device, treats: list[Device], f: Finding) -> AlertDraft:
        facts = f.facts
        dur = facts["duration_min"]
        stage_of = self._stage_of(prod).tolist()
        off = set(facts.get("stages_off", range(len(treats))))
        # the meters of the stages that were off (every meter of a 1.0 registry's only stage)
        named = [(t, kw) for t, kw, k in zip(treats, facts["treatment_max_kw"], stage_of, strict=True) if k in off]
        facts["stages_off_devices"] = [[t.id for t, k in zip(treats, stage_of, strict=True) if k == s]
                                       for s in sorted(off)]
        treatment = Join(Phrase("at_no_data", name=t.label) if kw is None
                         else Phrase("at_power", name=t.label, kw=format(kw, "g")) for t, kw in named)
        summary_en, summary_zh = summary(
            "treatment_off", production=prod.label, production_kw=format(facts["production_mean_kw"], "g"),
            treatment=treatment,
            off_below="/".join(f"{x:g}" for x, k in zip(facts["treatment_off_below_kw"], stage_of, strict=True)
                               if k in off),
            duration=format(dur, "g"), state=state(f.end_s))
        return AlertDraft(
            rule=RULE_ID, subject=prod.id, enterprise_id=prod.enterprise_id,
            device_ids=(prod.id, *(t.id for t in treats)),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=summary_en, summary_zh=summary_zh,
            params={
                "min_duration_min": self._params.min_duration_min,
                "off_ratio": self._params.off_ratio,
                "max_hold_s": self._params.max_hold_s,
                "production_on_kw": prod.running_threshold_kw,
                "treatment_on_kw": {t.id: t.running_threshold_kw for t in treats},
                "stages": [list(st) for st in (prod.stages or tuple((t,) for t in prod.treated_by))],
                "suppressed_by_maintenance": self._params.suppressed_by_maintenance,
            },
            evidence={"facts": facts, "metric": "p",
                      "devices": {d.id: d.label for d in (prod, *treats)}},
        )
