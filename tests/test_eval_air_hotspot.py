"""air_hotspot end to end: a station far above its neighbours within 5 km, and who is upwind."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_eval_support import CEMENT, COKING, EvalEnv, at, index_of, simulate_days

from ecowarn.config.registry import Registry, RegistryError, parse_registry
from ecowarn.detectors.air_hotspot import AirHotspotParams
from ecowarn.detectors.runtime.eval_air_hotspot import AirHotspotEvaluator, enterprise_positions
from ecowarn.simulator import AirHotspot, Injection
from ecowarn.simulator.plant import Simulation

pytest_plugins = ("test_eval_support",)

STATIONS = ("AQ-0001", "AQ-0002", "AQ-0003", "AQ-0004", "AQ-0005")


def stations_day(env: EvalEnv, *injections: Injection) -> Simulation:
    return simulate_days(env.registry, 1, injections, enterprises=(), stations=True)


async def run(env: EvalEnv, sim: Simulation, edit: object = None) -> None:
    await env.write_sim(sim, devices=STATIONS, edit=edit)  # type: ignore[arg-type]
    await env.runner(["air_hotspot"]).drain()


async def test_station_above_its_neighbours_fires_once_for_pm25_and_pm10(eval_env: EvalEnv) -> None:
    """AQ-0001 +100 ug/m3 PM2.5 (+130 PM10) 10:00-11:00 -> one alert over exactly that hour,
    with both metrics and its three neighbours in the evidence."""
    await run(eval_env, stations_day(eval_env, AirHotspot(("AQ-0001",), at(0, 10), at(0, 11))))
    [alert] = await eval_env.alerts()
    assert (alert.subject, alert.enterprise_id, alert.device_ids) == ("AQ-0001", None, ["AQ-0001"])
    assert (alert.start, alert.end) == (at(0, 10), at(0, 11))
    facts = alert.evidence["facts"]
    assert sorted(facts["by_metric"]) == ["pm10", "pm25"]
    assert facts["by_metric"]["pm25"]["neighbours"] == ["AQ-0002", "AQ-0003", "AQ-0004"]
    assert facts["by_metric"]["pm25"]["mean_excess"] > 70
    assert alert.evidence["neighbours"] == ["AQ-0002", "AQ-0003", "AQ-0004"]
    assert facts["wind"] is not None and facts["upwind"] == []
    assert "PM2.5 up to" in alert.summary and "within 5 km" in alert.summary
    assert "no registered enterprise" in alert.summary


async def test_regional_episode_on_every_station_is_no_hotspot(eval_env: EvalEnv) -> None:
    """Every station +100 ug/m3 at once (a regional episode) raises nothing."""
    sim = stations_day(eval_env, AirHotspot(STATIONS, at(0, 10), at(0, 11)))
    await run(eval_env, sim)
    assert await eval_env.alerts() == []


async def test_isolated_station_is_not_judged(eval_env: EvalEnv) -> None:
    """AQ-0005 has no station within 5 km: its local peak cannot be compared, no alert."""
    await run(eval_env, stations_day(eval_env, AirHotspot(("AQ-0005",), at(0, 10), at(0, 11))))
    assert await eval_env.alerts() == []


def with_positions(registry: Registry) -> Registry:
    """The sample registry with the cement works 2 km east of AQ-0001 and the coking plant
    2 km west of it."""
    ents = dict(registry.enterprises)
    ents[CEMENT] = dataclasses.replace(ents[CEMENT], lat=38.0428, lon=114.5377)
    ents[COKING] = dataclasses.replace(ents[COKING], lat=38.0428, lon=114.4921)
    return dataclasses.replace(registry, enterprises=ents)


async def test_upwind_enterprise_is_named_from_the_station_wind(eval_env: EvalEnv) -> None:
    """Wind from the east at AQ-0001 during its hotspot names the cement works (east), not the
    coking plant (west)."""
    eval_env.registry = with_positions(eval_env.registry)
    sim = stations_day(eval_env, AirHotspot(("AQ-0001",), at(0, 10), at(0, 11)))
    lo, hi = index_of(sim, at(0, 9)), index_of(sim, at(0, 12))

    def east_wind(dev: str, metric: str, values: np.ndarray, flags: np.ndarray) -> None:
        if dev == "AQ-0001" and metric == "wind_dir":
            values[lo:hi] = 90.0
        if dev == "AQ-0001" and metric == "wind_speed":
            values[lo:hi] = 3.0

    await run(eval_env, sim, east_wind)
    [alert] = await eval_env.alerts()
    assert [u["enterprise_id"] for u in alert.evidence["facts"]["upwind"]] == [CEMENT]
    assert alert.evidence["facts"]["upwind"][0]["distance_km"] == pytest.approx(2.0, abs=0.05)
    assert "upwind: 石家庄某某水泥有限公司 (2 km)" in alert.summary
    assert "上风向：石家庄某某水泥有限公司（2 km）" in alert.summary_zh


def test_enterprise_position_is_declared_or_the_mean_of_its_devices(sample_registry: Registry) -> None:
    """Enterprises without lat/lon have no position unless a device of theirs has one; the
    sample registry's declared positions are theirs."""
    bare = without_positions(sample_registry)
    assert enterprise_positions(bare) == {}
    assert enterprise_positions(with_positions(bare))[CEMENT] == (38.0428, 114.5377)
    assert enterprise_positions(sample_registry)[COKING] == (37.93, 114.625)


def without_positions(registry: Registry) -> Registry:
    """The sample registry with no coordinates on its enterprises and their devices."""
    ents = {k: dataclasses.replace(e, lat=None, lon=None) for k, e in registry.enterprises.items()}
    devices = {k: d if d.enterprise_id is None else dataclasses.replace(d, lat=None, lon=None)
               for k, d in registry.devices.items()}
    return dataclasses.replace(registry, enterprises=ents, devices=devices)


def test_registry_accepts_enterprise_coordinates_in_pairs() -> None:
    """lat/lon of an enterprise are optional, validated, and come as a pair."""
    head = ('enterprises:\n  - id: "91130105MA0CXXXX1X"\n    name: "X"\n    region: "130105"\n')
    reg = parse_registry(head + "    lat: 38.04\n    lon: 114.53\n")
    assert (reg.enterprises[CEMENT].lat, reg.enterprises[CEMENT].lon) == (38.04, 114.53)
    assert parse_registry(head).enterprises[CEMENT].lat is None
    with pytest.raises(RegistryError, match="give both lat and lon"):
        parse_registry(head + "    lat: 38.04\n")
    with pytest.raises(RegistryError, match="less than or equal to 90"):
        parse_registry(head + "    lat: 138.04\n    lon: 114.53\n")


def test_subjects_are_stations_with_enough_neighbours(sample_registry: Registry) -> None:
    """A station's data re-evaluates itself and the stations it neighbours; AQ-0005 is alone."""
    ev = AirHotspotEvaluator(sample_registry, AirHotspotParams())
    assert ev.all_subjects() == ["AQ-0001", "AQ-0002", "AQ-0003", "AQ-0004"]
    assert sorted(ev.subjects_for("AQ-0002")) == ["AQ-0001", "AQ-0002", "AQ-0003", "AQ-0004"]
    assert list(ev.subjects_for("AQ-0005")) == []
