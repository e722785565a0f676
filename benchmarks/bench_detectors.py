"""Re-evaluating a province-day through the pure detectors, against a per-reading Python loop.

    .venv/bin/python benchmarks/bench_detectors.py [--meters 10000] [--outlets 2000]
                                                   [--naive-fraction 0.02] [--seed 1]

One day of minute data, generated in memory with numpy:

- ``--meters`` power meters as production + treatment pairs (production runs around the
  clock or on a day shift, treatment follows it; outages, blips and planned stops are
  laid over some pairs); ``treatment_off`` runs once per production unit, as the runner
  calls it;
- ``--outlets`` CEMS outlets (so2, nox, pm, o2 with HJ 212 flags, the served production's
  power; exceedances, frozen values, dilution, values pinned under the limit and
  M/C/D marking laid over some): per outlet the runner's work for the CEMS rules —
  hourly means per HJ 75 for each pollutant -> ``emission_exceedance`` and
  ``pinned_below_limit``; ``flatline`` on so2, nox, pm and o2; ``o2_dilution``;
  ``undeclared_marking``.

(a) ecowarn: the pure detectors of ``detectors/`` (numpy), one call per subject, as the
    runner calls them;
(b) baseline: the same logic written as a straightforward loop over every reading in
    plain Python (hysteresis, runs, hourly sums, rolling windows), run on a random
    ``--naive-fraction`` of the subjects and extrapolated linearly to all of them
    (the output says so). Its findings are compared with (a)'s on that subset.

Prints absolute times, throughput, the ratio (b)/(a) and the targets: a province-day under
60 s on 2 cores, ratio at least 20x.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecowarn.detectors.exceedance import ExceedanceParams, exceedance_from_hourly  # noqa: E402
from ecowarn.detectors.flatline import FlatlineParams, flatline  # noqa: E402
from ecowarn.detectors.hj75 import flag_in, hourly_means  # noqa: E402
from ecowarn.detectors.marking import MarkingParams, undeclared_marking  # noqa: E402
from ecowarn.detectors.o2_dilution import O2DilutionParams, o2_dilution  # noqa: E402
from ecowarn.detectors.pinned import PinnedParams, pinned_from_hourly  # noqa: E402
from ecowarn.detectors.running import ON, running_state  # noqa: E402
from ecowarn.detectors.treatment_off import TreatmentOffParams, treatment_off  # noqa: E402

N_MIN = 1440
T0 = 1_795_795_200  # 2026-11-25T00:00:00+08:00, on a whole hour
POLLUTANTS = ("so2", "nox", "pm")
FLAT_METRICS = ("so2", "nox", "pm", "o2")
TARGET_S = 60.0
TARGET_RATIO = 20.0

RULES = ("treatment_off", *(f"{r} {m}" for m in POLLUTANTS for r in ("exceedance", "pinned")),
         *(f"flatline {m}" for m in FLAT_METRICS), "o2_dilution", "marking")

TOFF = TreatmentOffParams()
EXC = ExceedanceParams()
PIN = PinnedParams()
FLAT = FlatlineParams()
O2P = O2DilutionParams()
MARK = MarkingParams()


# --- data ---------------------------------------------------------------------------------


@dataclass
class Power:
    prod_kw: np.ndarray  # (pairs, n)
    treat_kw: np.ndarray  # (pairs, n)
    prod_on: np.ndarray  # (pairs,) running thresholds
    treat_on: np.ndarray


@dataclass
class Cems:
    conc: dict[str, np.ndarray]  # metric -> (outlets, n); o2 included
    flags: dict[str, np.ndarray]  # metric -> (outlets, n) '<U1'
    prod_kw: np.ndarray  # (outlets, n)
    prod_on: np.ndarray
    limits: np.ndarray  # (outlets, 3)
    ref_o2: np.ndarray  # (outlets,)


def _runs_mask(rng: np.random.Generator, rows: np.ndarray, n: int, lo: int, hi: int) -> np.ndarray:
    """A (len(rows), n) mask with one run of random length [lo, hi] at a random place per row."""
    mask = np.zeros((rows.size, n), dtype=bool)
    length = rng.integers(lo, hi + 1, rows.size)
    start = rng.integers(0, n - length)
    idx = np.arange(n)
    mask[:] = (idx >= start[:, None]) & (idx < (start + length)[:, None])
    return mask


def make_power(pairs: int, rng: np.random.Generator) -> Power:
    n = N_MIN
    rated = rng.uniform(100, 1200, pairs)
    t_rated = rated * rng.uniform(0.15, 0.3, pairs)
    minute = np.arange(n)
    shift = rng.random(pairs) < 0.3
    s0 = rng.integers(470, 490, pairs)[:, None]
    s1 = rng.integers(1190, 1210, pairs)[:, None]
    on = np.where(shift[:, None], (minute >= s0) & (minute < s1), True)
    load = np.clip(rng.uniform(0.7, 0.9, (pairs, 1)) + rng.normal(0, 0.03, (pairs, n)), 0.5, 1.0)
    prod = np.where(on, load * rated[:, None], rated[:, None] * rng.uniform(0.002, 0.02, (pairs, n)))
    t_on = on.copy()
    # Planned stops (production and treatment), outages, blips.
    stop_rows = rng.choice(pairs, pairs // 10, replace=False)
    stop = _runs_mask(rng, stop_rows, n, 60, 240)
    t_on[stop_rows] &= ~stop
    prod[stop_rows] = np.where(stop, rated[stop_rows, None] * 0.01, prod[stop_rows])
    out_rows = rng.choice(pairs, pairs // 10, replace=False)
    t_on[out_rows] &= ~_runs_mask(rng, out_rows, n, 15, 60)
    blip_rows = rng.choice(pairs, pairs // 10, replace=False)
    t_on[blip_rows] &= ~_runs_mask(rng, blip_rows, n, 2, 8)
    # Idling just under the threshold: production between the off and on thresholds.
    idle_rows = rng.choice(pairs, pairs // 20, replace=False)
    idle = _runs_mask(rng, idle_rows, n, 30, 90)
    prod[idle_rows] = np.where(idle, rated[idle_rows, None] * rng.uniform(0.082, 0.097, idle.shape),
                               prod[idle_rows])
    treat = np.where(t_on, t_rated[:, None] * np.clip(0.7 + rng.normal(0, 0.02, (pairs, n)), 0.4, 1),
                     rng.uniform(0, 2.0, (pairs, n)))
    return Power(np.round(prod, 2), np.round(treat, 2), 0.1 * rated, 0.1 * t_rated)


def make_cems(outlets: int, rng: np.random.Generator) -> Cems:
    n = N_MIN
    rated = rng.uniform(300, 1500, outlets)
    prod = rated[:, None] * np.clip(rng.uniform(0.7, 0.9, (outlets, 1))
                                    + rng.normal(0, 0.03, (outlets, n)), 0.5, 1.0)
    stop_rows = rng.choice(outlets, outlets // 10, replace=False)
    stop = _runs_mask(rng, stop_rows, n, 120, 480)
    prod[stop_rows] = np.where(stop, rated[stop_rows, None] * 0.01, prod[stop_rows])
    limits = np.column_stack([np.full(outlets, 35.0), np.full(outlets, 50.0), np.full(outlets, 10.0)])
    ref = rng.choice([6.0, 8.0, 10.0], outlets)
    o2 = np.clip(rng.uniform(8.5, 11.5, (outlets, 1)) + rng.normal(0, 0.3, (outlets, n)), 6, 20.9)
    o2[stop_rows] = np.where(stop, 20.5, o2[stop_rows])
    conc: dict[str, np.ndarray] = {}
    factor = (21 - o2) / (21 - ref[:, None])
    for k, m in enumerate(POLLUTANTS):
        conv = limits[:, k:k + 1] * np.clip(rng.uniform(0.3, 0.6, (outlets, 1))
                                            + rng.normal(0, 0.05, (outlets, n)), 0.05, 0.9)
        conc[m] = conv * factor
    # Exceedances, pinned values, frozen values, dilution.
    exc_rows = rng.choice(outlets, outlets // 10, replace=False)
    exc = _runs_mask(rng, exc_rows, n, 90, 300)
    conc["so2"][exc_rows] = np.where(exc, conc["so2"][exc_rows] * 3.0, conc["so2"][exc_rows])
    pin_rows = rng.choice(outlets, outlets // 20, replace=False)
    pin = _runs_mask(rng, pin_rows, n, 420, 720)
    pinned = limits[pin_rows, 1:2] * 0.95 * (1 + rng.normal(0, 0.005, pin.shape)) * factor[pin_rows]
    conc["nox"][pin_rows] = np.where(pin, pinned, conc["nox"][pin_rows])
    dil_rows = rng.choice(outlets, outlets // 20, replace=False)
    dil = _runs_mask(rng, dil_rows, n, 40, 180)
    o2[dil_rows] = np.where(dil, rng.uniform(19.2, 20.3, dil.shape), o2[dil_rows])
    conc = {m: np.round(v, 3) for m, v in conc.items()}
    conc["o2"] = np.round(o2, 2)
    flat_rows = rng.choice(outlets, outlets // 20, replace=False)
    flat = _runs_mask(rng, flat_rows, n, 60, 300)
    pm = conc["pm"][flat_rows]
    first = np.argmax(flat, axis=1)
    conc["pm"][flat_rows] = np.where(flat, pm[np.arange(flat_rows.size), first][:, None], pm)
    flags = {m: np.full((outlets, n), "N", dtype="<U1") for m in FLAT_METRICS}
    mark_rows = rng.choice(outlets, outlets // 20, replace=False)
    mark = _runs_mask(rng, mark_rows, n, 30, 150)
    letters = rng.choice(np.array(["M", "C", "D"]), mark_rows.size)
    for m in POLLUTANTS:
        flags[m][mark_rows] = np.where(mark, letters[:, None], "N")
    return Cems(conc, flags, np.round(prod, 2), 0.1 * rated, limits, ref)


# --- (a) the pure detectors --------------------------------------------------------------------


def numpy_power(times: np.ndarray, pw: Power, rows: np.ndarray) -> list[Any]:
    out = []
    for i in rows.tolist():
        out.append(treatment_off(times, pw.prod_kw[i], pw.treat_kw[i:i + 1], float(pw.prod_on[i]),
                                 pw.treat_on[i:i + 1], TOFF))
    return out


def numpy_cems(times: np.ndarray, c: Cems, rows: np.ndarray) -> list[Any]:
    out = []
    hj75 = EXC.hj75()
    for i in rows.tolist():
        running = running_state(c.prod_kw[i], float(c.prod_on[i])) == ON
        o2 = c.conc["o2"][i]
        o2_ok = flag_in(c.flags["o2"][i], "N")
        found: list[Any] = []
        for k, m in enumerate(POLLUTANTS):
            valid = flag_in(c.flags[m][i], "N") & o2_ok
            hourly = hourly_means(times, c.conc[m][i], o2, valid, float(c.ref_o2[i]), hj75)
            found.append(exceedance_from_hourly(hourly, float(c.ref_o2[i]), float(c.limits[i, k]), EXC))
            found.append(pinned_from_hourly(hourly, float(c.limits[i, k]), PIN))
        for m in FLAT_METRICS:
            found.append(flatline(times, c.conc[m][i], c.flags[m][i], running, FLAT))
        found.append(o2_dilution(times, o2, running, O2P, valid=o2_ok))
        stack = np.vstack([c.flags[m][i] for m in FLAT_METRICS])
        found.append(undeclared_marking(times, stack, np.zeros(times.size, dtype=bool), MARK))
        out.append(found)
    return out


# --- (b) the per-reading Python loop ---------------------------------------------------------


def _state_loop(p: list[float], on: float, off: float) -> list[int]:
    mid = (on + off) / 2
    out, state, known = [], 0, False
    for x in p:
        if x != x:
            out.append(-1)
            known = False
            continue
        if x >= on:
            state = 1
        elif x < off:
            state = 0
        elif not known:
            state = 1 if x >= mid else 0
        known = True
        out.append(state)
    return out


def _episodes_loop(times: list[int], cond: list[bool], min_points: int) -> list[tuple[int, int, int | None]]:
    """(start index, start time, end time or None) of runs of at least ``min_points``."""
    out = []
    n = len(cond)
    start = -1
    for i in range(n + 1):
        c = cond[i] if i < n else False
        if c and start < 0:
            start = i
        elif not c and start >= 0:
            if i - start >= min_points:
                out.append((start, times[start], times[i] if i < n else None))
            start = -1
    return out


def naive_treatment_off(times: list[int], prod: list[float], treat: list[float], prod_on: float,
                        treat_on: float) -> list[tuple[int, int | None]]:
    ps = _state_loop(prod, prod_on, TOFF.off_ratio * prod_on)
    ts = _state_loop(treat, treat_on, TOFF.off_ratio * treat_on)
    cond = [a == 1 and b == 0 for a, b in zip(ps, ts, strict=True)]
    step = times[1] - times[0]
    min_points = math.ceil(TOFF.min_duration_min * 60 / step)
    out = []
    for s, t0, t1 in _episodes_loop(times, cond, min_points):
        end = len(cond) if t1 is None else (t1 - times[0]) // step
        seg_p = prod[s:end]
        _facts = (sum(seg_p) / len(seg_p), max(treat[s:end]))
        out.append((t0, t1))
    return out


def _hourly_loop(times: list[int], conc: list[float], o2: list[float], valid: list[bool],
                 ref: float) -> list[tuple[int, float, float, int, bool]]:
    """Per hour: (hour start, mean converted, std converted, valid minutes, complete)."""
    hours: dict[int, list[float]] = {}
    first = times[0] - times[0] % 3600
    last = times[-1]
    for t, c, x, ok in zip(times, conc, o2, valid, strict=True):
        h = t - t % 3600
        lst = hours.setdefault(h, [])
        if ok and c == c and x == x and x < EXC.o2_max_pct:
            lst.append(c * (21.0 - ref) / (21.0 - x))
    out = []
    step = times[1] - times[0]
    h = first
    while h <= last:
        vals = hours.get(h, [])
        n = len(vals)
        mean = sum(vals) / n if n else float("nan")
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / n) if n else float("nan")
        out.append((h, mean, std, n, h + 3600 <= last + step))
        h += 3600
    return out


def _hour_runs(hours: list[tuple[int, float, float, int, bool]],
               cond: list[bool]) -> list[tuple[int, int | None]]:
    c = [x and hr[4] for x, hr in zip(cond, hours, strict=True)]
    out = []
    start = -1
    for i in range(len(c) + 1):
        v = c[i] if i < len(c) else False
        if v and start < 0:
            start = i
        elif not v and start >= 0:
            ongoing = not any(hr[4] for hr in hours[i:])
            out.append((hours[start][0], None if ongoing else hours[i - 1][0] + 3600))
            start = -1
    return out


def naive_cems(times: list[int], conc: dict[str, list[float]], flags: dict[str, list[str]],
               prod: list[float], prod_on: float, limits: list[float], ref: float) -> list[Any]:
    running = [s == 1 for s in _state_loop(prod, prod_on, 0.8 * prod_on)]
    o2 = conc["o2"]
    o2_ok = [f == "N" for f in flags["o2"]]
    found: list[Any] = []
    for k, m in enumerate(POLLUTANTS):
        valid = [f == "N" and ok for f, ok in zip(flags[m], o2_ok, strict=True)]
        hours = _hourly_loop(times, conc[m], o2, valid, ref)
        lim = limits[k]
        exceed = [hr[3] >= EXC.min_valid_minutes and hr[1] > lim for hr in hours]
        found.append(_hour_runs(hours, exceed))
        band = [hr[3] >= PIN.min_valid_minutes and hr[4] and PIN.low_ratio * lim <= hr[1] <= PIN.high_ratio * lim
                for hr in hours]
        marked = [False] * len(hours)
        w = PIN.min_hours
        for i in range(len(hours) - w + 1):
            if all(band[i:i + w]):
                means = [hr[1] for hr in hours[i:i + w]]
                mu = sum(means) / w
                cv = math.sqrt(sum((x - mu) ** 2 for x in means) / w) / mu
                if cv < PIN.max_cv:
                    for j in range(i, i + w):
                        marked[j] = True
        found.append(_hour_runs(hours, marked))
    step = times[1] - times[0]
    for m in FLAT_METRICS:
        v, f = conc[m], flags[m]
        min_points = max(2, math.ceil(FLAT.min_duration_min * 60 / step))
        link = [False] * len(v)
        for i in range(1, len(v)):
            e0 = f[i - 1] == "N" and v[i - 1] == v[i - 1] and running[i - 1]
            e1 = f[i] == "N" and v[i] == v[i] and running[i]
            link[i] = e0 and e1 and abs(v[i] - v[i - 1]) <= FLAT.tolerance
        runs = []
        for s, _t0, t1 in _episodes_loop(times, link, 1):
            end = len(v) if t1 is None else (t1 - times[0]) // step
            if end - (s - 1) >= min_points:
                runs.append((times[s - 1], t1))
        found.append(runs)
    cond = [r and x >= O2P.o2_threshold_pct and ok for r, x, ok in zip(running, o2, o2_ok, strict=True)]
    found.append([(t0, t1) for _s, t0, t1 in _episodes_loop(
        times, cond, math.ceil(O2P.min_duration_min * 60 / step))])
    marked_any = [any(flags[m][i] in MARK.marking_flags for m in FLAT_METRICS) for i in range(len(times))]
    found.append([(t0, t1) for _s, t0, t1 in _episodes_loop(
        times, marked_any, math.ceil(MARK.min_duration_min * 60 / step))])
    return found


# --- running ---------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def spans(findings: list[Any]) -> list[tuple[int, int | None]]:
    return [(f.start_s, f.end_s) for f in findings]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meters", type=int, default=10_000, help="power meters (pairs = meters / 2)")
    ap.add_argument("--outlets", type=int, default=2_000, help="CEMS outlets")
    ap.add_argument("--naive-fraction", type=float, default=0.02,
                    help="share of subjects the Python loop runs on, then extrapolated (default 0.02)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    pairs = args.meters // 2
    rng = np.random.default_rng(args.seed)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}; one process (one core) for every timing")
    print(f"province-day: {args.meters:,} power meters ({pairs:,} production + treatment pairs), "
          f"{args.outlets:,} CEMS outlets, {N_MIN} minutes each")
    t_gen, (pw, cems) = timed(lambda: (make_power(pairs, rng), make_cems(args.outlets, rng)))
    values = args.meters * N_MIN + args.outlets * N_MIN * (len(FLAT_METRICS) + 1)
    print(f"generated {values:,} minute values in {t_gen:.1f} s (not timed below)")
    times = T0 + 60 * np.arange(N_MIN, dtype=np.int64)

    def report(label: str, t_pw: float, t_cems: float) -> float:
        total = t_pw + t_cems
        print(label)
        print(f"    treatment_off over {pairs:,} pairs   {t_pw:9.2f} s  ({pairs / t_pw:,.0f} pairs/s)")
        print(f"    CEMS rules over {args.outlets:,} outlets    {t_cems:9.2f} s  "
              f"({args.outlets / t_cems:,.0f} outlets/s)")
        print(f"    province-day                   {total:9.2f} s  ({values / total:,.0f} values/s)"
              f"  target < {TARGET_S:.0f} s: {'met' if total < TARGET_S else 'NOT met'}")
        return total

    t1_pw, res_pw = timed(lambda: numpy_power(times, pw, np.arange(pairs)))
    t1_cems, res_cems = timed(lambda: numpy_cems(times, cems, np.arange(args.outlets)))
    a = report("(a) ecowarn detectors, one call per subject (as the runner calls them):", t1_pw, t1_cems)
    ref_pw = [spans(r) for r in res_pw]
    ref_cems = [[spans(f) for f in r] for r in res_cems]
    n_find = sum(len(r) for r in ref_pw) + sum(len(f) for r in ref_cems for f in r)
    by_rule = [sum(len(r) for r in res_pw)] + [sum(len(r[j]) for r in res_cems) for j in range(len(RULES) - 1)]
    print(f"    {n_find:,} findings: "
          + ", ".join(f"{name} {k}" for name, k in zip(RULES, by_rule, strict=True)))

    k_pw = max(1, round(pairs * args.naive_fraction))
    k_cems = max(1, round(args.outlets * args.naive_fraction))
    sub_pw = np.sort(rng.choice(pairs, k_pw, replace=False)).tolist()
    sub_cems = np.sort(rng.choice(args.outlets, k_cems, replace=False)).tolist()
    tl = times.tolist()
    lists_pw = [(pw.prod_kw[i].tolist(), pw.treat_kw[i].tolist(), float(pw.prod_on[i]), float(pw.treat_on[i]))
                for i in sub_pw]
    lists_cems = [({m: cems.conc[m][i].tolist() for m in FLAT_METRICS},
                   {m: cems.flags[m][i].tolist() for m in FLAT_METRICS}, cems.prod_kw[i].tolist(),
                   float(cems.prod_on[i]), cems.limits[i].tolist(), float(cems.ref_o2[i]))
                  for i in sub_cems]
    tn_pw, naive_pw = timed(lambda: [naive_treatment_off(tl, *x) for x in lists_pw])
    tn_cems, naive_cems_out = timed(lambda: [naive_cems(tl, *x) for x in lists_cems])
    est_pw, est_cems = tn_pw * pairs / k_pw, tn_cems * args.outlets / k_cems
    est = est_pw + est_cems
    agree = (all(ref_pw[i] == naive_pw[j] for j, i in enumerate(sub_pw))
             and all(ref_cems[i] == naive_cems_out[j] for j, i in enumerate(sub_cems)))
    print(f"(b) per-reading Python loop, MEASURED on {k_pw:,} pairs and {k_cems:,} outlets "
          f"({args.naive_fraction:.0%}) and EXTRAPOLATED linearly to all:")
    print(f"    treatment_off  {tn_pw:7.2f} s measured -> {est_pw:9.1f} s for {pairs:,} pairs")
    print(f"    CEMS rules     {tn_cems:7.2f} s measured -> {est_cems:9.1f} s for {args.outlets:,} outlets")
    print(f"    province-day (extrapolated)    {est:9.1f} s")
    print(f"    findings identical to (a) on the subset: {'yes' if agree else 'NO'}")
    ratio = est / a
    print(f"ratio (b)/(a) per subject: {ratio:6.1f}x  target >= {TARGET_RATIO:.0f}x: "
          f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}")


if __name__ == "__main__":
    main()
