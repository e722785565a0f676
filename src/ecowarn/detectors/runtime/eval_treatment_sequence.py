"""I/O side of ``treatment_sequence`` (治污设施晚开早关): loads power series of a production
unit and its treatment stages, runs the pure rule, drafts one alert per start or stop event.

Subject: a production meter with ``treated_by`` stages, as for ``treatment_off``. The upper
bound of a gap is ``treatment_off``'s duration unless ``max_lag_min`` is set: a longer gap
while production runs is a ``treatment_off`` alert, not this one.
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
from ecowarn.detectors.runtime._evalbase import Evaluator
from ecowarn.detectors.runtime._load import reports_run_state, unit_power
from ecowarn.detectors.runtime.contract import utc
from ecowarn.detectors.treatment_sequence import RULE_ID, TreatmentSequenceParams, treatment_sequence
from ecowarn.i18n import Join, Phrase, summary

__all__ = ["TreatmentSequenceEvaluator"]


class TreatmentSequenceEvaluator(Evaluator):
    rule = RULE_ID
    held_grid = True

    def __init__(self, registry: Registry, params: TreatmentSequenceParams, max_lag_min: float,
                 lookback: timedelta = timedelta(hours=2)) -> None:
        super().__init__()
        self._registry = registry
        self._params = params
        self._max_lag_min = params.max_lag_min if params.max_lag_min is not None else max_lag_min
        self.lookback = lookback
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        for dev in registry.production_devices():
            if dev.treated_by:
                self._add_subject(dev.id, [dev.id, *dev.treated_by])

    def _devices(self, subject: str) -> tuple[Device, list[Device], list[tuple[str, ...]]]:
        prod = self._registry.devices[subject]
        stages = list(prod.stages or tuple((t,) for t in prod.treated_by))
        return prod, [self._registry.devices[t] for t in prod.treated_by], stages

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        prod, treats, _ = self._devices(subject)
        return [(d.id, "p") for d in (prod, *treats)]

    def tail_quiet(self, subject: str, cache: SeriesCache | None) -> bool:
        """At the last grid point the last full evaluation judged and at every new one,
        either production is decidedly off (below its off threshold), or production is
        decidedly on (at its running threshold) and every stage decidedly runs (a meter at
        its threshold). Then no production start or stop lies in the new minutes, and no late
        start or early stop judged before can be completed by them (a stage already ran, and
        production has not stopped): nothing can change. Anything else (a value in between,
        missing, a change of state) is evaluated in full."""
        prod, treats, stages = self._devices(subject)
        if any(reports_run_state(d) for d in (prod, *treats)):
            return False  # run states change what power means: evaluate in full
        tail = self._tail_held(subject, self.primary_keys(subject), self._params.max_hold_s, cache,
                               from_last=True)
        if tail is None:
            return False
        grid, held, _ = tail
        if grid.size <= 1:
            return True  # no new grid point
        with np.errstate(invalid="ignore"):
            p = held[(prod.id, "p")]
            if bool((p < self._params.off_ratio * prod.running_threshold_kw).all()):
                return True
            if not bool((p >= prod.running_threshold_kw).all()):
                return False
            stage_of = {d: k for k, stage in enumerate(stages) for d in stage}
            runs = np.zeros((len(stages), grid.size), dtype=bool)
            for t in treats:
                runs[stage_of[t.id]] |= held[(t.id, "p")] >= t.running_threshold_kw
        return bool(runs.all())

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [k[0] for k in self.primary_keys(subject)]

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str,
                   since: datetime, until: datetime) -> list[AlertDraft]:
        prod, treats, stages = self._devices(subject)
        maint = await self._maintenance(conn, subject, since, until)
        grid, (prod_kw, *treat_rows) = await unit_power(conn, cache, [prod, *treats], since, until,
                                                        self._params.max_hold_s, maint)
        stage_of = np.array([k for k, stage in enumerate(stages) for _ in stage], dtype=np.int64)
        findings = treatment_sequence(
            grid, prod_kw, np.vstack(treat_rows), prod.running_threshold_kw,
            np.array([t.running_threshold_kw for t in treats], dtype=np.float64), stage_of, self._params,
            self._max_lag_min)
        return [self._draft(prod, stages, f) for f in findings]

    def _draft(self, prod: Device, stages: list[tuple[str, ...]], f: Finding) -> AlertDraft:
        facts = f.facts
        labels = {d: self._registry.devices[d].label for st in stages for d in st}
        for entry in facts["stages"]:
            entry["devices"] = list(stages[entry["stage"]])
        named = Join(Phrase("stage_lag", name=" / ".join(labels[d] for d in stages[e["stage"]]),
                            minutes=format(e["lag_min"], "g"))
                     for e in facts["stages"])
        key = "treatment_sequence_start" if facts["event"] == "start" else "treatment_sequence_stop"
        summary_en, summary_zh = summary(key, production=prod.label, stages=named,
                                         max_lag=format(facts["max_lag_min"], "g"))
        device_ids = [prod.id, *dict.fromkeys(d for e in facts["stages"] for d in e["devices"])]
        return AlertDraft(
            rule=RULE_ID, subject=prod.id, enterprise_id=prod.enterprise_id, device_ids=tuple(device_ids),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=summary_en, summary_zh=summary_zh,
            params={
                "min_lag_min": self._params.min_lag_min,
                "max_lag_min": self._max_lag_min,
                "off_ratio": self._params.off_ratio,
                "max_hold_s": self._params.max_hold_s,
                "production_on_kw": prod.running_threshold_kw,
                "treatment_on_kw": {d: self._registry.devices[d].running_threshold_kw for d in labels},
                "stages": [list(st) for st in stages],
                "suppressed_by_maintenance": self._params.suppressed_by_maintenance,
            },
            evidence={"facts": facts, "metric": "p", "devices": {prod.id: prod.label, **labels}},
        )
