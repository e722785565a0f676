"""air_hotspot: a station far above the median of its neighbours; upwind enterprises."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecowarn.detectors._core import Finding
from ecowarn.detectors.air_hotspot import (
    AirHotspotParams,
    UpwindSource,
    air_hotspot,
    mean_wind,
    neighbours_within,
    upwind_enterprises,
)

T0 = 1_795_363_200
P = AirHotspotParams()
LAT0, LON0 = 38.0428, 114.5149
KM_LAT = 1.0 / 111.19508  # degrees of latitude per km (R = 6371.0088 km)
KM_LON = KM_LAT / math.cos(math.radians(LAT0))

# A at the centre, B 1 km east, C 1 km north, D 2 km west, E 20 km east (isolated).
IDS = ["A", "B", "C", "D", "E"]
LAT = np.array([LAT0, LAT0, LAT0 + KM_LAT, LAT0, LAT0])
LON = np.array([LON0, LON0 + KM_LON, LON0, LON0 - 2 * KM_LON, LON0 + 20 * KM_LON])


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def background(n: int) -> np.ndarray:
    return np.tile(np.array([[40.0], [42.0], [38.0], [41.0], [40.0]]), (1, n))


def check(values: np.ndarray) -> list[Finding]:
    return air_hotspot(grid(values.shape[1]), IDS, LAT, LON, values, P, metric="pm25")


def test_neighbours_within_5_km() -> None:
    """A, B, C and D are within 5 km of each other; E, 20 km away, has none."""
    nb = [n.tolist() for n in neighbours_within(LAT, LON, 5.0)]
    assert nb == [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2], []]


def test_hotspot_fires_with_exact_minutes() -> None:
    """A at 120 for minutes 10..39 against neighbours 42/38/41 (median 41): 00:10-00:40."""
    v = background(90)
    v[0, 10:40] = 120.0
    [f] = check(v)
    assert (f.start_s, f.end_s) == (T0 + 600, T0 + 2400)
    assert f.facts["station_id"] == "A"
    assert f.facts["metric"] == "pm25"
    assert f.facts["duration_min"] == 30.0
    assert f.facts["neighbour_median_mean"] == 41.0
    assert f.facts["robust_sd_mean"] == 5.0  # MAD 1 x 1.4826 floored at 5
    assert f.facts["max_excess"] == 79.0
    assert f.facts["neighbours"] == ["B", "C", "D"]
    assert f.facts["severity"] == "medium"


def test_29_minutes_do_not_fire() -> None:
    """One minute under the 30-minute minimum gives nothing."""
    v = background(90)
    v[0, 10:39] = 120.0
    assert check(v) == []


def test_excess_under_35_does_not_fire() -> None:
    """30 ug/m3 above the median (over 3 robust sd of 5) is under the 35 ug/m3 minimum."""
    v = background(90)
    v[0, :] = 71.0
    assert check(v) == []


def test_spread_out_neighbours_raise_the_bar() -> None:
    """Neighbours at 20/60/100 (robust sd 59.3): A at 150, 90 above the median, does not fire."""
    v = background(90)
    v[1:4, :] = [[20.0], [60.0], [100.0]]
    v[0, :] = 150.0
    assert check(v) == []


def test_isolated_station_is_not_judged() -> None:
    """E, with no station within 5 km, never fires however high."""
    v = background(90)
    v[4, :] = 500.0
    assert check(v) == []


def test_too_few_neighbours_with_data() -> None:
    """With two of A's three neighbours silent, A is not judged."""
    v = background(90)
    v[0, :] = 200.0
    v[1:3, :] = np.nan
    assert check(v) == []


def test_ongoing_has_no_end() -> None:
    """A hotspot lasting to the last minute has end None; a 160 excess is high severity."""
    v = background(90)
    v[0, 50:] = 201.0
    [f] = check(v)
    assert (f.start_s, f.end_s) == (T0 + 3000, None)
    assert f.facts["severity"] == "high"


def test_upwind_enterprises_in_the_sector() -> None:
    """Wind from 10 deg at 3 m/s names the enterprise 3 km north, not the ones east or far."""
    ents = {
        "N3": (LAT0 + 3 * KM_LAT, LON0),
        "E3": (LAT0, LON0 + 3 * KM_LON),
        "N15": (LAT0 + 15 * KM_LAT, LON0),
    }
    [src] = upwind_enterprises(LAT0, LON0, 10.0, 3.0, ents, P)
    assert src.enterprise_id == "N3"
    assert src.distance_km == pytest.approx(3.0, abs=0.001)
    assert (src.bearing_deg, src.offset_deg) == (0.0, 10.0)
    [wrapped] = upwind_enterprises(LAT0, LON0, 350.0, 3.0, ents, P)
    assert wrapped.offset_deg == 10.0
    assert upwind_enterprises(LAT0, LON0, 90.0, 3.0, ents, P)[0] == UpwindSource(
        "E3", 3.0, 90.0, 0.0)


def test_calm_wind_names_nobody() -> None:
    """Below 0.5 m/s the wind has no direction: no upwind enterprises."""
    assert upwind_enterprises(LAT0, LON0, 10.0, 0.2, {"N3": (LAT0 + 3 * KM_LAT, LON0)}, P) == []


def test_mean_wind_is_a_vector_mean() -> None:
    """Winds from 350 and 10 deg at 2 m/s average to from 0 deg at 1.97 m/s, not from 180."""
    result = mean_wind(np.array([350.0, 10.0]), np.array([2.0, 2.0]))
    assert result is not None
    direction, speed = result
    assert min(direction, 360.0 - direction) == pytest.approx(0.0, abs=1e-9)
    assert speed == pytest.approx(2.0 * math.cos(math.radians(10.0)), rel=1e-12)
    assert mean_wind(np.array([np.nan]), np.array([1.0])) is None
