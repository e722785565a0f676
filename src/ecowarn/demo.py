"""``ecowarn demo``: the whole service on one machine, fed by the simulator.

Replays the last hours of the registry's plants at a speed-up (with injected
treatment outages so alerts appear within a minute), then keeps publishing in
real time. Prints the console URL with a fresh officer token.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg

from ecowarn.config.registry import Registry
from ecowarn.config.settings import Settings
from ecowarn.core.aio import cancel_and_wait
from ecowarn.service import open_service
from ecowarn.store.tokens import create_token, revoke_labelled

__all__ = ["DEMO_TOKEN_LABEL", "demo_injections", "run_demo"]

DEMO_TOKEN_LABEL = "demo"
CST = timezone(timedelta(hours=8))  # the banner's times: the sample plants are in Hebei

log = logging.getLogger(__name__)


def demo_injections(registry: Registry) -> list[str]:
    """Injection specs for the demo: an early outage on the first two treated production units."""
    treated = [d for d in registry.production_devices() if d.treated_by]
    specs = []
    if treated:
        specs.append(f"treatment_off:{treated[0].id}@20m+25m")
    if len(treated) > 1:
        specs.append(f"treatment_off:{treated[1].id}@1h30m+40m")
    return specs


async def run_demo(settings: Settings, registry: Registry, *, rule_params: dict[str, object],
                   speed: float, backlog_hours: float) -> int:
    from ecowarn.simulator import parse_injection, run_simulation

    def announce(ids: list[int]) -> None:
        for alert_id in ids:
            print(f"  new alert #{alert_id}: http://{host}:{port}/console/alerts/{alert_id}", flush=True)

    host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host
    port: int | None = settings.http_port
    async with open_service(settings, registry, rule_params=rule_params, on_alerts=announce) as svc:
        port = svc.http_port
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        async with await psycopg.AsyncConnection.connect(svc.database_url, autocommit=True) as conn:
            # One live demo token at a time: the previous runs' are revoked.
            revoked = await revoke_labelled(conn, DEMO_TOKEN_LABEL)
            token = await create_token(conn, role="officer", label=DEMO_TOKEN_LABEL)
            cur = await conn.execute("SELECT max(ts) FROM readings")
            row = await cur.fetchone()
        last_stored: datetime | None = row[0] if row is not None else None
        start = now - timedelta(hours=backlog_hours)
        resumed = False
        if last_stored is not None and last_stored >= start:
            resumed = True
            # Minutes already stored by an earlier run are not published again (they would be
            # dropped as duplicates, injections included): continue after the last one.
            start = min(now, last_stored.astimezone(UTC).replace(second=0, microsecond=0)
                        + timedelta(minutes=1))
        backlog_min = int((now - start).total_seconds() // 60)
        injections = [inj for inj in (parse_injection(s, registry, start)
                                      for s in demo_injections(registry))
                      if inj.end <= now]
        assert svc.mqtt_url is not None
        gateway_port = svc.gateway.port if svc.gateway is not None else None
        replay = (f"Continuing after the last stored minute ({start.astimezone(CST):%H:%M} UTC+8):"
                  f" {backlog_min} min"
                  f" at {speed:g}x" if resumed else
                  f"Replaying the last {backlog_hours:g} h at {speed:g}x")
        injected = ("; injected: " + ", ".join(
            f"{inj.kind} on {', '.join(inj.device_ids)} {inj.start.astimezone(CST):%H:%M}-"
            f"{inj.end.astimezone(CST):%H:%M} UTC+8"
            for inj in injections)
            if injections else "; no injected outages (none fits the minutes still to replay)")
        print(
            "\necowarn demo is running.\n"
            f"  console (officer):  http://{host}:{port}/console/login?token={token}\n"
            f"  API:                curl -H 'Authorization: Bearer {token}' "
            f"http://{host}:{port}/api/v1/alerts\n"
            f"  metrics:            http://{host}:{port}/metrics\n"
            f"  MQTT broker:        {svc.mqtt_url} (telemetry/{{kind}}/{{device_id}})\n"
            f"  HJ 212 (TCP):       {host}:{gateway_port}\n"
            f"  storage:            {svc.storage_mode}\n"
            f"  tokens:             {'earlier demo token revoked; ' if revoked else ''}more while"
            f" the demo runs: ECOWARN_DATABASE_URL='{svc.database_url}' ecowarn token create"
            " --role officer (or --role enterprise --enterprise ID)\n"
            f"{replay}{injected};\nthen publishing live. Press Ctrl+C to stop.\n", flush=True)

        async def simulate() -> None:
            stats = await run_simulation(svc.mqtt_url or "", registry, start=start, minutes=backlog_min,
                                         speed=speed, seed=1, injections=injections)
            log.info("backlog replayed: %d readings; publishing live now", stats.readings)
            await run_simulation(svc.mqtt_url or "", registry,
                                 start=start + timedelta(minutes=backlog_min),
                                 minutes=7 * 24 * 60, speed=1.0, seed=2, injections=())

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sim = asyncio.create_task(simulate(), name="demo-simulator")
        stopper = asyncio.create_task(stop.wait(), name="demo-stop")
        done, _ = await asyncio.wait({sim, stopper}, return_when=asyncio.FIRST_COMPLETED)
        await _cancel_boundedly([sim, stopper])
        if sim in done and sim.exception() is not None:
            log.error("simulator failed: %s", sim.exception())
            return 1
    return 0


async def _cancel_boundedly(tasks: list[asyncio.Task[Any]], limit_s: float = 10.0) -> None:
    """Cancel ``tasks`` and wait for them, cancelling again (their publishers included) while
    any still runs: on Python 3.11 a cancellation arriving as an inner ``wait_for`` completes
    can be swallowed (the MQTT client's acknowledgement wait), and a simulator worker then
    waits on its queue forever. Gives up after ``limit_s`` with a warning."""
    def publishers(_task: object = None) -> None:
        for task in asyncio.all_tasks():
            if task.get_name().startswith("sim-") and not task.done():
                task.cancel()

    publishers()
    await cancel_and_wait(tasks, log=log, timeout_s=0.5, rounds=max(1, round(limit_s / 0.5)),
                          on_straggler=publishers)
