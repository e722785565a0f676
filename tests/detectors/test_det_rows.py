"""Row-batched detectors (``*_rows``): the same findings, facts included, as per subject.

Each test builds seeded random data with one subject per row: NaN gaps, flags (``N``,
``M``, ``C``, ``D`` and ``""`` for no reading), episodes that touch the first and last
grid minute, and hard negatives (values just inside the hysteresis band, runs one minute
short, hours one valid minute short, O2 at the conversion limit). Row ``i`` of a rows
variant must equal the per-subject function called on row ``i`` alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from ecowarn.detectors._core import runs
from ecowarn.detectors._rows import runs_rows
from ecowarn.detectors.exceedance import ExceedanceParams, emission_exceedance, emission_exceedance_rows
from ecowarn.detectors.flatline import FlatlineParams, flatline, flatline_rows
from ecowarn.detectors.hj75 import HJ75Params, flag_in, hourly_means, hourly_means_rows
from ecowarn.detectors.marking import MarkingParams, undeclared_marking, undeclared_marking_rows
from ecowarn.detectors.o2_dilution import O2DilutionParams, o2_dilution, o2_dilution_rows
from ecowarn.detectors.pinned import PinnedParams, pinned_below_limit, pinned_below_limit_rows
from ecowarn.detectors.running import running_state, running_state_rows
from ecowarn.detectors.treatment_off import TreatmentOffParams, treatment_off, treatment_off_rows

T0 = 1_795_363_200  # an hour boundary
SEEDS = [1, 2, 3, 4]


def grid(n: int, start: int = T0, step: int = 60) -> np.ndarray:
    return start + step * np.arange(n, dtype=np.int64)


def spans(rng: np.random.Generator, rows: int, n: int, lo: int, hi: int) -> np.ndarray:
    """One run of random length [lo, hi] per row; a third of them touch the first or last point."""
    length = rng.integers(lo, hi + 1, rows)
    start = rng.integers(0, np.maximum(n - length, 1))
    start[rng.random(rows) < 0.17] = 0
    end_rows = rng.random(rows) < 0.17
    start[end_rows] = np.maximum(n - length[end_rows], 0)
    idx = np.arange(n)
    return (idx >= start[:, None]) & (idx < (start + length)[:, None])


def random_flags(rng: np.random.Generator, rows: int, n: int, noise_share: float = 0.03) -> np.ndarray:
    """N flags with single M and "" minutes (``noise_share``) and M/C/D runs on some rows."""
    flags = np.full((rows, n), "N", dtype="<U1")
    noise = rng.random((rows, n)) / noise_share
    flags[noise < 2 / 3] = "M"
    flags[(noise >= 2 / 3) & (noise < 1)] = ""
    marked = spans(rng, rows, n, 20, 150) & (rng.random((rows, 1)) < 0.4)
    letters = rng.choice(np.array(["M", "C", "D"]), (rows, 1))
    return np.where(marked, letters, flags)


def with_gaps(rng: np.random.Generator, a: np.ndarray, share: float = 0.02) -> np.ndarray:
    out = a.copy()
    out[rng.random(a.shape) < share] = np.nan
    gap = spans(rng, a.shape[0], a.shape[1], 5, 40) & (rng.random((a.shape[0], 1)) < 0.3)
    out[gap] = np.nan
    return out


def test_runs_rows_equals_runs_per_row() -> None:
    """Row, start and end of every run match runs() of each row, for any density and width."""
    rng = np.random.default_rng(0)
    for shape in [(40, 37), (1, 1), (3, 1), (7, 2), (100, 300)]:
        for p in (0.0, 0.1, 0.5, 0.95, 1.0):
            m = rng.random(shape) < p
            r, s, e = runs_rows(m)
            expected = [(i, a, b) for i in range(shape[0]) for a, b in zip(*runs(m[i]), strict=True)]
            assert list(zip(r.tolist(), s.tolist(), e.tolist(), strict=True)) == expected


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


def test_flag_in_codes_equal_string_comparison() -> None:
    """<U1 flags compared as code points give the string comparison's mask; other widths too."""
    rng = np.random.default_rng(5)
    flags = rng.choice(np.array(["N", "M", "C", "D", "", "n", "Z"]), (20, 50))
    for letters in ("N", "MCD", "n", "X"):
        expected = np.zeros(flags.shape, bool)
        for letter in letters:
            expected |= flags == letter
        assert (flag_in(flags, letters) == expected).all()
        assert (flag_in(flags[:, ::3], letters) == expected[:, ::3]).all()
    wide = np.array(["N", "NN", "", "M"])
    assert flag_in(wide, "NM").tolist() == [True, False, False, True]


@pytest.mark.parametrize("seed", SEEDS)
def test_running_state_rows_equals_per_meter(seed: int) -> None:
    """Hysteresis per row equals running_state per meter: gaps, hold band, exact thresholds."""
    rng = np.random.default_rng(seed)
    rows, n = 60, 240
    on = rng.uniform(5, 10, rows)
    off = on * rng.uniform(0.5, 1.0, rows)
    off[::7] = on[::7]
    p = rng.uniform(0, 12, (rows, n))
    band = rng.random((rows, n)) < rng.uniform(0, 0.9, (rows, 1))
    p = np.where(band, (on[:, None] + off[:, None]) / 2 + rng.normal(0, 0.4, (rows, n)), p)
    p[:, ::17] = on[:, None]
    p[:, 5::23] = off[:, None]
    p[:, 7::29] = ((on + off) / 2)[:, None]
    p = with_gaps(rng, p, 0.05)
    for min_points in (1, 3):
        got = running_state_rows(p, on, off, min_points)
        for i in range(rows):
            assert (got[i] == running_state(p[i], float(on[i]), float(off[i]), min_points)).all()
    default = running_state_rows(p, on)
    for i in range(rows):
        assert (default[i] == running_state(p[i], float(on[i]))).all()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("units", [1, 2])
def test_treatment_off_rows_equals_per_unit(seed: int, units: int) -> None:
    """Findings per production unit equal treatment_off's, with one or two treatment units."""
    rng = np.random.default_rng(seed)
    rows, n = 300, 360
    params = TreatmentOffParams()
    rated = rng.uniform(100, 1000, rows)
    prod = rated[:, None] * rng.uniform(0.5, 1.0, (rows, n))
    stop = spans(rng, rows, n, 30, 120) & (rng.random((rows, 1)) < 0.3)
    prod[stop] = rated[np.nonzero(stop)[0]] * 0.01
    # Hard negatives: production idling just above its off threshold (held ON or OFF).
    idle = spans(rng, rows, n, 20, 60) & (rng.random((rows, 1)) < 0.2)
    prod[idle] = rated[np.nonzero(idle)[0]] * 0.1 * rng.uniform(0.81, 0.99, int(idle.sum()))
    prod = with_gaps(rng, prod)
    t_rated = rated[:, None] * rng.uniform(0.15, 0.3, (rows, units))
    treat = t_rated[:, :, None] * rng.uniform(0.6, 0.8, (rows, units, n))
    for j in range(units):
        # Outages of 8-12 minutes: the 10-minute duration is a hard edge.
        down = spans(rng, rows, n, 8, 12) | (spans(rng, rows, n, 20, 90) & (rng.random((rows, 1)) < 0.3))
        if j == 1:
            down |= rng.random((rows, 1)) < 0.5  # a second unit that is often off throughout
        treat[:, j][down] = rng.uniform(0, 2.0, int(down.sum()))
        treat[:, j] = with_gaps(rng, treat[:, j], 0.01)
    prod_on, treat_on = 0.1 * rated, 0.1 * t_rated
    t = grid(n)
    got = treatment_off_rows(t, prod, treat if units > 1 else treat[:, 0], prod_on,
                             treat_on if units > 1 else treat_on[:, 0], params)
    expected = [treatment_off(t, prod[i], treat[i], float(prod_on[i]), treat_on[i], params) for i in range(rows)]
    assert got == expected
    assert sum(map(len, got)) > 20
    assert any(f.end_s is None for r in got for f in r) and any(f.start_s == T0 for r in got for f in r)


def cems(rng: np.random.Generator, rows: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(so2, o2, flags, ref_o2): exceedances, pinned stretches, near-ambient O2, gaps."""
    ref = rng.choice([6.0, 8.0, 10.0], rows)
    o2 = np.clip(rng.uniform(8.5, 11.5, (rows, 1)) + rng.normal(0, 0.3, (rows, n)), 6, 20.9)
    o2[spans(rng, rows, n, 30, 120) & (rng.random((rows, 1)) < 0.3)] = 20.0  # not converted
    o2[rng.random((rows, n)) < 0.01] = 19.99
    factor = (21 - o2) / (21 - ref[:, None])
    conv = 35.0 * np.clip(rng.uniform(0.3, 0.6, (rows, 1)) + rng.normal(0, 0.05, (rows, n)), 0.05, 0.9)
    exc = spans(rng, rows, n, 60, 300) & (rng.random((rows, 1)) < 0.4)
    conv = np.where(exc, conv * 3.0, conv)
    pin = spans(rng, rows, n, 420, 900) & (rng.random((rows, 1)) < 0.3)
    conv = np.where(pin, 35.0 * 0.95 * (1 + rng.normal(0, 0.005, (rows, n))), conv)
    conc = np.round(with_gaps(rng, conv * factor), 3)
    o2 = np.round(with_gaps(rng, o2, 0.005), 2)
    flags = random_flags(rng, rows, n)
    # Hard negative: hours left one minute short of 45 valid minutes.
    short = rng.random(rows) < 0.2
    flags[short, 60:76] = "C"
    return conc, o2, flags, ref


HOURLY_FIELDS = ("hour_s", "mean_raw", "mean_o2", "mean_conv", "std_conv", "n_valid", "valid", "complete")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("offset_min", "n", "step"), [(0, 1440, 60), (17, 1000, 60), (0, 601, 60),
                                                        (0, 200, 300), (35, 150, 300)])
def test_hourly_means_rows_equal_per_subject_bit_for_bit(seed: int, offset_min: int, n: int, step: int) -> None:
    """Every column of every hour equals hourly_means', exactly: whole days, grids starting
    mid-hour, a last hour in progress, 5-minute grids."""
    rng = np.random.default_rng(seed)
    rows = 40
    conc, o2, flags, ref = cems(rng, rows, n)
    valid = flag_in(flags, "N") & (rng.random((rows, n)) < 0.97)
    t = grid(n, T0 + 60 * offset_min, step)
    params = HJ75Params()
    hm = hourly_means_rows(t, conc, o2, valid, ref, params)
    full = hm.rows(list(range(rows)))
    for i in range(rows):
        expected = hourly_means(t, conc[i], o2[i], valid[i], float(ref[i]), params)
        for name in HOURLY_FIELDS:
            assert np.array_equal(getattr(full[i], name), getattr(expected, name), equal_nan=True), name
        assert np.array_equal(hm.mean_conv[i], expected.mean_conv, equal_nan=True)
        assert (hm.n_valid[i] == expected.n_valid).all() and (hm.valid[i] == expected.valid).all()
    assert (hm.complete == full[0].complete).all() and (hm.hour_s == full[0].hour_s).all()


def test_hourly_means_rows_on_an_irregular_grid() -> None:
    """A grid with a missing minute is evaluated subject by subject, with the same numbers."""
    rng = np.random.default_rng(9)
    conc, o2, flags, ref = cems(rng, 5, 200)
    t = np.delete(grid(201), 100)
    valid = flag_in(flags, "N")
    hm = hourly_means_rows(t, conc, o2, valid, ref, HJ75Params())
    for i, got in enumerate(hm.rows([0, 1, 2, 3, 4])):
        expected = hourly_means(t, conc[i], o2[i], valid[i], float(ref[i]), HJ75Params())
        for name in HOURLY_FIELDS:
            assert np.array_equal(getattr(got, name), getattr(expected, name), equal_nan=True)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("offset_min", [0, 23])
def test_exceedance_and_pinned_rows_equal_per_outlet(seed: int, offset_min: int) -> None:
    """emission_exceedance and pinned_below_limit per row equal the per-outlet findings."""
    rng = np.random.default_rng(seed)
    rows, n = 120, 1440
    conc, o2, flags, ref = cems(rng, rows, n)
    valid = flag_in(flags, "N") & flag_in(np.where(rng.random((rows, n)) < 0.01, "M", "N"), "N")
    t = grid(n, T0 + 60 * offset_min)
    limit = rng.choice([35.0, 34.0], rows)
    exc, pin = ExceedanceParams(), PinnedParams()
    got_exc = emission_exceedance_rows(t, conc, o2, valid, ref, limit, exc)
    got_pin = pinned_below_limit_rows(t, conc, o2, valid, ref, limit, pin)
    for i in range(rows):
        assert got_exc[i] == emission_exceedance(t, conc[i], o2[i], valid[i], float(ref[i]), float(limit[i]), exc)
        assert got_pin[i] == pinned_below_limit(t, conc[i], o2[i], valid[i], float(ref[i]), float(limit[i]), pin)
    assert sum(map(len, got_exc)) > 10 and sum(map(len, got_pin)) > 3


def test_pinned_rows_shorter_than_the_window() -> None:
    """Fewer hours than min_hours give no finding for any row, as per outlet."""
    rng = np.random.default_rng(4)
    conc, o2, flags, ref = cems(rng, 4, 300)
    got = pinned_below_limit_rows(grid(300), conc, o2, flag_in(flags, "N"), ref, 35.0, PinnedParams())
    assert got == [[], [], [], []]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tolerance", [0.0, 0.05])
def test_flatline_rows_equal_per_outlet(seed: int, tolerance: float) -> None:
    """Frozen runs per row equal flatline's: flags, production stops, gaps, 119-minute runs."""
    rng = np.random.default_rng(seed)
    rows, n = 150, 720
    v = np.round(20 + rng.normal(0, 2, (rows, n)), 2)
    frozen = spans(rng, rows, n, 100, 300) & (rng.random((rows, 1)) < 0.5)
    first = v[np.arange(rows), np.argmax(frozen, axis=1)][:, None]
    wobble = rng.uniform(-0.02, 0.02, (rows, n)) if tolerance else 0.0
    v = np.where(frozen, first + wobble, v)
    exact = spans(rng, rows, n, 118, 121) & (rng.random((rows, 1)) < 0.3)
    v = np.where(exact, 7.5, v)
    v = with_gaps(rng, v, 0.002)
    running = ~(spans(rng, rows, n, 30, 200) & (rng.random((rows, 1)) < 0.3))
    flags = random_flags(rng, rows, n, noise_share=0.001)
    t = grid(n)
    params = FlatlineParams(tolerance=tolerance)
    got = flatline_rows(t, v, flags, running, params)
    assert got == [flatline(t, v[i], flags[i], running[i], params) for i in range(rows)]
    assert sum(map(len, got)) > 20


@pytest.mark.parametrize("seed", SEEDS)
def test_o2_dilution_rows_equal_per_outlet(seed: int) -> None:
    """Near-ambient O2 while running per row equals o2_dilution's, with and without validity."""
    rng = np.random.default_rng(seed)
    rows, n = 150, 600
    o2 = rng.uniform(8, 12, (rows, n))
    dil = spans(rng, rows, n, 50, 200) & (rng.random((rows, 1)) < 0.6)
    o2 = np.where(dil, rng.uniform(18.95, 20.5, (rows, n)), o2)
    o2[:, ::31] = 19.0
    o2 = with_gaps(rng, o2, 0.01)
    running = ~(spans(rng, rows, n, 30, 200) & (rng.random((rows, 1)) < 0.3))
    valid = flag_in(random_flags(rng, rows, n, noise_share=0.002), "N")
    t = grid(n)
    params = O2DilutionParams()
    for ok in (None, valid):
        got = o2_dilution_rows(t, o2, running, params, valid=ok)
        assert got == [o2_dilution(t, o2[i], running[i], params, valid=None if ok is None else ok[i])
                       for i in range(rows)]
        assert sum(map(len, got)) > 10


@pytest.mark.parametrize("seed", SEEDS)
def test_undeclared_marking_rows_equal_per_device(seed: int) -> None:
    """Marked, uncovered runs per row equal undeclared_marking's, for stacked or listed flags."""
    rng = np.random.default_rng(seed)
    rows, n, k = 150, 600, 3
    per_metric = [random_flags(rng, rows, n) for _ in range(k)]
    covered = spans(rng, rows, n, 20, 100) & (rng.random((rows, 1)) < 0.3)
    t = grid(n)
    params = MarkingParams()
    expected = [undeclared_marking(t, np.vstack([f[i] for f in per_metric]), covered[i], params)
                for i in range(rows)]
    assert undeclared_marking_rows(t, per_metric, covered, params) == expected
    assert undeclared_marking_rows(t, np.stack(per_metric, axis=1), covered, params) == expected
    single = undeclared_marking_rows(t, per_metric[0], covered, params)
    assert single == [undeclared_marking(t, per_metric[0][i], covered[i], params) for i in range(rows)]
    assert sum(map(len, expected)) > 20


def test_rows_variants_reject_mismatched_shapes() -> None:
    """Arrays that are not (rows, n) over the grid raise ValueError naming the problem."""
    t = grid(10)
    with pytest.raises(ValueError, match="values"):
        flatline_rows(t, np.zeros((2, 9)), np.full((2, 9), "N"), np.ones((2, 9), bool), FlatlineParams())
    with pytest.raises(ValueError, match="shapes"):
        treatment_off_rows(t, np.zeros((2, 10)), np.zeros((3, 10)), np.ones(2), np.ones(3), TreatmentOffParams())
    with pytest.raises(ValueError, match="off_kw"):
        running_state_rows(np.zeros((2, 10)), np.ones(2), np.full(2, 2.0))
    with pytest.raises(ValueError, match="ref_o2_pct"):
        hourly_means_rows(t, np.zeros((2, 10)), np.zeros((2, 10)), np.ones((2, 10), bool), 21.0, HJ75Params())
    with pytest.raises(ValueError, match="limit"):
        emission_exceedance_rows(t, np.zeros((2, 10)), np.zeros((2, 10)), np.ones((2, 10), bool), 10.0,
                                 np.array([1.0, 0.0]), ExceedanceParams())
