"""I/O side of ``treatment_off``: loads power series, runs the pure detector, drafts alerts.

Subject: a production meter with ``treated_by`` units. The window evaluated runs
from a look-back before the new data to the latest reading of the subject's
meters, so an episode still holding at the latest data is ongoing (``end`` null).
When a finding starts right at the window's left edge, the look-back is widened
so its true start is found.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from alerts.store import AlertDraft
from config.registry import Device, Registry
from detectors._core import Finding, align_to_grid, minute_grid
from detectors.runner import Window, utc
from detectors.treatment_off import RULE_ID, TreatmentOffParams, treatment_off

__all__ = ["TreatmentOffEvaluator", "load_power"]

_MAX_LOOKBACK = timedelta(days=3)


async def load_power(conn: psycopg.AsyncConnection[Any], device_ids: list[str],
                     since: datetime, until: datetime) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Active power per device as (epoch seconds int64, kW float64 with NaN for non-N flags)."""
    cur = await conn.execute(
        "SELECT device_id, extract(epoch FROM ts)::bigint, value, flag FROM readings"
        " WHERE device_id = ANY(%s) AND metric = 'p' AND ts >= %s AND ts <= %s"
        " ORDER BY device_id, ts",
        (device_ids, since, until),
    )
    rows = await cur.fetchall()
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for dev in device_ids:
        sel = [r for r in rows if r[0] == dev]
        t = np.fromiter((r[1] for r in sel), dtype=np.int64, count=len(sel))
        v = np.fromiter(((r[2] if r[2] is not None and r[3] == "N" else np.nan) for r in sel),
                        dtype=np.float64, count=len(sel))
        out[dev] = (t, v)
    return out


class TreatmentOffEvaluator:
    rule = RULE_ID

    def __init__(self, registry: Registry, params: TreatmentOffParams,
                 lookback: timedelta = timedelta(hours=2)) -> None:
        self._registry = registry
        self._params = params
        self._lookback = lookback
        self._subjects: dict[str, list[str]] = {}
        for dev in registry.production_devices():
            if dev.treated_by:
                self._subjects.setdefault(dev.id, []).append(dev.id)
                for t in dev.treated_by:
                    self._subjects.setdefault(t, []).append(dev.id)

    def subjects_for(self, device_id: str) -> Iterable[str]:
        return self._subjects.get(device_id, ())

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str,
                       window: Window) -> tuple[datetime, list[AlertDraft]]:
        prod = self._registry.devices[subject]
        treats = [self._registry.devices[t] for t in prod.treated_by]
        ids = [prod.id, *(t.id for t in treats)]
        cur = await conn.execute(
            "SELECT max(ts) FROM readings WHERE device_id = ANY(%s) AND metric = 'p'", (ids,))
        row = await cur.fetchone()
        latest = row[0] if row and row[0] is not None else window.t_max
        until = max(latest, window.t_max)
        lookback = self._lookback
        while True:
            since = window.t_min - lookback
            findings, grid = await self._run(conn, prod, treats, since, until)
            truncated = findings and findings[0].start_s <= int(grid[0])
            if not truncated or lookback >= _MAX_LOOKBACK:
                break
            lookback = min(lookback * 4, _MAX_LOOKBACK)
        return since, [self._draft(prod, treats, f) for f in findings]

    async def _run(self, conn: psycopg.AsyncConnection[Any], prod: Device, treats: list[Device],
                   since: datetime, until: datetime) -> tuple[list[Finding], np.ndarray]:
        hold = self._params.max_hold_s
        series = await load_power(conn, [prod.id, *(t.id for t in treats)],
                                  since - timedelta(seconds=hold), until)
        grid = minute_grid(int(since.timestamp()), int(until.timestamp()))
        p_t, p_v = series[prod.id]
        prod_kw = align_to_grid(p_t, p_v, grid, hold)
        treat_kw = np.vstack([align_to_grid(*series[t.id], grid, hold) for t in treats])
        thresholds = np.array([t.running_threshold_kw for t in treats], dtype=np.float64)
        findings = treatment_off(grid, prod_kw, treat_kw, prod.running_threshold_kw,
                                 thresholds, self._params)
        return findings, grid

    def _draft(self, prod: Device, treats: list[Device], f: Finding) -> AlertDraft:
        facts = f.facts
        dur = facts["duration_min"]
        treat_en = ", ".join(
            f"{t.label} at {kw:g} kW" for t, kw in zip(treats, facts["treatment_max_kw"], strict=True))
        treat_zh = "、".join(
            f"{t.label}（{kw:g} kW）" for t, kw in zip(treats, facts["treatment_max_kw"], strict=True))
        off_below = "/".join(f"{x:g}" for x in facts["treatment_off_below_kw"])
        state = "ongoing" if f.end_s is None else "ended"
        summary = (f"{prod.label} running at {facts['production_mean_kw']:g} kW while its treatment is "
                   f"off ({treat_en}; off below {off_below} kW) for {dur:g} min, {state}")
        zh_state = "仍在持续" if f.end_s is None else "已结束"
        summary_zh = (f"生产设施 {prod.label} 运行（平均 {facts['production_mean_kw']:g} kW），"
                      f"治污设施 {treat_zh} 未运行（低于 {off_below} kW 视为停运），"
                      f"持续 {dur:g} 分钟，{zh_state}")
        return AlertDraft(
            rule=RULE_ID, subject=prod.id, enterprise_id=prod.enterprise_id,
            device_ids=(prod.id, *(t.id for t in treats)),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=summary, summary_zh=summary_zh,
            params={
                "min_duration_min": self._params.min_duration_min,
                "off_ratio": self._params.off_ratio,
                "max_hold_s": self._params.max_hold_s,
                "production_on_kw": prod.running_threshold_kw,
                "treatment_on_kw": {t.id: t.running_threshold_kw for t in treats},
            },
            evidence={"facts": facts, "metric": "p",
                      "devices": {d.id: d.label for d in (prod, *treats)}},
        )
