"""Shared helpers of the pure detectors (``detectors._core``)."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import runs


def test_runs_equals_the_difference_form() -> None:
    """runs() gives the starts and ends of the +1/-1 differences of the 0/1 mask, edges included."""
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 10, 500):
        for p in (0.0, 0.1, 0.5, 0.9, 1.0):
            m = rng.random(n) < p
            d = np.diff(np.concatenate(([0], m.astype(np.int8), [0])))
            starts, ends = runs(m)
            assert starts.dtype == ends.dtype == np.int64
            assert starts.tolist() == np.flatnonzero(d == 1).tolist()
            assert ends.tolist() == np.flatnonzero(d == -1).tolist()
