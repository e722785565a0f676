"""flatline: a CEMS value flagged N frozen for two hours while production runs."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import Finding
from ecowarn.detectors.flatline import FlatlineParams, flatline, flatline_tail

T0 = 1_795_363_200
P = FlatlineParams()


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def varying(n: int) -> np.ndarray:
    """A plausible varying concentration (no two consecutive values equal)."""
    return 20.0 + 5.0 * np.sin(np.arange(n) / 7.0) + 0.01 * np.arange(n)


def check(values: np.ndarray, running: np.ndarray | None = None,
          flags: np.ndarray | None = None, params: FlatlineParams = P) -> list[Finding]:
    n = values.size
    f = np.full(n, "N") if flags is None else flags
    r = np.ones(n, bool) if running is None else running
    return flatline(grid(n), values, f, r, params)


def test_frozen_two_hours_fires() -> None:
    """12.3 held from minute 60 to 179 gives one 120-minute finding 01:00-03:00."""
    v = varying(240)
    v[60:180] = 12.3
    [f] = check(v)
    assert (f.start_s, f.end_s) == (T0 + 3600, T0 + 180 * 60)
    assert f.facts["duration_min"] == 120.0
    assert f.facts["value"] == 12.3
    assert f.facts["points"] == 120
    assert f.facts["severity"] == "medium"


def test_119_minutes_do_not_fire() -> None:
    """A value frozen one minute short of two hours gives nothing."""
    v = varying(240)
    v[60:179] = 12.3
    assert check(v) == []


def test_zero_while_running_fires() -> None:
    """Zero counts as a value: 0.0 for two hours while production runs fires."""
    v = varying(180)
    v[30:150] = 0.0
    [f] = check(v)
    assert (f.start_s, f.end_s, f.facts["value"]) == (T0 + 30 * 60, T0 + 150 * 60, 0.0)


def test_constant_zero_flow_while_stopped_does_not_fire() -> None:
    """Flow at 0 for hours while production is stopped is legitimate."""
    running = np.ones(300, bool)
    running[:240] = False
    v = varying(300)
    v[:240] = 0.0
    assert check(v, running=running) == []


def test_running_only_part_of_the_frozen_stretch() -> None:
    """Only the running part of a frozen stretch counts: 90 running minutes do not fire."""
    v = varying(300)
    v[:240] = 5.0
    running = np.zeros(300, bool)
    running[150:] = True
    assert check(v, running=running) == []


def test_frozen_under_maintenance_flag_does_not_fire() -> None:
    """A constant value flagged M is not checked here (undeclared_marking is)."""
    v = varying(240)
    v[:200] = 7.0
    flags = np.full(240, "N")
    flags[:200] = "M"
    assert check(v, flags=flags) == []


def test_gap_breaks_the_run() -> None:
    """A missing minute inside a frozen stretch splits it into runs too short to fire."""
    v = varying(240)
    v[0:150] = 9.0
    v[70] = np.nan
    assert check(v) == []


def test_ongoing_has_no_end() -> None:
    """A value frozen to the last minute is one finding with end None."""
    v = varying(240)
    v[120:] = 33.0
    [f] = check(v)
    assert (f.start_s, f.end_s) == (T0 + 7200, None)


def test_tolerance_accepts_jitter() -> None:
    """Jitter of +-0.004 around 12.3 counts as constant with tolerance 0.01, not exactly."""
    v = varying(240)
    v[0:130] = 12.3 + np.where(np.arange(130) % 2 == 0, 0.004, -0.004)
    [f] = check(v, params=FlatlineParams(tolerance=0.01))
    assert (f.start_s, f.end_s) == (T0, T0 + 130 * 60)
    assert check(v) == []


def test_tolerance_does_not_chain_a_slow_drift() -> None:
    """A ramp of 0.005 per minute stays within 0.01 step to step but not of its start: no finding."""
    v = 12.0 + 0.005 * np.arange(240)
    assert check(v, params=FlatlineParams(tolerance=0.01)) == []


def test_long_freeze_is_high_severity() -> None:
    """Six hours frozen is high severity."""
    [f] = check(np.full(360, 4.0))
    assert (f.end_s, f.facts["severity"]) == (None, "high")


def test_tail_bound_holds_for_any_continuation() -> None:
    """``flatline_tail`` bounds what later data can make fire (the runner's quiet tail): on
    random short grids of two values (runs common), with the last point's value, flag and
    production redone and ``k`` points added, and the grid starting anywhere up to the old
    last point but one, nothing fires whenever the tail plus ``k + 1`` points stays under
    the minimum; and a grid holding a long run, fired or not, gives None."""
    rng = np.random.default_rng(7)
    checked = fired_near = 0
    for params in (FlatlineParams(min_duration_min=6), FlatlineParams(min_duration_min=6, tolerance=1.0)):
        for _ in range(3000):
            n = int(rng.integers(1, 14))
            v = rng.choice([1.0, 2.0, 3.5], size=n)
            f = rng.choice(["N", "N", "N", "M"], size=n)
            r = rng.random(n) < 0.9
            tail = flatline_tail(grid(n), v, f, r, params)
            long_run = any(e - s + 1 >= 6 for s, e in zip(*runs_of(v, f, r, params), strict=True))
            assert (tail is None) == long_run
            if tail is None:
                continue
            k = int(rng.integers(0, 8))
            more = (np.full(k + 1, v[-2]) if n > 1 and rng.random() < 0.5  # a run going on
                    else rng.choice([1.0, 2.0, 3.5], size=k + 1))
            v2 = np.concatenate((v[:-1], more))
            f2 = np.concatenate((f[:-1], rng.choice(["N", "N", "M"], size=k + 1)))
            r2 = np.concatenate((r[:-1], rng.random(k + 1) < 0.9))
            start = int(rng.integers(0, max(1, n - 1)))
            got = flatline(grid(n + k)[start:], v2[start:], f2[start:], r2[start:], params)
            if tail + k + 1 < 6:
                checked += 1
                assert got == [], (v, v2, start)
            elif got:
                fired_near += 1
    # both sides of the bound were met
    assert checked > 1000 and fired_near > 50


def runs_of(v: np.ndarray, f: np.ndarray, r: np.ndarray,
            params: FlatlineParams) -> tuple[list[int], list[int]]:
    """Constant runs [first, last] by a plain loop (the definition, not the vectorised code)."""
    starts: list[int] = []
    ends: list[int] = []
    for i in range(v.size):
        ok = f[i] == "N" and r[i]
        linked = (ok and i > 0 and f[i - 1] == "N" and r[i - 1]
                  and abs(v[i] - v[i - 1]) <= params.tolerance)
        if linked and ends and ends[-1] == i - 1:
            ends[-1] = i
        elif linked:
            starts.append(i - 1)
            ends.append(i)
    return starts, ends
