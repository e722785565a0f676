"""A large enterprise costs the runner its devices, not devices x devices.

``data_gap`` groups an enterprise's devices into outages, so every device of an enterprise
touches every other device's subject. With thousands of meters in one enterprise, building
that mapping one list per device and expanding it per claimed device grew with the square
(and the construction with the cube) of the enterprise's size.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool
from test_eval_support import EvalEnv

from ecowarn.config.registry import Device, Enterprise, Registry, uscc_check_char
from ecowarn.detectors.catalog import default_params
from ecowarn.detectors.data_gap import DataGapParams
from ecowarn.detectors.runtime.eval_data_gap import DataGapEvaluator
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics

pytest_plugins = ("test_eval_support",)

START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def one_enterprise(pairs: int) -> Registry:
    """One enterprise of ``pairs`` production meters, each treated by a meter of its own."""
    first17 = "91130105BL0000001"
    eid = first17 + uscc_check_char(first17)
    devices: list[Device] = []
    for k in range(pairs):
        prod, treat = f"P{k:05d}", f"T{k:05d}"
        devices += [Device(prod, "power", eid, role="production", equipment=f"line {k}",
                           rated_kw=500.0, treated_by=(treat,)),
                    Device(treat, "power", eid, role="treatment", equipment=f"filter {k}",
                           rated_kw=100.0)]
    return Registry(enterprises={eid: Enterprise(eid, "big works", "130105", "cement", None,
                                                 tuple(d.id for d in devices))},
                    devices={d.id: d for d in devices}, stations={}, source="<test>")


def test_an_enterprise_of_thousands_shares_one_subject_set() -> None:
    """Every device of an enterprise touches the same data_gap subjects, held once: building
    the evaluator for 6,000 meters takes well under a second's work (it used to grow with the
    cube of the enterprise's size: hours)."""
    registry = one_enterprise(3000)
    t0 = time.perf_counter()
    ev = DataGapEvaluator(registry, DataGapParams())
    assert time.perf_counter() - t0 < 10.0
    subjects = ev.subjects_for("P00000")
    assert sorted(subjects) == sorted(registry.devices)
    assert ev.subjects_for("T02999") is subjects
    assert list(ev.subjects_for("NOT-REGISTERED")) == []
    assert ev.all_subjects() == sorted(registry.devices)


async def test_a_pass_over_a_large_enterprise_evaluates_each_subject_once(database: str) -> None:
    """800 meters of one enterprise report in one pass: each rule's subjects are evaluated
    once (data_gap's 800, treatment_off's 400), whatever the number of devices touching them,
    and a silence found in the data is one alert, as with a small enterprise."""
    registry = one_enterprise(400)
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        env = EvalEnv(pool, registry, CollectorRegistry())
        rows = []
        for m in range(60):
            ts = START + timedelta(minutes=m)
            for d in registry.devices:
                if d == "T00007" and 5 <= m < 45:
                    continue  # silent 40 minutes (data_gap: 30 or more)
                rows.append((d, "p", ts, 400.0 if d.startswith("P") else 80.0, "N"))
        await env.write_rows(rows)
        metrics = CollectorRegistry()
        runner = DetectorRunner(pool, registry,
                                build_evaluators(registry, default_params(),
                                                 rules=frozenset({"data_gap", "treatment_off"})),
                                RunnerMetrics(metrics))
        t0 = time.perf_counter()
        assert await runner.run_once() == 800  # one pending row per device
        assert time.perf_counter() - t0 < 60.0

        def evaluated(rule: str) -> float | None:
            return metrics.get_sample_value("ecowarn_detector_evaluations_total", {"rule": rule})

        assert evaluated("data_gap") == 800
        assert evaluated("treatment_off") == 400
        gaps = await env.alerts("data_gap")
        assert [(a.subject, a.start, a.end) for a in gaps] == [
            ("T00007", START + timedelta(minutes=4), START + timedelta(minutes=45))]
        assert await env.alerts("treatment_off") == []
