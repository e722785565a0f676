"""treatment_underload of a stage of alternatives end to end: readings -> runner -> alerts.

The sample kiln's desulfurisation stage is two towers on duty/standby (PWR-DS-1, PWR-DS-2).
Two days of history (tower A on duty at ~150 kW, tower B idling at 0.5 kW) teach the
stage's typical load; day 2 is judged against it, streamed hour by hour so the runner's
memories (cache, quiet tails) take part.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pytest
from test_eval_support import KILN, EvalEnv, at

pytest_plugins = ("test_eval_support",)

DS_A, DS_B = "PWR-DS-1", "PWR-DS-2"
STAGE = f"{DS_A}+{DS_B}"
TYPICAL_KW = 150.0
IDLE_KW = 0.5
Rows = list[tuple[str, str, datetime, float, str]]


def stage_rows(day: int, tower_a: Callable[[int], float], tower_b: Callable[[int], float],
               seed: int) -> Rows:
    """One local day of minute readings of the kiln (running) and both towers; the towers'
    power by minute of the day, with a little noise."""
    rng = np.random.default_rng(seed)
    rows: Rows = []
    for m in range(1440):
        t = at(day, 0) + timedelta(minutes=m)
        noise = float(rng.normal(0, 2))
        rows.append((KILN, "p", t, 500.0 + 5 * noise, "N"))
        for tower, kw in ((DS_A, tower_a(m)), (DS_B, tower_b(m))):
            rows.append((tower, "p", t, kw + noise if kw > IDLE_KW else kw, "N"))  # idle: steady
    return rows


def duty(_: int) -> float:
    return TYPICAL_KW


def idle(_: int) -> float:
    return IDLE_KW


async def judge_day_2(env: EvalEnv, tower_a: Callable[[int], float],
                      tower_b: Callable[[int], float]) -> None:
    """History on days 0-1 in one go, then day 2 hour by hour, draining after each."""
    runner = env.runner(["treatment_underload"])
    await env.write_rows(stage_rows(0, duty, idle, 1) + stage_rows(1, duty, idle, 2))
    await runner.drain()
    day2 = stage_rows(2, tower_a, tower_b, 3)
    for hour in range(24):
        lo, hi = at(2, 0) + timedelta(hours=hour), at(2, 0) + timedelta(hours=hour + 1)
        await env.write_rows([r for r in day2 if lo <= r[2] < hi])
        await runner.drain()


async def test_duty_at_a_fifth_with_standby_idle_is_one_stage_alert(eval_env: EvalEnv) -> None:
    """Tower A at 20% of the stage's typical load 02:00-03:00 while tower B idles: one alert
    on the stage, exact span, baseline learned from the combined power of days 0-1, both
    towers named in English and Chinese."""
    await judge_day_2(eval_env, lambda m: 0.2 * TYPICAL_KW if 120 <= m < 180 else TYPICAL_KW, idle)
    [alert] = await eval_env.alerts()
    assert (alert.rule, alert.subject) == ("treatment_underload", STAGE)
    assert (alert.start, alert.end) == (at(2, 2), at(2, 3))
    assert alert.device_ids == [DS_A, DS_B, KILN]
    base = alert.evidence["baseline"]
    assert base["source"] == "learned" and base["n"] == 2880
    assert abs(base["value"] - (TYPICAL_KW + IDLE_KW)) < 2
    facts = alert.evidence["facts"]
    assert facts["members"] == [DS_A, DS_B]
    assert abs(facts["member_mean_kw"][0] - 30) < 2 and facts["member_mean_kw"][1] == IDLE_KW
    assert alert.params["treatment_on_kw"] == {DS_A: 22.0, DS_B: 22.0}
    for text in (alert.summary, alert.summary_zh):
        assert "脱硫塔A" in text and "脱硫塔B" in text
    assert "alternatives" in alert.summary and "learned from 2880 running minutes" in alert.summary
    assert "互为备用" in alert.summary_zh and "合计运行功率" in alert.summary_zh


async def test_towers_sharing_the_load_at_a_fifth_each_are_no_alert(eval_env: EvalEnv) -> None:
    """Both towers at 20% of the typical load for 3 h (40% of it in all): no alert, where
    each tower judged alone against its own history would be underloaded."""
    def sharing(m: int) -> bool:
        return 120 <= m < 300

    await judge_day_2(eval_env, lambda m: 0.2 * TYPICAL_KW if sharing(m) else TYPICAL_KW,
                      lambda m: 0.2 * TYPICAL_KW if sharing(m) else IDLE_KW)
    assert await eval_env.alerts() == []


@pytest.mark.parametrize(("standby_kw", "alerts"), [(TYPICAL_KW, 0), (0.2 * TYPICAL_KW, 1)],
                         ids=["full_load", "a_fifth"])
async def test_after_a_switchover_the_standby_is_judged_by_the_stage_baseline(
        eval_env: EvalEnv, standby_kw: float, alerts: int) -> None:
    """At 08:00 tower B takes over (started 07:50) and tower A stops: at full load no alert;
    at a fifth of the stage's typical load one alert from 08:00, ongoing, though tower B
    never ran in the history the baseline comes from."""
    await judge_day_2(eval_env, lambda m: TYPICAL_KW if m < 480 else 0.3,
                      lambda m: IDLE_KW if m < 470 else standby_kw)
    found = await eval_env.alerts()
    assert len(found) == alerts
    if alerts:
        assert (found[0].subject, found[0].start, found[0].end) == (STAGE, at(2, 8), None)
        assert found[0].evidence["baseline"]["source"] == "learned"
