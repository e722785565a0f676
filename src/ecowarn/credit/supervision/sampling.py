"""Weighted random sampling without replacement, reproducible from a seed (双随机 draws).

:func:`select` is pure: the same candidates, count and seed give the same selection on any
machine and any Python 3 release. The steps (``ALGORITHM``), so that anyone can re-run a
draw from its published candidates, weights and seed:

1. Keep the candidates whose weight is above 0, sorted by enterprise id (code point order).
2. Each weight becomes whole units: ``round(weight * 1,000,000)`` (weights carry at most six
   decimals), so every sum below is exact.
3. ``rng = random.Random(seed)`` (Python's Mersenne Twister seeded with the integer), whose
   ``random()`` sequence Python guarantees not to change between releases.
4. For each pick: ``T`` = the units of the candidates not yet picked; ``r = min(floor(
   rng.random() * T), T - 1)``; walking the remaining candidates in id order and summing
   their units, the first whose running sum exceeds ``r`` is picked and leaves the pool.
5. Stop after ``count`` picks, or when no candidate is left (a count larger than the
   candidates selects them all).

Each pick chooses among the remaining candidates in proportion to their weights (successive
sampling), so a single pick selects a candidate with probability ``weight / total weight``.
Only ``random()``, integer sums and one multiplication are involved: no floating-point
function whose last digit could differ between platforms.
"""

from __future__ import annotations

import bisect
import itertools
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["ALGORITHM", "MAX_SEED", "UNITS_PER_WEIGHT", "Candidate", "new_seed", "select", "units"]

ALGORITHM: Final = "successive-mt19937-v1"
# Seeds are 0 .. 2**63 - 1 (a PostgreSQL bigint).
MAX_SEED: Final = 2**63 - 1
UNITS_PER_WEIGHT: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class Candidate:
    enterprise_id: str
    weight: float


def new_seed() -> int:
    """A fresh seed from the operating system's randomness, for a draw sent without one:
    53 bits, so that JavaScript reads it from JSON exactly."""
    return secrets.randbits(53)


def units(weight: float) -> int:
    """A weight in whole units (step 2)."""
    return max(0, round(weight * UNITS_PER_WEIGHT))


def select(candidates: Iterable[Candidate], count: int, seed: int) -> list[str]:
    """The enterprise ids picked, in the order they were picked (see the module's steps)."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed {seed} is outside 0..{MAX_SEED}")
    pool = sorted((c.enterprise_id, units(c.weight)) for c in candidates)
    ids = [eid for eid, _ in pool]
    if len(set(ids)) != len(ids):
        raise ValueError("an enterprise appears twice among the candidates")
    ids = [eid for eid, u in pool if u > 0]
    weights = [u for _, u in pool if u > 0]
    rng = random.Random(seed)
    picked: list[str] = []
    while ids and len(picked) < count:
        running = list(itertools.accumulate(weights))
        total = running[-1]
        r = min(int(rng.random() * total), total - 1)
        i = bisect.bisect_right(running, r)
        picked.append(ids.pop(i))
        weights.pop(i)
    return picked
