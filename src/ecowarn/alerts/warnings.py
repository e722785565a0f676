"""Automated risk warnings to enterprises: an outbox in the database and its dispatcher.

    alert opens ──► enqueue (one outbox row per alert, event ──► deliver_due
    alert dispatched  and channel; unique)                      claim with FOR UPDATE SKIP LOCKED,
                    DB-side scan of alerts without their rows;  send, record the attempt; retry
                    policy from config/warnings.yaml            with exponential backoff + jitter

Events: ``opened`` (body ``"event": "risk_warning"``) when an alert that matches
the policy (rule and severity) opens; ``dispatched`` (``"enforcement_notice"``)
when an officer dispatches the alert to the enterprise, with the answer deadline the
alert workflow set (``alerts.due_at``); and, with ``remind_before_h``, two reminders:
``answer_reminder`` that long before the answer deadline of a dispatched alert the
enterprise has not answered, and ``rectification_reminder`` that long before the due
date of an ordered rectification nothing was submitted for (``rectifications.due_at``;
the rectification records that its enterprise was reminded). Reminder bodies carry
``deadline`` and a ``text_zh`` / ``text_en`` to show.

Deduplication is the unique key ``(alert_id, event, channel, rectification_id)`` of
``warning_deliveries``: a repeat trigger, a restart or a second dispatcher instance
inserts nothing new (``ON CONFLICT DO NOTHING``). The body (with its
``delivery_id``) is written once into the outbox, so every attempt sends the same
bytes with the same signature.

Claiming and settling are :class:`alerts._outbox.Outbox`'s: the row is leased and
committed before any network I/O, so no connection is held while a receiver is slow
and a second instance skips the row. If an instance dies mid-attempt the lease
expires and the row is retried (at-least-once; ``X-Ecowarn-Delivery`` lets the
receiver drop the repeat). After ``max_attempts`` failed attempts a delivery is
``failed`` and stays in the log with its last error.

Errors: :class:`WarningConfigError` for a bad policy file (names file and key).
Delivery failures are recorded, counted and retried, never raised.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import psycopg
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecowarn.alerts._outbox import Outbox, attempt_all, outcome_of
from ecowarn.alerts.rectification import due_soon, mark_reminded
from ecowarn.alerts.webhook import AttemptResult, MqttWarningPublisher, WebhookSender
from ecowarn.config import packaged_file
from ecowarn.config.registry import Registry
from ecowarn.core.aio import Backoff, run_periodically
from ecowarn.core.mqtturl import MqttEndpoint
from ecowarn.i18n import LANGS, catalog, rule_name

__all__ = [
    "DEFAULT_POLICY_PATH",
    "WarningConfigError",
    "WarningDispatcher",
    "WarningMetrics",
    "WarningPolicy",
    "load_warning_policy",
]

log = logging.getLogger(__name__)

DEFAULT_POLICY_PATH = packaged_file("warnings.yaml")
CST = timezone(timedelta(hours=8))
_ANY = "*"
# Alerts examined per enqueue round, deliveries claimed per round, parallel sends.
ENQUEUE_BATCH = 500
CLAIM_BATCH = 50
MAX_PARALLEL_SENDS = 16
# Backoff of the run loop itself when the database is unreachable; tests shrink it.
DB_RETRY_MAX_S = 30.0


# Outbox events and the "event" of their bodies (and X-Ecowarn-Event header).
EVENT_NAMES: Mapping[str, str] = MappingProxyType({
    "opened": "risk_warning", "dispatched": "enforcement_notice",
    "answer_reminder": "answer_reminder", "rectification_reminder": "rectification_reminder"})
REMINDERS = frozenset({"answer_reminder", "rectification_reminder"})
_OUTBOX = Outbox("warning_deliveries", "warning_attempts",
                 ("event", "channel", "target", "enterprise_id"))

# Alerts that need outbox rows for %(event)s on a channel they lack. ``due_at`` (the
# answer deadline, alert workflow) is read through to_jsonb so this works with or
# without that column.
_CANDIDATES_SQL = (
    "SELECT a.id, a.rule, a.enterprise_id, a.device_ids, a.start_ts, a.end_ts, a.severity,"
    " a.summary, a.summary_zh, to_jsonb(a) ->> 'due_at' AS due_at FROM alerts a"
    " WHERE a.enterprise_id IS NOT NULL AND {where}"
    " AND ((%(mqtt)s AND NOT EXISTS (SELECT 1 FROM warning_deliveries w"
    "        WHERE w.alert_id = a.id AND w.event = %(event)s AND w.channel = 'mqtt'))"
    "   OR (a.enterprise_id = ANY(%(webhooks)s) AND NOT EXISTS (SELECT 1 FROM warning_deliveries w"
    "        WHERE w.alert_id = a.id AND w.event = %(event)s AND w.channel = 'webhook')))"
    " ORDER BY a.id LIMIT %(limit)s")
_OPENED_WHERE = (
    "a.created_at >= %(horizon)s AND a.status <> ALL(%(skip)s)"
    " AND coalesce(%(warn)s::jsonb -> a.rule, %(warn)s::jsonb -> '*', '[]'::jsonb) ? a.severity")
_DISPATCHED_WHERE = "a.status = 'dispatched'"
# Dispatched, not answered, answer deadline within the reminder lead time.
_ANSWER_REMINDER_WHERE = (
    "a.status = 'dispatched' AND a.due_at > %(now)s AND a.due_at <= %(remind_until)s"
    " AND NOT EXISTS (SELECT 1 FROM alert_answers x WHERE x.alert_id = a.id)")
# The alert columns of a rectification's reminder.
_ALERTS_SQL = (
    "SELECT a.id, a.rule, a.enterprise_id, a.device_ids, a.start_ts, a.end_ts, a.severity, a.summary,"
    " a.summary_zh, to_jsonb(a) ->> 'due_at' AS due_at FROM alerts a WHERE a.id = ANY(%s)")


def _parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class WarningConfigError(ValueError):
    """The warning policy file is invalid; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class WarningPolicy:
    """Which alerts warn when they open (rule -> severities, ``*`` for the rest), and
    whether a dispatch to the enterprise sends a notice."""

    warn: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType({_ANY: frozenset({"medium", "high"})}))
    notify_dispatch: bool = True
    horizon_h: float = 24.0
    skip_statuses: frozenset[str] = frozenset({"superseded", "dismissed"})

    def warns(self, rule: str, severity: str) -> bool:
        severities = self.warn.get(rule, self.warn.get(_ANY, frozenset()))
        return severity in severities

    def as_json(self) -> dict[str, list[str]]:
        """The warn table as the enqueue query reads it (jsonb ``?`` on severities)."""
        return {rule: sorted(sev) for rule, sev in self.warn.items()}


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warn: dict[str, list[str]] = Field(default_factory=lambda: {_ANY: ["medium", "high"]})
    notify_dispatch: bool = True
    horizon_h: float = Field(default=24.0, gt=0)
    skip_statuses: list[str] = Field(default_factory=lambda: ["superseded", "dismissed"])


def load_warning_policy(path: Path | None = None) -> WarningPolicy:
    """The policy from ``path`` (default: the packaged ``config/warnings.yaml``)."""
    path = path or DEFAULT_POLICY_PATH
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        f = _PolicyFile.model_validate(raw if raw is not None else {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WarningConfigError(f"{path}: cannot read the warning policy: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise WarningConfigError(f"{path}: {problems}") from exc
    return WarningPolicy(
        warn=MappingProxyType({r: frozenset(s) for r, s in f.warn.items()}),
        notify_dispatch=f.notify_dispatch, horizon_h=f.horizon_h,
        skip_statuses=frozenset(f.skip_statuses))


class WarningMetrics:
    """Warning counters, registered once on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.enqueued = Counter("ecowarn_warnings_enqueued_total", "Warnings put in the outbox, by channel",
                                ["channel"], registry=registry)
        self.sent = Counter("ecowarn_warnings_sent_total", "Warnings delivered, by channel",
                            ["channel"], registry=registry)
        self.failed = Counter("ecowarn_warnings_failed_total",
                              "Failed delivery attempts (each is retried until the last), by channel",
                              ["channel"], registry=registry)
        self.abandoned = Counter("ecowarn_warnings_abandoned_total",
                                 "Warnings given up after the last attempt, by channel",
                                 ["channel"], registry=registry)
        self.duration = Histogram("ecowarn_warning_attempt_seconds", "Time of one delivery attempt",
                                  ["channel"], registry=registry)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(CST).isoformat()


def _reminder_fields(row: Mapping[str, Any], event: str) -> dict[str, Any]:
    """``deadline`` (and the rectification's id and requirements) and the reminder's text in
    both languages, Chinese first."""
    if event == "rectification_reminder":
        deadline = row["deadline"]
        extra = {"rectification_id": row["rectification_id"], "requirements": row["requirements"]}
    else:
        deadline, extra = _parse_ts(row.get("due_at")), {}
    when = deadline.astimezone(CST).strftime("%Y-%m-%d %H:%M") if deadline is not None else ""
    texts = {f"text_{lang}": catalog(lang, "NOTIFY")[f"text_{event}"].format(
        id=row.get("rectification_id") or "", alert_id=row["id"], rule=rule_name(row["rule"], lang),
        deadline=when) for lang in LANGS}
    return {"deadline": _iso(deadline), **extra, **texts}


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    delivery_id: str
    event: str
    channel: str
    target: str
    enterprise_id: str
    body: bytes
    attempts: int


class WarningDispatcher:
    """Enqueues warnings for new alerts and delivers them; ``run()`` is a service task.

    An async context manager: entering opens the HTTP client (and, with ``mqtt``, the
    MQTT publisher); leaving closes them. Tests drive it with :meth:`enqueue_new` and
    :meth:`deliver_due` (``now`` in the future makes retries due without sleeping).
    With ``remind_before_h`` > 0 it also reminds enterprises of deadlines (module docstring).
    """

    def __init__(self, pool: AsyncConnectionPool[Any], registry: Registry, policy: WarningPolicy,
                 metrics: WarningMetrics, *, secret: str | None = None,
                 secrets: Mapping[str, str] | None = None, mqtt: MqttEndpoint | None = None,
                 topic_prefix: str = "", max_attempts: int = 10, backoff_initial_s: float = 30.0,
                 backoff_max_s: float = 3600.0, timeout_s: float = 10.0, poll_ms: int = 2000,
                 link_base: str = "", user_agent: str = "ecowarn-warnings/1",
                 seed: int | None = None, remind_before_h: float = 0.0) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if remind_before_h < 0:
            raise ValueError("remind_before_h must be >= 0 (0: no reminders)")
        self._remind_before = timedelta(hours=remind_before_h)
        self._pool = pool
        self._registry = registry
        self._policy = policy
        self._metrics = metrics
        self._secret = secret or None
        self._secrets = dict(secrets or {})
        self._mqtt_endpoint = mqtt
        self._prefix = topic_prefix
        self._max_attempts = max_attempts
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._timeout_s = timeout_s
        # A claimed row is not retried by anyone before this lease ends.
        self._lease = timedelta(seconds=max(60.0, 3 * timeout_s))
        self._poll_s = poll_ms / 1000
        self._link_base = link_base.rstrip("/")
        self._user_agent = user_agent
        self._rng = random.Random(seed)
        self._wake = asyncio.Event()
        self._stack: AsyncExitStack | None = None
        self._http: WebhookSender | None = None
        self._mqtt: MqttWarningPublisher | None = None
        self._webhooks = {e.id: e.webhook for e in registry.enterprises.values() if e.webhook}
        unsigned = sorted(e for e in self._webhooks if not self._secret_for(e))
        if unsigned:
            log.warning("no webhook secret for %s: their warnings go unsigned (set "
                        "ECOWARN_WARNING_WEBHOOK_SECRET or ECOWARN_WARNING_WEBHOOK_SECRETS)",
                        ", ".join(unsigned))

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> WarningDispatcher:
        stack = AsyncExitStack()
        client = await stack.enter_async_context(httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout_s), follow_redirects=False, trust_env=False))
        self._http = WebhookSender(client, timeout_s=self._timeout_s, user_agent=self._user_agent)
        if self._mqtt_endpoint is not None:
            self._mqtt = await stack.enter_async_context(
                MqttWarningPublisher(self._mqtt_endpoint, timeout_s=self._timeout_s))
        self._stack = stack
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack, self._stack, self._http, self._mqtt = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()

    def wake(self) -> None:
        """New alerts were committed: enqueue and deliver now rather than at the next poll.
        Safe to call from the detector runner's ``on_alerts`` hook."""
        self._wake.set()

    @property
    def channels(self) -> tuple[str, ...]:
        return ("webhook", "mqtt") if self._mqtt_endpoint is not None else ("webhook",)

    def _secret_for(self, enterprise_id: str) -> str | None:
        return self._secrets.get(enterprise_id) or self._secret

    # --- enqueue -----------------------------------------------------------------------

    def _body(self, alert: dict[str, Any], event: str, delivery_id: str, issued_at: datetime) -> bytes:
        enterprise = self._registry.enterprises.get(alert["enterprise_id"])
        link = f"/console/alerts/{alert['id']}"
        body = {
            "event": EVENT_NAMES[event], "version": 1, "delivery_id": delivery_id,
            "alert_id": alert["id"], "enterprise_id": alert["enterprise_id"],
            "enterprise_name": enterprise.name if enterprise else None,
            "rule": alert["rule"], "severity": alert["severity"],
            "summary_zh": alert["summary_zh"], "summary_en": alert["summary"],
            "start": _iso(alert["start_ts"]), "end": _iso(alert["end_ts"]),
            "device_ids": list(alert["device_ids"]),
            "link": link, "url": f"{self._link_base}{link}" if self._link_base else None,
            # Set by the alert workflow when the alert is dispatched; null until then.
            "answer_deadline": _iso(_parse_ts(alert.get("due_at"))),
            "issued_at": _iso(issued_at),
        }
        if event in REMINDERS:
            body.update(_reminder_fields(alert, event))
        return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def _targets(self, enterprise_id: str) -> dict[str, str]:
        targets = {}
        if enterprise_id in self._webhooks:
            targets["webhook"] = self._webhooks[enterprise_id]
        if self._mqtt_endpoint is not None:
            targets["mqtt"] = f"{self._prefix}warnings/{enterprise_id}"
        return targets

    async def enqueue(self, conn: psycopg.AsyncConnection[Any], alerts: list[dict[str, Any]],
                      event: str, now: datetime) -> int:
        """Outbox rows of ``event`` for ``alerts`` (rows of ``alerts``) on every channel
        they lack, in the caller's transaction; the policy is not checked here. Returns
        the number of rows added."""
        if event not in EVENT_NAMES:
            raise ValueError(f"unknown warning event {event!r}")
        added = 0
        for alert in alerts:
            for channel, target in self._targets(alert["enterprise_id"]).items():
                delivery_id = str(uuid.uuid4())
                cur = await conn.execute(
                    "INSERT INTO warning_deliveries (delivery_id, alert_id, event, enterprise_id,"
                    " channel, target, body, next_attempt_at, rectification_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (alert_id, event, channel, rectification_id) DO NOTHING",
                    (delivery_id, alert["id"], event, alert["enterprise_id"], channel, target,
                     self._body(alert, event, delivery_id, now).decode("utf-8"), now,
                     alert.get("rectification_id")))
                if cur.rowcount == 1:
                    added += 1
                    self._metrics.enqueued.labels(channel).inc()
        return added

    async def enqueue_new(self, now: datetime | None = None) -> int:
        """Find alerts that should warn and lack an outbox row on some channel, and add the
        rows, in the transaction that found them: alerts created within the policy's
        horizon that match it (``opened``), alerts in ``dispatched`` status
        (``dispatched``, when the policy asks for notices) and, with reminders on, the
        deadlines due within the lead time. Returns rows added."""
        now = now or datetime.now(UTC)
        params = {"horizon": now - timedelta(hours=self._policy.horizon_h),
                  "skip": sorted(self._policy.skip_statuses), "warn": Jsonb(self._policy.as_json()),
                  "mqtt": self._mqtt_endpoint is not None, "webhooks": sorted(self._webhooks),
                  "limit": ENQUEUE_BATCH, "now": now, "remind_until": now + self._remind_before}
        total = 0
        scans = [("opened", _CANDIDATES_SQL.format(where=_OPENED_WHERE))]
        if self._policy.notify_dispatch:
            scans.append(("dispatched", _CANDIDATES_SQL.format(where=_DISPATCHED_WHERE)))
        if self._remind_before > timedelta(0):
            scans.append(("answer_reminder", _CANDIDATES_SQL.format(where=_ANSWER_REMINDER_WHERE)))
        for event, query in scans:
            while True:
                async with self._pool.connection() as conn, conn.transaction():
                    async with conn.cursor(row_factory=dict_row) as cur:
                        await cur.execute(query, {**params, "event": event})
                        alerts = await cur.fetchall()
                    total += await self.enqueue(conn, alerts, event, now)
                if len(alerts) < ENQUEUE_BATCH:
                    break
        if self._remind_before > timedelta(0):
            total += await self._remind_rectifications(now)
        return total

    async def _remind_rectifications(self, now: datetime) -> int:
        """Reminders of ordered rectifications due within the lead time whose enterprise was
        not reminded yet (:func:`alerts.rectification.due_soon`); each reminded one is marked
        (``reminded_at`` and a ``reminded`` event naming the deliveries) in the transaction
        that queued its reminders. An enterprise without a channel is not marked."""
        async with self._pool.connection() as conn, conn.transaction():
            due = [r for r in await due_soon(conn, within=self._remind_before, now=now)
                   if self._targets(r["enterprise_id"])]
            if not due:
                return 0
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(_ALERTS_SQL, ([r["alert_id"] for r in due],))
                alerts = {a["id"]: a for a in await cur.fetchall()}
            added = 0
            for r in due:
                row = {**alerts[r["alert_id"]], "enterprise_id": r["enterprise_id"], "rectification_id": r["id"],
                       "deadline": r["due_at"], "requirements": r["requirements"]}
                added += await self.enqueue(conn, [row], "rectification_reminder", now)
                await mark_reminded(conn, int(r["id"]), now=now,
                                    data={"channels": sorted(self._targets(r["enterprise_id"]))})
        return added

    # --- delivery ----------------------------------------------------------------------

    async def _claim(self, now: datetime) -> list[_Claimed]:
        rows = await _OUTBOX.claim(self._pool, now, limit=CLAIM_BATCH, lease=self._lease)
        return [_Claimed(int(r["id"]), str(r["delivery_id"]), r["event"], r["channel"], r["target"],
                         r["enterprise_id"], r["body"].encode("utf-8"), int(r["attempts"]))
                for r in rows]

    async def _attempt(self, item: _Claimed) -> AttemptResult:
        if item.channel == "webhook":
            if self._http is None:
                raise RuntimeError("WarningDispatcher used outside 'async with'")
            return await self._http.send(item.target, item.body, delivery_id=item.delivery_id,
                                         secret=self._secret_for(item.enterprise_id),
                                         event=EVENT_NAMES[item.event])
        if self._mqtt is None:
            return AttemptResult(False, None, "MQTT is not configured on this instance")
        return await self._mqtt.publish(item.target, item.body)

    async def _record(self, item: _Claimed, result: AttemptResult, started: datetime, now: datetime) -> None:
        self._metrics.duration.labels(item.channel).observe(result.duration_s)
        outcome = outcome_of(result, item.attempts, now, max_attempts=self._max_attempts,
                             backoff=self._backoff, rng=self._rng)
        if outcome.status == "delivered":
            self._metrics.sent.labels(item.channel).inc()
            log.info("warning %s (%s %s) delivered to %s", item.delivery_id, item.event, item.channel,
                     item.target)
        else:
            self._metrics.failed.labels(item.channel).inc()
            if outcome.status == "failed":
                self._metrics.abandoned.labels(item.channel).inc()
                log.warning("warning %s (%s) to %s abandoned after %d attempts: %s",
                            item.delivery_id, item.channel, item.target, item.attempts, result.error)
            else:
                log.info("warning %s (%s) attempt %d failed (%s); next in %.0f s", item.delivery_id,
                         item.channel, item.attempts, result.error, outcome.delay_s)
        await _OUTBOX.settle(self._pool, item.id, item.attempts, result, outcome, started)

    async def deliver_due(self, now: datetime | None = None) -> int:
        """Claim deliveries due at ``now`` (default: the clock), attempt each once, record
        the outcomes. Returns the number attempted."""
        now = now or datetime.now(UTC)
        claimed = await self._claim(now)
        if not claimed:
            return 0
        return await attempt_all(claimed, now=now, parallel=MAX_PARALLEL_SENDS, name="warning",
                                 attempt=self._attempt, record=self._record)

    async def drain(self, now: datetime | None = None) -> int:
        """Enqueue, then deliver until nothing is due ("burst"); returns attempts made."""
        await self.enqueue_new(now)
        total = 0
        while (n := await self.deliver_due(now)) > 0:
            total += n
        return total

    async def run(self) -> None:
        """Enqueue and deliver forever: on :meth:`wake` or every ``poll_ms``."""
        await run_periodically(self.drain, interval_s=self._poll_s, wake=self._wake, log=log,
                               what="warning dispatch", retry_on=(psycopg.Error, OSError),
                               backoff=Backoff(1.0, DB_RETRY_MAX_S, rng=self._rng))
