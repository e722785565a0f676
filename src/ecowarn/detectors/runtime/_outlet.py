"""Private base of the CEMS rule evaluators: one stack outlet and the production it serves.

An outlet's production is its ``serves`` power meters; it runs when any of them runs
(hysteresis on each meter's running threshold, readings held ``DEFAULT_HOLD_S``). An
outlet serving no meter, or whose meters have no data, never counts as running, so
the rules that need production running (flatline, o2_dilution, bypass_suspected)
stay silent rather than guess. CEMS values go on the minute grid by
:func:`~detectors._load.binned_on_grid` (one value per minute, nothing carried over).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import BoolArray, Finding, FloatArray, IntArray, minute_grid
from ecowarn.detectors.hj75 import HJ75Params, HourlyMeans, flag_in, hourly_means
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import Evaluator, devices_of, outlet_en
from ecowarn.detectors.runtime._load import (
    DEFAULT_HOLD_S,
    Maintenance,
    Series,
    StrArray,
    binned_on_grid,
    covered_mask,
    epoch,
    held_on_grid,
    load_series,
    production_running,
)
from ecowarn.detectors.runtime.contract import Window, utc
from ecowarn.i18n import Join, Phrase

__all__ = ["CEMS_METRICS", "POLLUTANTS", "HourlyOutletEvaluator", "OutletData", "OutletEvaluator",
           "hourly_of", "seg_bounds", "split_subject"]

POLLUTANTS = ("so2", "nox", "pm", "co")
CEMS_METRICS = (*POLLUTANTS, "o2", "flow", "temp", "pressure", "humidity")


def split_subject(subject: str) -> tuple[str, str | None]:
    """``"<cems id>/<metric>"`` -> (cems id, metric); a bare id -> (id, None)."""
    dev, _, metric = subject.partition("/")
    return dev, metric or None


@dataclass(frozen=True, slots=True)
class OutletData:
    """One outlet over a grid: binned CEMS metrics, production state, maintenance."""

    grid: IntArray
    values: dict[str, FloatArray]
    flags: dict[str, StrArray]
    running: BoolArray
    production_kw: dict[str, FloatArray]
    covered: BoolArray
    maintenance: list[Maintenance]


class OutletEvaluator(Evaluator):
    """Subjects per outlet (``per_metric`` False) or per outlet and metric."""

    metrics: tuple[str, ...] = ()  # subject metrics when per metric
    needs_production: bool = True

    def __init__(self, registry: Registry, metrics: tuple[str, ...] | None = None, *,
                 per_metric: bool, only_limited: bool = False) -> None:
        super().__init__()
        self._registry = registry
        for dev in registry.devices.values():
            if dev.kind != "cems":
                continue
            touched = [dev.id, *(dev.serves if self.needs_production else ())]
            if not per_metric:
                self._add_subject(dev.id, touched)
                continue
            for m in metrics or ():
                if only_limited and m not in dev.limits:
                    continue
                self._add_subject(f"{dev.id}/{m}", touched)

    def outlet(self, subject: str) -> Device:
        return self._registry.devices[split_subject(subject)[0]]

    def served(self, subject: str) -> list[Device]:
        return devices_of(self._registry.devices, self.outlet(subject).serves)

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        """The subject's own metric of its outlet (subjects per metric); evaluators with
        subjects per outlet override it."""
        dev, metric = split_subject(subject)
        return [(dev, metric or "")]

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [split_subject(subject)[0]]

    async def _outlet_data(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str,
                           metrics: tuple[str, ...], since: datetime, until: datetime,
                           *, honour_maintenance: bool = True) -> OutletData:
        """The outlet's binned ``metrics`` over ``[since, until]`` and its production state.

        With ``honour_maintenance`` (and the rule suppressed by maintenance) the minutes a
        declaration covers are blanked; baselines learn from every valid minute instead.
        """
        cems = self.outlet(subject)
        served = self.served(subject) if self.needs_production else []
        grid = minute_grid(epoch(since), epoch(until))
        # One query for the outlet's metrics and its production's power (pairs that do not
        # exist cost one index probe each).
        data = await load_series(conn, cache, [cems.id, *(d.id for d in served)],
                                 (*metrics, *(("p",) if served else ())),
                                 since - timedelta(seconds=DEFAULT_HOLD_S), until)
        power = data
        maint = (await self._maintenance(conn, subject, since, until)) if honour_maintenance else []
        covered = covered_mask(grid, maint)
        values: dict[str, FloatArray] = {}
        flags: dict[str, StrArray] = {}
        for m in metrics:
            v, f = binned_on_grid(data[(cems.id, m)], grid)
            if maint:
                v = np.where(covered, np.nan, v)
                f = np.where(covered, "", f)
            values[m], flags[m] = v, f
        by_dev = {d.id: power.get((d.id, "p"), Series.empty()) for d in served}
        running = production_running(by_dev, served, grid)
        prod_kw = {d.id: held_on_grid(by_dev[d.id], grid) for d in served}
        return OutletData(grid, values, flags, running, prod_kw, covered, maint)

    def production_phrase(self, subject: str, data: OutletData, lo: int,
                          hi: int) -> tuple[Join, dict[str, float | None]]:
        """The served production's mean power over ``[lo, hi)``: in words, and as facts."""
        means: dict[str, float | None] = {}
        for dev in self.served(subject):
            seg = data.production_kw[dev.id][lo:hi]
            means[dev.id] = round(float(np.nanmean(seg)), 1) if np.isfinite(seg).any() else None
        words = Join((Phrase("at_no_data", name=d.label) if means[d.id] is None
                      else Phrase("at_power", name=d.label, kw=f"{means[d.id]:g}") for d in self.served(subject)),
                     empty=Phrase("its_production"))
        return words, means

    def _production_draft(self, subject: str, metric: str, f: Finding, facts: dict[str, Any],
                          summary: str, summary_zh: str, params: dict[str, Any]) -> AlertDraft:
        """The alert of a finding on the outlet's ``metric`` while its production runs, on the
        outlet and the meters it serves: ``params`` (the rule's own) followed by the meters'
        running thresholds and whether maintenance suppresses the rule."""
        cems = self.outlet(subject)
        served = self.served(subject)
        return AlertDraft(
            rule=self.rule, subject=subject, enterprise_id=cems.enterprise_id,
            device_ids=(cems.id, *(d.id for d in served)),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=summary, summary_zh=summary_zh,
            params={**params, "production_on_kw": {d.id: d.running_threshold_kw for d in served},
                    "suppressed_by_maintenance": self.suppressed_by_maintenance},
            evidence={"facts": facts, "metric": metric, "metrics": [metric],
                      "devices": {cems.id: outlet_en(cems), **{d.id: d.label for d in served}}},
        )


class HourlyOutletEvaluator(OutletEvaluator):
    """Rules over complete HJ 75 hours: data inside the hour in progress changes nothing."""

    align_s = 3600
    needs_production = False

    def _nothing_new(self, window: Window, until: datetime) -> bool:
        u, t0, t1 = epoch(until), epoch(window.t_min), epoch(window.t_max)
        # New minutes all in the latest hour, which they do not complete (its last minute is
        # :59): every complete hour is as it was. The first ten minutes of an hour are always
        # evaluated, in case the previous hour was left without its last minute.
        return (t0 // 3600 == u // 3600 and t1 <= u and 600 <= u % 3600 < 3600 - 60
                and t0 % 3600 >= 600)

    def _hourly_draft(self, subject: str, metric: str, f: Finding, facts: dict[str, Any],
                      summary: str, summary_zh: str, params: dict[str, Any]) -> AlertDraft:
        """The alert of a finding on hourly means of the outlet's ``metric`` (O2-corrected):
        the hourly limit and reference O2, then ``params`` (the rule's own) and whether
        maintenance suppresses the rule."""
        cems = self.outlet(subject)
        return AlertDraft(
            rule=self.rule, subject=subject, enterprise_id=cems.enterprise_id,
            device_ids=(cems.id,),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=summary, summary_zh=summary_zh,
            params={"limit": facts["limit"], "ref_o2_pct": cems.ref_o2, **params,
                    "suppressed_by_maintenance": self.suppressed_by_maintenance},
            evidence={"facts": facts, "metric": metric, "metrics": [metric, "o2"],
                      "devices": {cems.id: outlet_en(cems)}},
        )


def seg_bounds(grid: IntArray, start_s: int, end_s: int | None) -> tuple[int, int]:
    """Grid indices ``[lo, hi)`` of an episode."""
    lo = int(np.searchsorted(grid, start_s))
    hi = grid.size if end_s is None else int(np.searchsorted(grid, end_s))
    return lo, hi


async def hourly_of(ev: OutletEvaluator, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str,
                    since: datetime, until: datetime,
                    params: HJ75Params) -> tuple[HourlyMeans, OutletData, float, bool]:
    """HJ 75 hourly means of one pollutant of one outlet (subject ``<cems>/<metric>``).

    Minutes count when the pollutant and O2 are flagged ``N`` (and no maintenance
    covers them when the rule honours maintenance). Returns the means, the minute
    data, the reference O2 used and whether values were O2-converted: an outlet
    without ``ref_o2`` is judged on measured concentrations.
    """
    cems = ev.outlet(subject)
    metric = split_subject(subject)[1]
    assert metric is not None
    data = await ev._outlet_data(conn, cache, subject, (metric, "o2"), since, until)
    valid = flag_in(data.flags[metric], "N")
    if cems.ref_o2 is None:
        o2 = np.zeros(data.grid.shape)
        ref, conv = 0.0, False
    else:
        o2 = data.values["o2"]
        valid &= flag_in(data.flags["o2"], "N")
        ref, conv = float(cems.ref_o2), True
    hourly = hourly_means(data.grid, data.values[metric], o2, valid, ref, params)
    return hourly, data, ref, conv
