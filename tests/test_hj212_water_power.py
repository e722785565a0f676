"""HJ 212 for wastewater outlets (ST=32, w-codes) and for power meters of sub-metering
terminals (分表计电: per-device codes, one terminal for several meters, run states of
CN 2021/2022), over real TCP into the gateway (CONTRACT section 7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from fix_hj212 import Collector, Logger

from ecowarn.config.registry import Registry, parse_registry
from ecowarn.ingest.hj212 import Hj212Gateway, encode_packet

WATER_MN = "13010500000W01"
TERMINAL = "88888880000001"
REGISTRY = f"""\
enterprises:
  - id: "91130105MA0CXXXX1X"
    name: "Example Cement Co."
    region: "130105"
    devices:
      - id: "PWR-KILN-1"
        kind: power
        role: production
        rated_kw: 800
        treated_by: ["PWR-BAG-1"]
        mn: "{TERMINAL}"
        password: "123456"
        codes: {{"01001": p, "02001": e, "SB001": rs}}
      - id: "PWR-BAG-1"
        kind: power
        role: treatment
        rated_kw: 160
        mn: "{TERMINAL}"
        codes: {{"01002": p, "SB002": rs}}
      - id: "{WATER_MN}"
        kind: water
        password: "654321"
        outlet: "DW001"
        limits: {{cod: 50, nh3n: 5}}
      - id: "13010500000001"
        kind: cems
        outlet: "DA001"
"""
T = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 08:00 local


def packet(st: str, cn: str, mn: str, pw: str, cp: str, qn: str = "20261123080000001") -> bytes:
    return encode_packet(f"QN={qn};ST={st};CN={cn};PW={pw};MN={mn};Flag=5;CP=&&{cp}&&")


@pytest.fixture
def registry() -> Registry:
    return parse_registry(REGISTRY, "reg.yaml")


@pytest.fixture
async def gateway(collector: Collector, registry: Registry) -> AsyncIterator[Hj212Gateway]:
    async with Hj212Gateway(registry, collector, port=0) as gw:
        yield gw


async def test_water_packet_st32_is_stored_under_the_water_outlet(
        gateway: Hj212Gateway, collector: Collector) -> None:
    """ST=32 hourly data with w-codes: COD, NH3-N, pH and flow of the outlet; acknowledged."""
    logger = await Logger.connect(gateway.port)
    await logger.send(packet("32", "2061", WATER_MN, "654321",
                             "DataTime=20261123080000;w01018-Avg=42.5,w01018-Flag=N;w21003-Avg=3.1;"
                             "w01001-Avg=7.2;w00000-Avg=12.0;w21011-Avg=0.4;w21001-Avg=9.9"))
    assert (await logger.answer()).cn == "9014"
    assert {(r.device_id, r.metric, r.ts, r.value) for r in collector.rows} == {
        (WATER_MN, "cod", T, 42.5), (WATER_MN, "nh3n", T, 3.1), (WATER_MN, "ph", T, 7.2),
        (WATER_MN, "flow", T, 12.0), (WATER_MN, "tp", T, 0.4), (WATER_MN, "tn", T, 9.9)}
    await logger.close()


async def test_flue_gas_codes_on_a_water_outlet_are_unknown_and_st_mismatch_rejected(
        gateway: Hj212Gateway, collector: Collector) -> None:
    """A flue-gas code sent by a water logger is skipped (unknown code, the rest stored);
    ST=31 from a water outlet, or ST=32 from a stack, is a kind mismatch (dead-lettered)."""
    logger = await Logger.connect(gateway.port)
    await logger.send(packet("32", "2061", WATER_MN, "654321",
                             "DataTime=20261123080000;a21026-Avg=12.0;w01018-Avg=40"))
    assert (await logger.answer()).cn == "9014"
    assert [(r.metric, r.value) for r in collector.rows] == [("cod", 40.0)]
    await logger.send(packet("31", "2061", WATER_MN, "654321", "DataTime=20261123080000;w01018-Avg=40",
                             qn="20261123080000002"))
    await logger.send(packet("32", "2011", "13010500000001", "x", "DataTime=20261123080000;a21026-Rtd=1",
                             qn="20261123080000003"))
    await collector.wait_for(rejections=2)
    assert [r.reason for r in collector.rejections] == ["kind_mismatch", "kind_mismatch"]
    assert "ST=31" in collector.rejections[0].detail and "water" in collector.rejections[0].detail
    await logger.close()


async def test_terminal_packet_is_split_between_its_meters(
        gateway: Hj212Gateway, collector: Collector) -> None:
    """One terminal, two meters: 2051 minute data goes to each meter by its factor codes."""
    logger = await Logger.connect(gateway.port)
    await logger.send(packet("31", "2051", TERMINAL, "123456",
                             "DataTime=20261123080000;01001-Avg=512.5;02001-Avg=10234.1;01002-Avg=98.0;"
                             "09009-Avg=1"))
    assert (await logger.answer()).cn == "9014"
    assert {(r.device_id, r.metric, r.value) for r in collector.rows} == {
        ("PWR-KILN-1", "p", 512.5), ("PWR-KILN-1", "e", 10234.1), ("PWR-BAG-1", "p", 98.0)}
    await logger.close()


async def test_run_states_are_stored_as_rs(gateway: Hj212Gateway, collector: Collector) -> None:
    """CN 2021 run states SB001-RS / SB002-RS: metric rs of the meter each SB code names;
    the real-time 2011 upload of the same terminal stores power."""
    logger = await Logger.connect(gateway.port)
    await logger.send(packet("31", "2021", TERMINAL, "123456", "DataTime=20261123080000;SB001-RS=1;SB002-RS=0"))
    assert (await logger.answer()).cn == "9014"
    await logger.send(packet("31", "2011", TERMINAL, "123456", "DataTime=20261123080100;01002-Rtd=0.5",
                             qn="20261123080100001"))
    assert (await logger.answer()).cn == "9014"
    assert sorted((r.device_id, r.metric, r.value) for r in collector.rows) == [
        ("PWR-BAG-1", "p", 0.5), ("PWR-BAG-1", "rs", 0.0), ("PWR-KILN-1", "rs", 1.0)]
    await logger.close()


async def test_terminal_password_and_unknown_terminal(gateway: Hj212Gateway, collector: Collector) -> None:
    """The terminal's PW is checked; an MQTT-only power meter's id as MN is a kind mismatch."""
    logger = await Logger.connect(gateway.port)
    await logger.send(packet("31", "2051", TERMINAL, "000000", "DataTime=20261123080000;01001-Avg=1"))
    await logger.send(packet("31", "2051", "PWR-KILN-1", "123456", "DataTime=20261123080000;01001-Avg=1",
                             qn="20261123080000002"))
    await collector.wait_for(rejections=2)
    assert [r.reason for r in collector.rejections] == ["bad_password", "kind_mismatch"]
    assert collector.rows == []
    await logger.close()
