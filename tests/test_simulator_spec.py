"""Compact injection specs (``rule:device@when+duration[:options]``) for the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ecowarn.config.registry import Registry
from ecowarn.simulator import (
    CST,
    AirHotspot,
    DataGap,
    Exceedance,
    InjectionError,
    LateTreatmentStart,
    Marking,
    PhOutOfRange,
    SiteOutage,
    TreatmentOutage,
    WaterExceedance,
    parse_injection,
)
from ecowarn.simulator.spec import parse_span_min

START = datetime(2026, 11, 23, 6, 0, tzinfo=CST)


def test_clock_time_and_duration(sample_registry: Registry) -> None:
    """``treatment_off:PWR-KILN-1@02:00+25m`` is an outage at the next 02:00 local, 25 min long."""
    inj = parse_injection("treatment_off:PWR-KILN-1@02:00+25m", sample_registry, START)
    assert isinstance(inj, TreatmentOutage)
    assert inj.device_ids == ("PWR-KILN-1",)
    assert inj.start == datetime(2026, 11, 24, 2, 0, tzinfo=CST)  # 02:00 is past on the 23rd
    assert inj.end - inj.start == timedelta(minutes=25)
    later = parse_injection("outage:PWR-KILN-1@06:00+1h", sample_registry, START)
    assert later.start == START


def test_clock_time_is_local_whatever_the_start_zone(sample_registry: Registry) -> None:
    """HH:MM means UTC+8 wall time even when start is given in UTC."""
    inj = parse_injection("data_gap:AQ-0001@09:30+30m", sample_registry,
                          START.astimezone(UTC))
    assert inj.start.astimezone(CST).strftime("%H:%M") == "09:30"
    assert inj.start == START + timedelta(hours=3, minutes=30)


def test_offsets_metrics_and_options(sample_registry: Registry) -> None:
    """Offsets from start, a /metric, several devices and KEY=VALUE options are understood."""
    exc = parse_injection("exceedance:13010500000001/nox@3h+2h:factor=2", sample_registry, START)
    assert isinstance(exc, Exceedance)
    assert (exc.metric, exc.factor) == ("nox", 2.0)
    assert exc.start == START + timedelta(hours=3) and exc.duration_min == 120
    mark = parse_injection("undeclared_marking:13010500000001@1d+90m:flag=C", sample_registry, START)
    assert isinstance(mark, Marking) and mark.flag == "C" and mark.start == START + timedelta(days=1)
    gap = parse_injection("gap:AQ-0002, AQ-0003@0+1h30m", sample_registry, START)
    assert isinstance(gap, DataGap) and gap.device_ids == ("AQ-0002", "AQ-0003")
    hot = parse_injection("air_hotspot:AQ-0004@45m+1h:delta=120", sample_registry, START)
    assert isinstance(hot, AirHotspot) and hot.delta == 120.0


def test_registry_1_1_injections(sample_registry: Registry) -> None:
    """Sequence, water and site-outage specs: stage indices are whole numbers, an enterprise
    id stands for all its devices."""
    late = parse_injection("treatment_sequence:PWR-KILN-1@08:00+6m:stage=2", sample_registry, START)
    assert isinstance(late, LateTreatmentStart) and late.stage == 2 and late.duration_min == 6
    water = parse_injection("water_exceedance:13018200000002/nh3n@1d+1d:factor=1.5", sample_registry,
                            START)
    assert isinstance(water, WaterExceedance) and (water.metric, water.factor) == ("nh3n", 1.5)
    ph = parse_injection("ph:13018200000002@0+90m:level=9.8", sample_registry, START)
    assert isinstance(ph, PhOutOfRange) and ph.level == 9.8
    site = parse_injection("site_outage:91130182MA0DEM001G@03:00+45m", sample_registry, START)
    assert isinstance(site, SiteOutage)
    assert site.device_ids == sample_registry.enterprises["91130182MA0DEM001G"].device_ids
    with pytest.raises(InjectionError, match="stage index"):
        parse_injection("stage_outage:PWR-KILN-1@0+20m:stage=0.5", sample_registry, START)


def test_spans() -> None:
    """Spans combine days, hours and minutes; anything else is refused."""
    assert parse_span_min("25m") == 25
    assert parse_span_min("1d6h30m") == (24 + 6) * 60 + 30
    assert parse_span_min("0") == 0
    for bad in ("", "25", "m", "2h1d", "1.5h"):
        with pytest.raises(ValueError):
            parse_span_min(bad)


@pytest.mark.parametrize(("spec", "message"), [
    ("treatment_off", "expected NAME:TARGETS@WHEN\\+DURATION"),
    ("explode:PWR-KILN-1@02:00+25m", "unknown injection 'explode'"),
    ("treatment_off:PWR-KILN-1+25m", "missing '@'"),
    ("treatment_off:PWR-KILN-1@02:00", "missing '\\+'"),
    ("treatment_off:@02:00+25m", "no device ids"),
    ("treatment_off:PWR-KILN-1@25:00+25m", "not a time of day"),
    ("treatment_off:PWR-KILN-1@02:00+25", "not a span"),
    ("treatment_off:PWR-KILN-1@02:00+0", "must be positive"),
    ("treatment_off:PWR-NOPE@02:00+25m", "no such device"),
    ("treatment_off:PWR-BAG-1@02:00+25m", "production power meter"),
    ("treatment_off:PWR-KILN-1/so2@02:00+25m", "takes no metric"),
    ("exceedance:13010500000001@02:00+1h:speed=3", "takes no option 'speed'"),
    ("exceedance:13010500000001@02:00+1h:factor=big", "not a number"),
    ("exceedance:13010500000001/co@02:00+1h", "no limit for 'co'"),
    ("marking:13010500000001@02:00+1h:flag=X", "must be M, C or D"),
    ("treatment_blip:PWR-KILN-1@02:00+15m", "under 10 min"),
])
def test_errors_name_the_problem(sample_registry: Registry, spec: str, message: str) -> None:
    """Every malformed or ill-fitting spec raises InjectionError quoting the spec and the problem."""
    with pytest.raises(InjectionError, match=message) as info:
        parse_injection(spec, sample_registry, START)
    assert repr(spec) in str(info.value)
