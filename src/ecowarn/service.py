"""Composition root: builds every part from settings and runs them under one TaskGroup.

One lifespan owns the database pool, the broker connection, the ingest pipeline,
the detector runner, the HJ 212 gateway and the HTTP server. Embedded PostgreSQL
and an embedded broker are started when no URL is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts import EscalationParams, Escalator, WorkflowParams
from ecowarn.alerts.model import MaintenancePolicy
from ecowarn.alerts.notify import NotifyConfig, NotifyMetrics, OfficerNotifier, load_officer_channels
from ecowarn.alerts.warnings import WarningDispatcher, WarningMetrics, load_warning_policy
from ecowarn.api.context import ApiContext
from ecowarn.config.registry import Registry
from ecowarn.config.settings import Settings
from ecowarn.core.aio import cancel_and_wait
from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.credit.evaluation import load_credit_model
from ecowarn.credit.hooks import CreditMetrics, CreditService
from ecowarn.credit.hooks import install as install_credit_service
from ecowarn.credit.params import load_credit_params
from ecowarn.credit.supervision.config import load_supervision_config
from ecowarn.detectors.runtime.contract import RuleEvaluator
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.detectors.runtime.partition import build_partition_map
from ecowarn.detectors.runtime.process import ElsewhereRunner, RunnerProcess
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics
from ecowarn.embedded import EmbeddedBroker, resolve_database
from ecowarn.ingest.hj212 import Hj212Gateway, Hj212Metrics
from ecowarn.ingest.hj212.gateway import decode_for_replay
from ecowarn.ingest.mqtt import MqttCollector
from ecowarn.ingest.parse import TelemetryParser
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline, tune_gc
from ecowarn.ingest.replay import DeadLetterReplayer
from ecowarn.ingest.spool import Spool, SpoolMetrics
from ecowarn.store import StorageMode
from ecowarn.store.gate import DatabaseGate
from ecowarn.store.identity import dsn_target, pool_identity
from ecowarn.store.timescale import HourlyRefresher

__all__ = ["Service", "ServiceStartError", "open_service"]

AnyRunner = DetectorRunner | RunnerProcess | ElsewhereRunner

log = logging.getLogger(__name__)


class ServiceStartError(Exception):
    """The service cannot start for a reason the operator fixes (a port in use); one line."""


def _listen(host: str, port: int, setting: str, what: str) -> socket.socket:
    """A listening socket for ``what``, or :class:`ServiceStartError` naming the setting."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is in use by another program"
        raise ServiceStartError(f"cannot listen for {what} on {host}:{port}: {reason}; set"
                                f" {setting} to a free port") from exc


@dataclass
class Service:
    settings: Settings
    registry: Registry
    database_url: str
    mqtt_url: str | None
    storage_mode: StorageMode | Literal["unknown"]
    pool: AsyncConnectionPool[Any]
    metrics_registry: CollectorRegistry
    parser: TelemetryParser
    pipeline: IngestPipeline
    spool: Spool
    runner: AnyRunner
    collector: MqttCollector | None
    app: FastAPI
    gateway: Hj212Gateway | None = None
    gate: DatabaseGate | None = None
    http_port: int | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _http: uvicorn.Server | None = None

    def health(self) -> dict[str, Any]:
        return {
            "database": self.pipeline.db_state,
            "mqtt": self.collector.state if self.collector is not None else "disabled",
            "hj212_connections": (self.gateway.active_connections
                                  if self.gateway is not None else None),
            "committed_rows": self.pipeline.stats.committed_rows,
            "spool": self.spool.health(),
            "startup": self.gate.health() if self.gate is not None else {"status": "ready"},
            "detector_last_run": self.runner.last_run_wall,
        }

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Commit everything received so far and evaluate it ("burst" processing)."""
        await self.pipeline.drain(timeout_s)
        await asyncio.wait_for(self.runner.drain(), timeout_s)


@contextlib.asynccontextmanager
async def _resolve_broker(settings: Settings, enabled: bool) -> AsyncIterator[str | None]:
    if not enabled:
        yield None
        return
    if settings.mqtt_url:
        yield settings.mqtt_url
        return
    async with EmbeddedBroker() as broker:
        yield broker.url


@contextlib.asynccontextmanager
async def open_service(settings: Settings, registry: Registry, *,
                       rule_params: dict[str, object] | None = None,
                       mqtt: bool = True, http: bool = True, hj212: bool = True,
                       topic_prefix: str | None = None,
                       metrics_registry: CollectorRegistry | None = None,
                       on_alerts: Callable[[list[int]], None] | None = None) -> AsyncIterator[Service]:
    """Start everything; stop it all when the block exits."""
    metrics_registry = metrics_registry or CollectorRegistry()
    params = rule_params or {}
    # A bad officer channel file stops the start before anything opens, naming file and key.
    officer_channels = (load_officer_channels(settings.officer_channels)
                        if settings.officer_channels is not None else NotifyConfig())
    # So does a bad supervision file (inspection frequency and draw weights by level and list).
    supervision = load_supervision_config(settings.supervision_config)
    # And bad evaluation catalogs or level schemes (every problem as file:line).
    credit_model = load_credit_model(settings.credit_catalogs, settings.credit_level_schemes,
                                     settings.credit_level_scheme)
    async with contextlib.AsyncExitStack() as stack:
        dsn = await stack.enter_async_context(resolve_database(settings))
        mqtt_url = await stack.enter_async_context(_resolve_broker(settings, mqtt))
        # The service starts whether or not the database answers: one attempt now; if it
        # fails, ingest is spooled and what needs the schema waits for the background retry.
        gate = DatabaseGate(dsn)
        if not await gate.attempt():
            log.warning("database not available at start (%s); ingest goes to the spool,"
                        " the detectors and workflows start once it answers", gate.last_error)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn, min_size=2, max_size=settings.db_pool_max, open=False, timeout=10.0,
            name="ecowarn",
            # End a reconnect series after 30 s so the spool replay's next request starts a
            # fresh one: psycopg_pool's backoff doubles without a cap, so after a long outage
            # its next attempt could come as late again as the outage lasted.
            reconnect_timeout=30.0)
        if gate.ready:
            await pool.open(wait=True, timeout=30.0)
        else:
            await pool.open(wait=False)
        stack.push_async_callback(pool.close)

        parser = TelemetryParser(registry)
        arrivals: dict[str, float] = {}
        dispatcher_ref: list[WarningDispatcher | OfficerNotifier] = []

        def alerts_opened(ids: list[int]) -> None:
            for d in dispatcher_ref:
                d.wake()
            if on_alerts is not None:
                on_alerts(ids)

        runner: AnyRunner
        if settings.runner == "inline":
            evaluators: list[RuleEvaluator] = build_evaluators(registry, params,
                                                               last_arrival=arrivals.get)
            # Partitioned (the default): beside the runners of other processes and hosts.
            partitions = (build_partition_map(registry, evaluators, settings.runner_partitions)
                          if settings.runner_partitions else None)
            runner = DetectorRunner(pool, registry, evaluators, RunnerMetrics(metrics_registry),
                                    poll_ms=settings.runner_poll_ms, on_alerts=alerts_opened,
                                    partitions=partitions,
                                    rebalance_s=settings.runner_rebalance_s)
        elif settings.runner == "process":
            runner = RunnerProcess(settings, registry, params, dsn, pool, metrics_registry,
                                   on_alerts=alerts_opened)
        else:
            runner = ElsewhereRunner(pool)
        log.info("detector runner: %s%s", settings.runner,
                 f" ({runner.count} processes)" if isinstance(runner, RunnerProcess) else "")
        credit = CreditService(registry, load_credit_params(settings.credit_table),
                               metrics=CreditMetrics(metrics_registry),
                               evidence_margin=timedelta(minutes=settings.evidence_margin_min))
        install_credit_service(credit)
        escalator = Escalator(pool, metrics_registry, EscalationParams(
            after_min=settings.escalate_after_min(), max_level=settings.escalation_max_level,
            interval_s=settings.escalation_sweep_s))
        dispatcher = WarningDispatcher(
            pool, registry, load_warning_policy(settings.warning_policy),
            WarningMetrics(metrics_registry),
            secret=(settings.warning_webhook_secret.get_secret_value()
                    if settings.warning_webhook_secret else None),
            secrets={k: v.get_secret_value() for k, v in settings.warning_webhook_secrets.items()},
            mqtt=parse_mqtt_url(mqtt_url) if (mqtt_url and settings.warning_mqtt) else None,
            max_attempts=settings.warning_max_attempts,
            backoff_initial_s=settings.warning_backoff_initial_s,
            backoff_max_s=settings.warning_backoff_max_s, timeout_s=settings.warning_timeout_s,
            poll_ms=settings.warning_poll_ms, link_base=settings.public_url,
            topic_prefix=settings.mqtt_topic_prefix if topic_prefix is None else topic_prefix,
            remind_before_h=settings.reminder_lead_h)
        await stack.enter_async_context(dispatcher)
        dispatcher_ref.append(dispatcher)
        # Without channels the notifier still records overdue rectifications (and escalates them).
        notifier = OfficerNotifier(pool, registry, officer_channels, NotifyMetrics(metrics_registry),
                                   link_base=settings.public_url)
        await stack.enter_async_context(notifier)
        dispatcher_ref.append(notifier)
        log.info("officer notifications: %d channel(s)%s", len(officer_channels.channels),
                 f" from {settings.officer_channels}" if settings.officer_channels else "")
        tune_gc()  # ingest allocates heavily; see ingest.pipeline.tune_gc
        # The spool belongs to this database: one left for another is set aside, not replayed
        # (checked again against the cluster that answers when the database was away at start).
        spool = await stack.enter_async_context(Spool(
            settings.resolved_spool_dir(), max_bytes=settings.spool_max_bytes,
            metrics=SpoolMetrics(metrics_registry),
            database=await pool_identity(pool) if gate.ready else dsn_target(dsn)))
        pipeline = IngestPipeline(
            pool, registry, IngestMetrics(metrics_registry),
            batch_size=settings.ingest_batch_size, flush_ms=settings.ingest_flush_ms,
            queue_rows=settings.ingest_queue_size, on_commit=lambda _res: runner.wake(),
            spool=spool, writers=settings.ingest_writers, gate=gate)
        await stack.enter_async_context(pipeline)
        collector = None
        if mqtt_url is not None:
            collector = MqttCollector(parse_mqtt_url(mqtt_url), parser, pipeline,
                                      metrics_registry, client_id=settings.mqtt_client_id,
                                      max_inflight=settings.mqtt_max_inflight,
                                      last_arrival=arrivals,
                                      topic_prefix=(settings.mqtt_topic_prefix if topic_prefix is None
                                                    else topic_prefix),
                                      shared_group=settings.mqtt_shared_group)
        replayer = DeadLetterReplayer(
            pool, parser, partial(pipeline.submit, wait=True),
            hj212_decode=partial(decode_for_replay, registry, strict=settings.hj212_strict))

        from ecowarn.api.app import create_app

        svc_ref: list[Service] = []
        ctx = ApiContext(
            pool=pool, registry=registry, metrics_registry=metrics_registry,
            storage_mode=gate.mode or "unknown", parser=parser,
            submit=partial(pipeline.submit, wait=True),
            health=lambda: svc_ref[0].health(), replay_dead_letter=replayer.replay,
            on_confirmed=credit.on_alert_confirmed,
            workflow=WorkflowParams(answer_deadline_days=settings.answer_deadline_days(),
                                    answer_deadline_days_by_rule=settings.answer_deadline_days_by_rule,
                                    maintenance=MaintenancePolicy(settings.maintenance_grace_min,
                                                                  settings.maintenance_max_hours),
                                    first_offence_window_months=settings.first_offence_window_months,
                                    first_offence_rules=settings.first_offence_rules),
            supervision=supervision,
            credit_model=credit_model,
            gate=gate,
        )
        app = create_app(ctx)
        gateway = None
        if hj212:
            gateway = Hj212Gateway(registry, partial(pipeline.submit, wait=True),
                                   host=settings.hj212_host or settings.http_host,
                                   port=settings.hj212_port, strict=settings.hj212_strict,
                                   split_timeout_s=settings.hj212_split_timeout_s,
                                   max_split_uploads=settings.hj212_max_split_uploads,
                                   max_split_bytes=settings.hj212_max_split_bytes,
                                   max_split_bytes_total=settings.hj212_max_split_bytes_total,
                                   metrics=Hj212Metrics(metrics_registry))
            try:
                await stack.enter_async_context(gateway)
            except OSError as exc:
                raise ServiceStartError(
                    f"cannot listen for HJ 212 on {settings.hj212_host or settings.http_host}:"
                    f"{settings.hj212_port}: "
                    + ("the port is in use by another program" if exc.errno == errno.EADDRINUSE
                       else exc.strerror or str(exc))
                    + "; set ECOWARN_HJ212_PORT to a free port") from exc
            log.info("HJ 212 gateway listening on port %d", gateway.port)
        svc = Service(settings=settings, registry=registry, database_url=dsn, mqtt_url=mqtt_url,
                      storage_mode=gate.mode or "unknown", pool=pool,
                      metrics_registry=metrics_registry, gate=gate,
                      parser=parser, pipeline=pipeline, spool=spool, runner=runner,
                      collector=collector,
                      app=app, gateway=gateway)
        svc_ref.append(svc)

        async def start_database_work() -> None:
            """The parts that need the schema: at once, or when the database first answers."""
            await gate.bring_up()
            svc.storage_mode = gate.mode or svc.storage_mode
            if not isinstance(runner, ElsewhereRunner):
                svc._tasks.append(tg.create_task(runner.run(), name="detector-runner"))
            if isinstance(runner, RunnerProcess):
                await runner.started.wait()
            svc._tasks.append(tg.create_task(escalator.run(), name="alert-escalator"))
            svc._tasks.append(tg.create_task(dispatcher.run(), name="warning-dispatcher"))
            svc._tasks.append(tg.create_task(notifier.run(), name="officer-notifier"))
            svc._tasks.append(tg.create_task(credit.run_repairs(pool), name="credit-repair"))
            if gate.mode == "timescaledb":
                # Hourly buckets of data that came later than the aggregate policy's window.
                svc._tasks.append(tg.create_task(HourlyRefresher(pool, gate.mode).run(),
                                                 name="hourly-refresh"))

        # Bound before anything runs, so a port in use is one clear line (ServiceStartError).
        http_socket = (_listen(settings.http_host, settings.http_port, "ECOWARN_HTTP_PORT", "HTTP")
                       if http else None)
        if http_socket is not None:
            stack.callback(http_socket.close)

        async with asyncio.TaskGroup() as tg:
            if gate.ready:
                await start_database_work()
            else:
                svc._tasks.append(tg.create_task(start_database_work(), name="database-bring-up"))
            if collector is not None:
                svc._tasks.append(tg.create_task(collector.run(), name="mqtt-collector"))
            if http:
                config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port,
                                        log_config=None, lifespan="off", access_log=False,
                                        timeout_graceful_shutdown=5)
                server = uvicorn.Server(config)
                svc._http = server
                assert http_socket is not None
                svc._tasks.append(tg.create_task(server.serve(sockets=[http_socket]),
                                                 name="http-server"))
                while not server.started:
                    await asyncio.sleep(0.02)
                    if svc._tasks[-1].done():
                        break
                if server.servers:
                    svc.http_port = server.servers[0].sockets[0].getsockname()[1]
            if collector is not None:
                try:
                    async with asyncio.timeout(15.0):
                        await collector.subscribed.wait()
                except TimeoutError:
                    log.warning("not yet subscribed to the broker; the collector keeps retrying")
            try:
                yield svc
            finally:
                await _stop_tasks(svc)


async def _stop_tasks(svc: Service) -> None:
    """Stop the service's tasks, boundedly: a task that ignores its cancellation is named
    in the log with where it hangs, and cancelled again, instead of hanging shutdown."""
    http = svc._http
    if http is not None:
        http.should_exit = True  # uvicorn ends its connections itself; cancelled only if it hangs

    def force(task: asyncio.Task[Any]) -> None:
        if task.get_name() == "http-server" and http is not None:
            http.force_exit = True

    await cancel_and_wait(svc._tasks, log=log, timeout_s=5.0, rounds=6,
                          cancel=lambda t: t.get_name() != "http-server", on_straggler=force)
