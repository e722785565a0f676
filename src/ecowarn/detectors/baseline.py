"""Robust baselines ("typical running value") learned from history, with a rated fallback.

A baseline is the median of a series over a trailing window, counting only the
points where the equipment was running, with its spread as the MAD scaled to a
normal standard deviation (``1.4826 * MAD``). With fewer than ``min_samples`` such
points the baseline falls back to a rated value (e.g. ``rated_kw``), and says so in
``source`` so that alerts can tell which one they used.

Two forms:

- Batch: :func:`learn_baseline` over the raw trailing window (exact).
- Incremental: keep one :class:`DaySummary` per day (:func:`summarize_day`: the
  count and ``n_quantiles`` evenly spaced quantiles of that day's running values),
  then :func:`merge_summaries` over the days in the window. Each quantile stands
  for ``n / n_quantiles`` samples; the merged median and MAD are weighted medians
  over all days' quantile points. Memory is bounded (days x ``n_quantiles``
  floats) and the result approximates the batch form within the quantile spacing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import median_abs_deviation

from ecowarn.detectors._core import BoolArray, FloatArray, IntArray
from ecowarn.detectors._series import as_float, check_1d

__all__ = [
    "MAD_TO_SD",
    "Baseline",
    "BaselineParams",
    "DaySummary",
    "learn_baseline",
    "merge_summaries",
    "rated_baseline",
    "summarize_day",
]

MAD_TO_SD = 1.4826
DAY_S = 86_400

BaselineSource = Literal["learned", "rated"]


@dataclass(frozen=True, slots=True)
class BaselineParams:
    # Trailing window of history, seconds (default 30 days).
    window_s: int = 30 * DAY_S
    # Running samples needed before the learned value replaces the rated one.
    min_samples: int = 1440
    # Quantiles kept per day by the incremental form.
    n_quantiles: int = 64

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError("window_s must be positive")
        if self.min_samples < 1:
            raise ValueError("min_samples must be at least 1")
        if self.n_quantiles < 2:
            raise ValueError("n_quantiles must be at least 2")


@dataclass(frozen=True, slots=True)
class Baseline:
    """A typical value; ``mad`` is the normal-scaled MAD (None for a rated fallback)."""

    value: float
    mad: float | None
    n: int
    source: BaselineSource

    def __post_init__(self) -> None:
        if not np.isfinite(self.value):
            raise ValueError("baseline value must be finite")

    def facts(self, prefix: str = "baseline") -> dict[str, Any]:
        """The baseline as evidence: value, spread, sample count and source."""
        return {
            prefix: round(self.value, 3),
            f"{prefix}_mad": None if self.mad is None else round(self.mad, 3),
            f"{prefix}_n": self.n,
            f"{prefix}_source": self.source,
        }


def rated_baseline(rated: float, n: int = 0) -> Baseline:
    """The fallback: a rated value, with the number of history samples that were found."""
    return Baseline(value=float(rated), mad=None, n=n, source="rated")


def learn_baseline(times_s: IntArray, values: FloatArray, running: BoolArray, until_s: int,
                   rated: float | None, params: BaselineParams) -> Baseline | None:
    """Median and scaled MAD of finite running values in ``[until_s - window_s, until_s)``.

    Falls back to ``rated`` with too few samples; None when there is no fallback.
    """
    t = np.asarray(times_s, dtype=np.int64)
    v = as_float(values)
    r = np.asarray(running, dtype=bool)
    check_1d(t, values=v, running=r)
    sel = r & np.isfinite(v) & (t >= until_s - params.window_s) & (t < until_s)
    sample = v[sel]
    if sample.size < params.min_samples:
        return None if rated is None else rated_baseline(rated, int(sample.size))
    mad = float(median_abs_deviation(sample, scale="normal"))
    return Baseline(value=float(np.median(sample)), mad=mad, n=int(sample.size), source="learned")


@dataclass(frozen=True, slots=True)
class DaySummary:
    """One day's running values: start of day, count, evenly spaced quantiles."""

    day_s: int
    n: int
    quantiles: tuple[float, ...]


def summarize_day(day_s: int, values: FloatArray, running: BoolArray,
                  params: BaselineParams) -> DaySummary:
    """Summary of one day's finite running values (the caller slices the day)."""
    v = as_float(values)
    sample = v[np.asarray(running, dtype=bool) & np.isfinite(v)]
    if sample.size == 0:
        return DaySummary(day_s=day_s, n=0, quantiles=())
    probs = (np.arange(params.n_quantiles) + 0.5) / params.n_quantiles
    qs = np.quantile(sample, probs)
    return DaySummary(day_s=day_s, n=int(sample.size), quantiles=tuple(float(q) for q in qs))


def merge_summaries(summaries: Sequence[DaySummary], until_s: int, rated: float | None,
                    params: BaselineParams) -> Baseline | None:
    """Baseline from the day summaries with ``until_s - window_s <= day_s < until_s``."""
    days = [d for d in summaries
            if until_s - params.window_s <= d.day_s < until_s and d.n > 0]
    n = sum(d.n for d in days)
    if n < params.min_samples:
        return None if rated is None else rated_baseline(rated, n)
    points = np.concatenate([np.asarray(d.quantiles, dtype=np.float64) for d in days])
    weights = np.concatenate([np.full(len(d.quantiles), d.n / len(d.quantiles)) for d in days])
    med = _weighted_median(points, weights)
    mad = _weighted_median(np.abs(points - med), weights) * MAD_TO_SD
    return Baseline(value=med, mad=mad, n=n, source="learned")


def _weighted_median(x: FloatArray, w: FloatArray) -> float:
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.cumsum(w[order])
    half = cw[-1] / 2.0
    i = int(np.searchsorted(cw, half, side="left"))
    if np.isclose(cw[i], half) and i + 1 < xs.size:
        return float((xs[i] + xs[i + 1]) / 2.0)
    return float(xs[i])
