"""Learned baselines are stored per series and local day, reused, and recomputed after late data."""

from __future__ import annotations

from datetime import timedelta

from test_eval_support import BAG, KILN, SCR, EvalEnv, at, simulate_days

pytest_plugins = ("test_eval_support",)

SERIES = f"load:{BAG}"


async def day_rows(env: EvalEnv) -> dict[object, tuple[int, object]]:
    rows = await env.execute("SELECT day_start, n, computed_at FROM baselines WHERE series = %s"
                             " AND n > 0 ORDER BY day_start", (SERIES,))
    return {r[0]: (r[1], r[2]) for r in rows}


async def test_day_summaries_are_computed_once_and_reused(eval_env: EvalEnv) -> None:
    """Streaming day 2 in hourly batches reads days 0-1 from readings once, then only the
    stored summaries (their computed_at never changes)."""
    sim = simulate_days(eval_env.registry, 3)
    runner = eval_env.runner(["treatment_underload"])
    await eval_env.write_sim(sim, devices=(KILN, BAG, SCR), end=at(2, 0))
    await runner.drain()
    await eval_env.write_sim(sim, devices=(KILN, BAG, SCR), start=at(2, 0), end=at(2, 1))
    await runner.drain()
    first = await day_rows(eval_env)
    assert [n for n, _ in first.values()] == [1440, 1440]
    assert [d for d in first] == [at(0, 0), at(1, 0)]
    total = await eval_env.execute("SELECT count(*) FROM baselines WHERE series = %s", (SERIES,))
    # Windows as of day 1 and day 2: the 31 days before day 2, empty ones stored as n = 0.
    assert total == [(31,)]
    for hour in range(1, 6):
        await eval_env.write_sim(sim, devices=(KILN, BAG, SCR), start=at(2, hour),
                                 end=at(2, hour + 1))
        await runner.drain()
    assert await day_rows(eval_env) == first


async def test_late_data_for_a_summarised_day_recomputes_it(eval_env: EvalEnv) -> None:
    """A late reading for day 1 drops its summary; the next evaluation that needs it
    recomputes it from readings."""
    sim = simulate_days(eval_env.registry, 3)
    runner = eval_env.runner(["treatment_underload"])
    await eval_env.write_sim(sim, devices=(KILN, BAG, SCR), end=at(2, 1))
    await runner.drain()
    before = await day_rows(eval_env)
    await eval_env.write_rows([(BAG, "p", at(1, 12) + timedelta(seconds=30), 111.0, "N")])
    await runner.drain()
    assert at(1, 0) not in await day_rows(eval_env)
    await eval_env.write_sim(sim, devices=(KILN, BAG, SCR), start=at(2, 1), end=at(2, 2))
    await runner.drain()
    after = await day_rows(eval_env)
    assert after[at(1, 0)][0] == 1440 and after[at(1, 0)][1] != before[at(1, 0)][1]
    assert after[at(0, 0)] == before[at(0, 0)]
