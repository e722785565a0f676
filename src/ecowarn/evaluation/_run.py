"""Running a scenario through the real service: MQTT -> collector -> store -> runner -> alerts.

Each run gets a scratch database of its own on the configured (or embedded)
PostgreSQL server, dropped afterwards, and a unique topic prefix and client id on
the configured (or embedded) broker. Declared maintenance and emergency orders go
in through the HTTP API (ASGI, an officer token) before anything is published.
Readings are published by a separate process (:mod:`ecowarn._evalpub`) as devices
send them (one reading per message unless ``batch`` says otherwise), with the
scenario's late deliveries held back and released shuffled, while the service's
detector runner works as it does in production. The run then waits until the
collector has received every message, drains the pipeline and the runner
("burst" processing) and reads the alerts.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psycopg
from prometheus_client import CollectorRegistry
from psycopg import sql

from ecowarn.config.settings import Settings
from ecowarn.evaluation._publish import PublishResult, minute_index, publisher_main
from ecowarn.evaluation._scenario import EvalLabel, Scenario
from ecowarn.evaluation._scoring import ObservedAlert
from ecowarn.service import Service, open_service
from ecowarn.store.tokens import create_token

__all__ = ["EvaluationError", "RunResult", "completion_wall", "run_scenario"]

log = logging.getLogger("ecowarn.evaluation.command")

# The collector must make progress at least this often while we wait for it.
STALL_S = 60.0
DRAIN_TIMEOUT_S = 3600.0


class EvaluationError(Exception):
    """The evaluation could not run (database, broker, lost messages); the message says why."""


@dataclass
class RunResult:
    """What one run produced; wall times are epoch seconds."""

    alerts: list[ObservedAlert]
    published: PublishResult
    received: int
    dead_letters: dict[str, int]
    rows: int
    phases: dict[str, float] = field(default_factory=dict)


# --- scratch databases -------------------------------------------------------------------


async def _create_database(server_dsn: str) -> tuple[str, str]:
    name = f"ecowarn_eval_{uuid.uuid4().hex[:10]}"
    try:
        async with await psycopg.AsyncConnection.connect(server_dsn, autocommit=True) as conn:
            await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise EvaluationError(f"cannot create a scratch database on the PostgreSQL server "
                              f"(the evaluation needs CREATEDB): {exc}") from exc
    return name, psycopg.conninfo.make_conninfo(server_dsn, dbname=name)


async def _drop_database(server_dsn: str, name: str) -> None:
    try:
        async with await psycopg.AsyncConnection.connect(server_dsn, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    except psycopg.Error as exc:
        log.warning("could not drop scratch database %s: %s", name, exc)


# --- declarations through the API -----------------------------------------------------------


async def _declare(svc: Service, scenario: Scenario) -> None:
    if not scenario.maintenance and not scenario.orders:
        return
    async with await psycopg.AsyncConnection.connect(svc.database_url, autocommit=True) as conn:
        token = await create_token(conn, role="officer", label="evaluation")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://eval",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        for m in scenario.maintenance:
            resp = await client.post("/api/v1/maintenance", json={
                "device_id": m.device_id, "start": m.start.isoformat(), "end": m.end.isoformat(),
                "reason": m.reason})
            if resp.status_code not in (200, 201):
                raise EvaluationError(f"POST /api/v1/maintenance: {resp.status_code} {resp.text}")
        for o in scenario.orders:
            resp = await client.post("/api/v1/emergency-orders", json={
                "enterprise_ids": list(o.enterprise_ids), "start": o.start.isoformat(),
                "end": o.end.isoformat(), "measure": o.measure})
            if resp.status_code not in (200, 201):
                raise EvaluationError(f"POST /api/v1/emergency-orders: {resp.status_code} {resp.text}")
    log.info("declared %d maintenance windows and %d emergency orders through the API",
             len(scenario.maintenance), len(scenario.orders))


# --- waiting ------------------------------------------------------------------------------


async def _wait_received(svc: Service, expected: int) -> int:
    last, last_change = -1.0, time.monotonic()
    while True:
        got = svc.metrics_registry.get_sample_value("ecowarn_mqtt_messages_total") or 0.0
        if got >= expected:
            return int(got)
        if got != last:
            last, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > STALL_S:
            raise EvaluationError(
                f"the collector received {int(got):,} of {expected:,} messages and stalled for "
                f"{STALL_S:.0f} s: the broker may have dropped messages (stock Mosquitto keeps "
                "1,000 queued messages per client; raise max_queued_messages)")
        await asyncio.sleep(0.05)


async def _pending(svc: Service) -> int:
    async with svc.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM pending_eval")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _drain(svc: Service) -> None:
    await svc.pipeline.drain(DRAIN_TIMEOUT_S)
    began = time.monotonic()
    task = asyncio.create_task(svc.runner.drain(), name="evaluate-drain")
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=15.0)
            if not task.done():
                log.info("detectors catching up: %d pending evaluations (%.0f s)",
                         await _pending(svc), time.monotonic() - began)
            if time.monotonic() - began > DRAIN_TIMEOUT_S:
                raise EvaluationError(f"the detector runner did not drain in {DRAIN_TIMEOUT_S:.0f} s")
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    await task


# --- reading the outcome --------------------------------------------------------------------


async def _read_alerts(svc: Service) -> list[ObservedAlert]:
    async with svc.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, rule, subject, device_ids, start_ts, end_ts, created_at FROM alerts"
            " WHERE status <> 'superseded' ORDER BY id")
        rows = await cur.fetchall()
    return [ObservedAlert(id=int(r[0]), rule=str(r[1]), subject=str(r[2]),
                          device_ids=tuple(str(d) for d in r[3]), start=r[4], end=r[5],
                          created_at=r[6]) for r in rows]


async def _dead_letters(svc: Service) -> tuple[dict[str, int], int]:
    async with svc.pool.connection() as conn:
        cur = await conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason")
        dead = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
        cur = await conn.execute("SELECT count(*) FROM readings")
        row = await cur.fetchone()
    return dead, int(row[0]) if row else 0


# --- one run --------------------------------------------------------------------------------


async def _publish(scenario: Scenario, mqtt_url: str, prefix: str, batch: int, speed: float | None,
                   client_id: str, name: str) -> PublishResult:
    """Run the publisher process and relay its progress; raise if it fails."""
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=publisher_main, name="ecowarn-eval-publisher", daemon=True,
                       args=(sender, scenario, mqtt_url, prefix, batch, speed, client_id))
    proc.start()
    sender.close()
    try:
        while True:
            if not await asyncio.to_thread(receiver.poll, 1.0):
                if not proc.is_alive():
                    raise EvaluationError(f"the publisher process exited ({proc.exitcode}) "
                                          "without a result")
                continue
            try:
                kind, body = receiver.recv()
            except EOFError as exc:
                raise EvaluationError("the publisher process closed its pipe without a result") from exc
            if kind == "progress":
                log.info("%s: published %d/%d simulated minutes", name, body, scenario.minutes)
            elif kind == "error":
                raise EvaluationError(f"publishing to {mqtt_url} failed: {body}")
            else:
                assert isinstance(body, PublishResult)
                return body
    finally:
        receiver.close()
        await asyncio.to_thread(proc.join, 30.0)
        if proc.is_alive():
            proc.terminate()
            await asyncio.to_thread(proc.join, 10.0)


async def run_scenario(settings: Settings, scenario: Scenario, *, rule_params: dict[str, object],
                       server_dsn: str, mqtt_url: str, batch: int = 1, speed: float | None = None,
                       keep_database: bool = False, name: str = "run") -> RunResult:
    """Publish ``scenario`` through a fresh service and return its alerts and timings."""
    phases: dict[str, float] = {}
    db_name, dsn = await _create_database(server_dsn)
    tag = uuid.uuid4().hex[:8]
    run_settings = settings.model_copy(update={
        "database_url": dsn, "mqtt_url": mqtt_url, "mqtt_client_id": f"ecowarn-eval-{tag}",
        "http_port": 0, "hj212_port": 0, "runner_poll_ms": 200,
        # In the service's event loop: the published figures were measured so.
        "runner": "inline"})
    prefix = f"eval{tag}/"
    spool = tempfile.TemporaryDirectory(prefix="ecowarn-eval-spool-")
    run_settings = run_settings.model_copy(update={"spool_dir": Path(spool.name)})
    try:
        async with open_service(run_settings, scenario.registry, rule_params=rule_params,
                                http=False, hj212=False, topic_prefix=prefix,
                                metrics_registry=CollectorRegistry()) as svc:
            await _declare(svc, scenario)
            t1 = time.monotonic()
            published = await _publish(scenario, mqtt_url, prefix, batch, speed,
                                       f"ecowarn-eval-pub-{tag}", name)
            phases["publish_s"] = published.elapsed_s
            log.info("%s: published %d messages (%d readings) in %.1f s", name, published.messages,
                     published.readings, published.elapsed_s)
            received = await _wait_received(svc, published.messages)
            t2 = time.monotonic()
            await _drain(svc)
            phases["drain_s"] = time.monotonic() - t2
            phases["ingest_and_detect_s"] = time.monotonic() - t1
            log.info("%s: pipeline and detectors drained %.1f s after the collector had every "
                     "message", name, phases["drain_s"])
            alerts = await _read_alerts(svc)
            dead, rows = await _dead_letters(svc)
    finally:
        spool.cleanup()
        if keep_database:
            log.info("%s: kept scratch database %s", name, db_name)
        else:
            await _drop_database(server_dsn, db_name)
    return RunResult(alerts=alerts, published=published, received=received, dead_letters=dead,
                     rows=rows, phases=phases)


def completion_wall(scenario: Scenario, result: RunResult, labels: Iterable[EvalLabel],
                    min_duration_min: dict[str, float]) -> dict[int, datetime]:
    """For each positive label, when the reading at start + minimum duration (or at its
    ``due`` time) was published."""
    out: dict[int, datetime] = {}
    for lb in labels:
        if not lb.positive:
            continue
        done = lb.due or lb.start + timedelta(minutes=min_duration_min.get(lb.rule, 0.0))
        i = min(max(minute_index(scenario, done), 0), scenario.minutes - 1)
        wall = float(result.published.minute_wall[i])
        for k, late in enumerate(scenario.late):
            if late.start <= done < late.end and set(late.device_ids) & set(lb.device_ids):
                wall = result.published.release_wall[k]
        if np.isfinite(wall):
            out[lb.id] = datetime.fromtimestamp(wall, UTC)
    return out
