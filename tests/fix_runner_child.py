"""A partitioned detector runner in a process of its own, for tests that kill it (SIGKILL).

Run as ``python tests/fix_runner_child.py DSN PARTITIONS REBALANCE_S DELAY_S``: the sample
registry's evaluators, every subject evaluation ``DELAY_S`` slower (so a pass lasts long
enough to be killed in the middle of it), ``runner.run()`` until killed. Its connections
carry ``application_name=ecowarn-runner-child`` so the test can see its transactions.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts.store import AlertDraft
from ecowarn.config import packaged_file
from ecowarn.config.registry import load_registry
from ecowarn.detectors.catalog import default_params
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime.contract import RuleEvaluator, Window
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.detectors.runtime.partition import build_partition_map
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics

APP_NAME = "ecowarn-runner-child"


def slow_down(ev: RuleEvaluator, delay_s: float) -> None:
    """Make ``ev.evaluate`` wait ``delay_s`` first (the evaluation itself is unchanged)."""
    inner = ev.evaluate

    async def evaluate(conn: psycopg.AsyncConnection[Any], subject: str, window: Window,
                       cache: SeriesCache | None = None) -> tuple[datetime, list[AlertDraft]]:
        await asyncio.sleep(delay_s)
        return await inner(conn, subject, window, cache)

    ev.evaluate = evaluate  # type: ignore[method-assign]  # a test seam on one instance


async def main(dsn: str, partitions: int, rebalance_s: float, delay_s: float) -> None:
    registry = load_registry(packaged_file("registry.example.yaml"))
    evaluators = build_evaluators(registry, default_params())
    for ev in evaluators:
        slow_down(ev, delay_s)
    dsn = psycopg.conninfo.make_conninfo(dsn, application_name=APP_NAME)
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool:
        runner = DetectorRunner(pool, registry, evaluators, RunnerMetrics(CollectorRegistry()),
                                poll_ms=200, sweep_s=3600.0, rebalance_s=rebalance_s,
                                partitions=build_partition_map(registry, evaluators, partitions))
        await runner.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])))
