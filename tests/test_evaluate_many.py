"""Every rule's batched evaluation (``evaluate_many``, the runner's call) gives exactly what
evaluating its subjects one by one gives: window starts and drafts, in order, from the
database and through the runner's cache (against one by one from the database), over two
successive batches.

A day of the sample enterprises and the air stations with episodes for most rules; two fresh
sets of evaluators read the same database, one batched, one subject by subject.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from test_eval_support import BAG, CEMENT, COKING, GLASS, KILN, KILN_CEMS, SCR, EvalEnv, at, simulate_days

from ecowarn.detectors.catalog import default_params
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime.contract import BatchAware, RuleEvaluator, Window
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.simulator import Injection
from ecowarn.simulator.scenario import AirHotspot, DataGap, Exceedance, Flatline, O2Dilution, TreatmentOutage

pytest_plugins = ("test_eval_support",)


def _episodes() -> list[Injection]:
    return [TreatmentOutage((KILN,), at(0, 9), at(0, 9, 40)),
            Exceedance((KILN_CEMS,), at(0, 11), at(0, 13)),
            Flatline((KILN_CEMS,), at(0, 14), at(0, 16)),
            O2Dilution((KILN_CEMS,), at(0, 17), at(0, 18)),
            DataGap((SCR,), at(0, 20), at(0, 20, 40)),
            DataGap((BAG,), at(0, 20, 5), at(0, 20, 30)),
            AirHotspot(("AQ-0001",), at(0, 6), at(0, 8))]


async def _begin(conn: psycopg.AsyncConnection[Any], evs: list[RuleEvaluator], batch: int) -> None:
    for ev in evs:
        if isinstance(ev, BatchAware):
            await ev.begin_batch(conn, batch)


@pytest.mark.parametrize("cached", [False, True], ids=["database", "cache"])
async def test_batched_equals_one_by_one(eval_env: EvalEnv, cached: bool) -> None:
    sim = simulate_days(eval_env.registry, 1, _episodes(), enterprises=(CEMENT, COKING, GLASS),
                        stations=True)
    await eval_env.write_sim(sim, end=at(0, 22))
    batched = build_evaluators(eval_env.registry, default_params())
    single = build_evaluators(eval_env.registry, default_params())
    # one by one always from the database: the cache must not change a result either
    cache_a = SeriesCache() if cached else None
    found: set[str] = set()
    windows = [Window(at(0, 0), at(0, 21, 59)), Window(at(0, 22), at(0, 23, 59))]
    for batch, window in enumerate(windows, start=1):
        if batch == 2:  # the rest of the day, as the next batch would see it
            await eval_env.write_sim(sim, start=at(0, 22))
            if cache_a is not None:
                for dev in eval_env.registry.devices:
                    cache_a.invalidate(dev, window.t_min)
        async with eval_env.pool.connection() as conn:
            await _begin(conn, batched, batch)
            await _begin(conn, single, batch)
            if cache_a is not None:
                await cache_a.refresh(conn)
            for a, b in zip(batched, single, strict=True):
                items = [(s, window) for s in a.all_subjects()]
                got = await a.evaluate_many(conn, items, cache_a)
                want = [await b.evaluate(conn, s, w, None) for s, w in items]
                assert got == want, a.rule
                found |= {a.rule for _, drafts in got if drafts}
    # the day has something for most rules to find
    assert {"treatment_off", "emission_exceedance", "flatline", "o2_dilution",
            "data_gap", "air_hotspot"} <= found, found
