"""What the HTTP layer needs from the rest of the service, passed in by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts.model import ConfirmHook, WorkflowParams, no_confirm_hook
from ecowarn.config.registry import Registry
from ecowarn.credit.evaluation import CreditModel, default_credit_model
from ecowarn.credit.supervision.config import SupervisionConfig, default_supervision_config
from ecowarn.ingest.parse import TelemetryParser
from ecowarn.store.gate import DatabaseGate
from ecowarn.store.model import Rejection, Row

__all__ = ["ApiContext"]


@dataclass(frozen=True)
class ApiContext:
    pool: AsyncConnectionPool[Any]
    registry: Registry
    metrics_registry: CollectorRegistry
    storage_mode: str
    parser: TelemetryParser
    # Entry point of the ingest pipeline: returns once the rows and rejections are
    # durably committed (or raises). Shared by MQTT, HJ 212 and HTTP ingest.
    submit: Callable[[list[Row], list[Rejection]], Awaitable[None]]
    # Component states for /healthz, e.g. {"database": "ok", "mqtt": "connected"}.
    health: Callable[[], dict[str, Any]]
    # Re-parse a dead letter against the current registry; returns
    # {"id", "result": "stored" | "rejected", "reason"?, "rows"?}.
    replay_dead_letter: Callable[[int], Awaitable[dict[str, Any]]]
    # Called inside the transaction that confirms an alert, with (conn, alert_id, actor);
    # raising rolls the confirmation back. The credit ledger and evidence freeze plug in here.
    on_confirmed: ConfirmHook = no_confirm_hook
    # Answer deadlines, set when an alert is dispatched to its enterprise.
    workflow: WorkflowParams = field(default_factory=WorkflowParams)
    # Credit evaluation catalogs and level schemes (config/credit_catalog_*.yaml, credit_levels.yaml).
    credit_model: CreditModel = field(default_factory=default_credit_model)
    # Inspection frequency and draw weights by credit level and positive list
    # (config/supervision.yaml, loaded at start).
    supervision: SupervisionConfig = field(default_factory=default_supervision_config)
    # Closed while the service waits for its database at start: database-backed requests
    # answer 503 with Retry-After at once instead of waiting for a pooled connection.
    gate: DatabaseGate | None = None
