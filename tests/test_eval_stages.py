"""treatment_off by stage and treatment_sequence end to end: readings -> runner -> alerts
(CONTRACT 1.1 sections 7-8), on the sample cement plant (kiln -> bag filter + SCR)."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool
from test_eval_support import BAG, KILN, SCR, EvalEnv, at

from ecowarn.config.registry import parse_registry

pytest_plugins = ("test_eval_support",)


def minutes(start: datetime, n: int) -> list[datetime]:
    return [start + timedelta(minutes=i) for i in range(n)]


def power(device: str, start: datetime, kw: list[float]) -> list[tuple[str, str, datetime, float, str]]:
    return [(device, "p", t, v, "N") for t, v in zip(minutes(start, len(kw)), kw, strict=True)]


async def test_one_stage_off_fires_and_names_it(eval_env: EvalEnv) -> None:
    """Kiln running, bag filter on, SCR at 0 kW for 80 min: one treatment_off alert naming
    the SCR only (1.0 said nothing: not every treatment unit was off)."""
    t0 = at(0, 8)
    scr = [100.0] * 60 + [0.0] * 80 + [100.0] * 100
    await eval_env.write_rows(power(KILN, t0, [500.0] * 240) + power(BAG, t0, [120.0] * 240)
                              + power(SCR, t0, scr))
    await eval_env.runner(["treatment_off"]).drain()
    [alert] = await eval_env.alerts()
    assert (alert.rule, alert.start, alert.end) == ("treatment_off", at(0, 9), at(0, 10, 20))
    assert alert.evidence["facts"]["stages_off_devices"] == [[SCR]]
    scr_label = eval_env.registry.devices[SCR].label
    bag_label = eval_env.registry.devices[BAG].label
    assert scr_label in alert.summary and bag_label not in alert.summary
    assert scr_label in alert.summary_zh and "80 分钟" in alert.summary_zh


async def test_late_start_of_a_stage_is_one_sequence_alert(eval_env: EvalEnv) -> None:
    """The kiln starts at 08:30; the bag filter was on before it, the SCR starts 6 min late:
    one treatment_sequence alert 08:30-08:36 naming the SCR and its lag; no treatment_off."""
    t0 = at(0, 8)
    kiln = [0.0] * 30 + [500.0] * 150
    bag = [0.0] * 20 + [120.0] * 160
    scr = [0.0] * 36 + [100.0] * 144
    await eval_env.write_rows(power(KILN, t0, kiln) + power(BAG, t0, bag) + power(SCR, t0, scr))
    await eval_env.runner(["treatment_off", "treatment_sequence"]).drain()
    [alert] = await eval_env.alerts()
    assert (alert.rule, alert.start, alert.end) == ("treatment_sequence", at(0, 8, 30), at(0, 8, 36))
    assert alert.evidence["facts"]["event"] == "start"
    assert alert.evidence["facts"]["stages"][0]["devices"] == [SCR]
    assert alert.evidence["facts"]["max_lag_min"] == 6.0
    assert "6" in alert.summary and "晚" in alert.summary_zh


async def test_early_stop_is_one_alert_per_event(eval_env: EvalEnv) -> None:
    """Two kiln runs; at each stop the bag filter stops 5 min before the kiln: two alerts."""
    t0 = at(0, 8)
    kiln = ([0.0] * 10 + [500.0] * 60 + [0.0] * 30) * 2
    bag = ([0.0] * 5 + [120.0] * 60 + [0.0] * 35) * 2
    scr = ([0.0] * 5 + [100.0] * 70 + [0.0] * 25) * 2
    await eval_env.write_rows(power(KILN, t0, kiln) + power(BAG, t0, bag) + power(SCR, t0, scr))
    await eval_env.runner(["treatment_off", "treatment_sequence"]).drain()
    alerts = await eval_env.alerts()
    assert [(a.rule, a.start, a.end) for a in alerts] == [
        ("treatment_sequence", at(0, 9, 5), at(0, 9, 10)),
        ("treatment_sequence", at(0, 10, 45), at(0, 10, 50))]
    assert {a.evidence["facts"]["event"] for a in alerts} == {"stop"}


RS_REGISTRY = """\
enterprises:
  - id: "91130105MA0CXXXX1X"
    name: "Example Cement Co."
    region: "130105"
    devices:
      - {id: "K", kind: power, role: production, rated_kw: 800, treated_by: ["B"],
         mn: "88888880000001", codes: {"01001": p, "SB001": rs}}
      - {id: "B", kind: power, role: treatment, rated_kw: 160,
         mn: "88888880000001", codes: {"01002": p, "SB002": rs}}
"""


async def test_run_state_stopped_overrides_power(database: str) -> None:
    """A treatment unit whose terminal reports it stopped (rs 0) is off although its meter
    still reads 100 kW: treatment_off fires for those 30 min; a production unit reported
    stopped does not count as running."""
    registry = parse_registry(RS_REGISTRY, "rs.yaml")
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        env = EvalEnv(pool, registry, CollectorRegistry())
        t0 = at(0, 8)
        rs_b = [1.0] * 60 + [0.0] * 30 + [1.0] * 30
        rs_k = [1.0] * 100 + [0.0] * 20
        rows = power("K", t0, [500.0] * 120) + power("B", t0, [100.0] * 120)
        rows += [("B", "rs", t, v, "N") for t, v in zip(minutes(t0, 120), rs_b, strict=True)]
        rows += [("K", "rs", t, v, "N") for t, v in zip(minutes(t0, 120), rs_k, strict=True)]
        await env.write_rows(rows)
        await env.runner(["treatment_off"]).drain()
        [alert] = await env.alerts()
        assert (alert.start, alert.end) == (at(0, 9), at(0, 9, 30))
