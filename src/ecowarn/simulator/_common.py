"""Shared pieces: the local time zone, array types, seeded streams, the padded minute grid.

Every random stream is derived from ``(seed, key...)`` with numpy's ``SeedSequence``,
so a device's data depends on the seed and its own id, not on which other devices
the registry holds or in which order they come.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

__all__ = [
    "CST",
    "BoolArray",
    "FloatArray",
    "Grid",
    "IntArray",
    "ar1",
    "follow_asymmetric",
    "rng_for",
    "widen",
]

CST = timezone(timedelta(hours=8), "CST")
"""China Standard Time (UTC+8): shift schedules and the ``ts`` strings use it."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Minutes simulated before the requested start (warm-up of slow states such as
# flue-gas O2 and of the treatment lead/lag) and after its end.
PAD_BEFORE_MIN = 180
PAD_AFTER_MIN = 30


def rng_for(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent generator for ``seed`` and a path of keys (device id, stream name...)."""
    parts = [seed]
    for k in keys:
        parts.append(zlib.crc32(k.encode("utf-8")) if isinstance(k, str) else int(k))
    return np.random.default_rng(parts)


def ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> FloatArray:
    """A stationary AR(1) series of length ``n`` with lag-1 correlation ``phi`` and std ``sigma``."""
    if n == 0:
        return np.zeros(0)
    innov = rng.normal(0.0, sigma * math.sqrt(1.0 - phi * phi), n)
    x0 = rng.normal(0.0, sigma)
    out, _ = lfilter([1.0], [1.0, -phi], innov, zi=[phi * x0])
    return np.asarray(out, dtype=np.float64)


def follow_asymmetric(target: FloatArray, up: float, down: float, x0: float) -> FloatArray:
    """First-order lag towards ``target``: rate ``up`` per step when rising, ``down`` when falling."""
    out = np.empty_like(target)
    x = x0
    for i, t in enumerate(target.tolist()):
        x += (up if t > x else down) * (t - x)
        out[i] = x
    return out


def widen(mask: BoolArray, before: int, after: int) -> BoolArray:
    """True where ``mask`` is True within ``before`` steps ahead or ``after`` steps back.

    A treatment unit that starts ``before`` minutes ahead of its production and
    stops ``after`` minutes after it is on exactly on ``widen(production_on, before, after)``.
    """
    n = mask.size
    c = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
    idx = np.arange(n)
    lo = np.clip(idx - after, 0, n)
    hi = np.clip(idx + before + 1, 0, n)
    return np.asarray(c[hi] - c[lo] > 0)


@dataclass(frozen=True, slots=True)
class Grid:
    """The minute grid of a run: ``pad`` warm-up minutes, then the ``minutes`` requested, then more.

    ``t_s`` holds epoch seconds; ``sim`` slices the requested minutes out of any
    array on the grid.
    """

    start: datetime
    minutes: int
    pad: int
    t_s: IntArray

    @classmethod
    def build(cls, start: datetime, minutes: int) -> Grid:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be an aware datetime (with a UTC offset)")
        if start.second or start.microsecond:
            raise ValueError(f"start {start.isoformat()} is not on a whole minute")
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        t0 = int(start.timestamp()) - PAD_BEFORE_MIN * 60
        n = PAD_BEFORE_MIN + minutes + PAD_AFTER_MIN
        t_s = t0 + 60 * np.arange(n, dtype=np.int64)
        return cls(start=start, minutes=minutes, pad=PAD_BEFORE_MIN, t_s=t_s)

    @property
    def size(self) -> int:
        return int(self.t_s.size)

    @property
    def sim(self) -> slice:
        return slice(self.pad, self.pad + self.minutes)

    def index(self, when: datetime) -> int:
        """Grid index of the first minute at or after ``when``, clipped to the grid."""
        k = math.ceil((when - self.start).total_seconds() / 60.0)
        return max(0, min(self.size, self.pad + k))

    def span(self, start: datetime, end: datetime) -> slice:
        """Grid indices of the minutes in ``[start, end)``."""
        return slice(self.index(start), self.index(end))

    def local_minute_of_day(self) -> IntArray:
        return np.asarray(((self.t_s + 8 * 3600) // 60) % 1440, dtype=np.int64)

    def local_day(self) -> IntArray:
        """Days since 1970-01-01 in local time."""
        return np.asarray((self.t_s + 8 * 3600) // 86400, dtype=np.int64)

    def local_hour(self) -> FloatArray:
        return self.local_minute_of_day().astype(np.float64) / 60.0
