"""Notifications to officers: new high-severity alerts, escalations, overdue rectifications and
maintenance declarations awaiting approval, to the channels of the officer channel file.

    scan (per event and channel) ──► officer_notifications ──► deliver_due
    alerts, alert_events 'escalated',  one row per (event,       claim (FOR UPDATE SKIP LOCKED,
    rectifications, maintenance        subject, channel);        leased), send, log the attempt,
    not yet notified on the channel    body from the template    retry with backoff + jitter

Events and their subject (``subject_id``):

- ``high_alert``: an alert of a notifying severity (``high``) was raised -> the alert;
- ``escalated``: an alert nobody acknowledged reached an escalation level (the
  ``escalated`` audit event the escalator wrote; one notification per level) -> the event;
- ``rectification_overdue``: a rectification's due date passed unverified -> the
  rectification. Each sweep first records overdue rectifications
  (:func:`alerts.rectification.mark_overdue`: ``overdue_at``, their alerts escalated), with
  or without channels, so the service always runs the notifier;
- ``maintenance_pending``: a declaration waits for an officer's approval -> the declaration.

Routing: a channel with a ``region`` gets the events of enterprises whose administrative
division code starts with it; one without gets every event. Events older than the file's
``horizon_h`` are not notified (a first start on an old database does not flood the group).

Exactly once: the unique key ``(event, subject_id, channel)`` makes a repeat scan, a restart or
a second instance insert nothing (``ON CONFLICT DO NOTHING``); claiming is
:class:`alerts._outbox.Outbox`'s, like the enterprise warnings. The body is rendered once from
the channel's template (Chinese first) and kept; the channel's URL and secret are read from
the configuration at each attempt and never stored. Signing and HTTP are
:class:`alerts.webhook.WebhookSender`'s (``X-Ecowarn-Signature``), plus the robot's own
signature for DingTalk and Feishu (:mod:`alerts._robots`).

Errors: :class:`NotifyConfigError` for a bad channel file (names file and key). Delivery
failures are logged per attempt, counted and retried, never raised.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import httpx
import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts._notify_config import (
    EVENTS,
    FIELDS,
    Event,
    NotifyConfig,
    NotifyConfigError,
    OfficerChannel,
    load_officer_channels,
    render_template,
)
from ecowarn.alerts._outbox import Outbox, attempt_all, outcome_of
from ecowarn.alerts._robots import answer_check, signed_request
from ecowarn.alerts.rectification import mark_overdue
from ecowarn.alerts.webhook import AttemptResult, WebhookSender
from ecowarn.config.registry import Registry
from ecowarn.core.aio import Backoff, run_periodically
from ecowarn.i18n import LANGS, catalog, rule_name

__all__ = [
    "EVENTS",
    "FIELDS",
    "NotifyConfig",
    "NotifyConfigError",
    "NotifyMetrics",
    "OfficerChannel",
    "OfficerNotifier",
    "SweepResult",
    "load_officer_channels",
    "render_template",
]

log = logging.getLogger(__name__)

CST = timezone(timedelta(hours=8))
# Subjects examined per scan round, deliveries claimed per round, parallel sends.
ENQUEUE_BATCH = 200
CLAIM_BATCH = 50
MAX_PARALLEL_SENDS = 8
# Backoff of the run loop itself when the database is unreachable; tests shrink it.
DB_RETRY_MAX_S = 30.0

_OUTBOX: Final = Outbox("officer_notifications", "officer_notification_attempts",
                        ("event", "channel", "enterprise_id"))

# Alert statuses that no longer call for a high_alert notification.
_SETTLED = ["dismissed", "closed", "superseded"]

# Per event: the subjects (uniform columns) lacking a row for %(channel)s, in its scope.
_NOT_SENT = ("NOT EXISTS (SELECT 1 FROM officer_notifications n WHERE n.event = %(event)s"
             " AND n.subject_id = {id} AND n.channel = %(channel)s)")
_SCOPE = "(%(everywhere)s OR {ent} = ANY(%(enterprises)s))"
_ALERT_COLS = ("a.id AS alert_id, a.enterprise_id, a.rule, a.severity, a.summary, a.summary_zh,"
               " a.start_ts, a.end_ts")
_SCANS: Final[Mapping[Event, str]] = {
    "high_alert": (
        f"SELECT a.id AS subject_id, {_ALERT_COLS}, NULL::int AS level, NULL::timestamptz AS due,"
        " NULL::text AS device_id, NULL::text AS reason, NULL::text AS requirements"
        " FROM alerts a WHERE a.created_at >= %(horizon)s AND a.severity = ANY(%(severities)s)"
        f" AND a.status <> ALL(%(settled)s) AND {_SCOPE.format(ent='a.enterprise_id')}"
        f" AND {_NOT_SENT.format(id='a.id')} ORDER BY a.id LIMIT %(limit)s"),
    "escalated": (
        f"SELECT e.id AS subject_id, {_ALERT_COLS}, (e.data ->> 'level')::int AS level,"
        " NULL::timestamptz AS due, NULL::text AS device_id, e.reason, NULL::text AS requirements"
        " FROM alert_events e JOIN alerts a ON a.id = e.alert_id"
        " WHERE e.kind = 'escalated' AND e.at >= %(horizon)s AND a.status = 'open'"
        # An overdue rectification escalates its alert too; it has an event of its own.
        " AND NOT (e.data ? 'rectification_id')"
        f" AND {_SCOPE.format(ent='a.enterprise_id')} AND {_NOT_SENT.format(id='e.id')}"
        " ORDER BY e.id LIMIT %(limit)s"),
    "rectification_overdue": (
        "SELECT r.id AS subject_id, r.alert_id, r.enterprise_id, r.rule, a.severity, a.summary,"
        " a.summary_zh, a.start_ts, a.end_ts, NULL::int AS level, r.due_at AS due,"
        " NULL::text AS device_id, NULL::text AS reason, r.requirements"
        " FROM rectifications r JOIN alerts a ON a.id = r.alert_id"
        " WHERE r.status IN ('ordered', 'submitted') AND (r.due_at <= %(now)s OR r.overdue_at IS NOT NULL)"
        " AND coalesce(r.overdue_at, r.due_at) >= %(horizon)s"
        f" AND {_SCOPE.format(ent='r.enterprise_id')} AND {_NOT_SENT.format(id='r.id')}"
        " ORDER BY r.id LIMIT %(limit)s"),
    "maintenance_pending": (
        "SELECT m.id AS subject_id, NULL::bigint AS alert_id, m.enterprise_id, NULL::text AS rule,"
        " NULL::text AS severity, NULL::text AS summary, NULL::text AS summary_zh, m.start_ts, m.end_ts,"
        " NULL::int AS level, NULL::timestamptz AS due, m.device_id, m.reason,"
        " m.pending_reason AS requirements"
        " FROM maintenance m WHERE m.status = 'pending' AND m.created_at >= %(horizon)s"
        f" AND {_SCOPE.format(ent='m.enterprise_id')} AND {_NOT_SENT.format(id='m.id')}"
        " ORDER BY m.id LIMIT %(limit)s"),
}


class NotifyMetrics:
    """Officer notification counters, registered once on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.enqueued = Counter("ecowarn_officer_notifications_enqueued_total",
                                "Officer notifications put in the outbox, by event", ["event"],
                                registry=registry)
        self.sent = Counter("ecowarn_officer_notifications_sent_total",
                            "Officer notifications delivered, by channel", ["channel"], registry=registry)
        self.failed = Counter("ecowarn_officer_notifications_failed_total",
                              "Failed delivery attempts (each is retried until the last), by channel",
                              ["channel"], registry=registry)
        self.abandoned = Counter("ecowarn_officer_notifications_abandoned_total",
                                 "Officer notifications given up after the last attempt, by channel",
                                 ["channel"], registry=registry)
        self.duration = Histogram("ecowarn_officer_notification_attempt_seconds",
                                  "Time of one officer notification attempt", ["channel"], registry=registry)


@dataclass(frozen=True, slots=True)
class SweepResult:
    enqueued: int
    attempted: int


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    delivery_id: str
    event: str
    channel: str
    body: bytes
    attempts: int


def _minute(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(CST).isoformat()


class OfficerNotifier:
    """Scans for events, fills the outbox and delivers it; ``run()`` is a service task.

    An async context manager: entering opens the HTTP client, leaving closes it. Tests call
    :meth:`sweep` (one pass at ``now``: a future ``now`` makes retries due without sleeping).
    """

    def __init__(self, pool: AsyncConnectionPool[Any], registry: Registry, config: NotifyConfig,
                 metrics: NotifyMetrics, *, link_base: str = "", user_agent: str = "ecowarn-notify/1",
                 seed: int | None = None) -> None:
        self._pool = pool
        self._registry = registry
        self._config = config
        self._metrics = metrics
        self._link_base = link_base.rstrip("/")
        self._user_agent = user_agent
        self._rng = random.Random(seed)
        self._backoff = (config.backoff_initial_s, config.backoff_max_s)
        # A claimed row is not retried by anyone before this lease ends.
        self._lease = timedelta(seconds=max(60.0, 3 * config.timeout_s))
        self._wake = asyncio.Event()
        self._stack: AsyncExitStack | None = None
        self._http: WebhookSender | None = None

    @property
    def config(self) -> NotifyConfig:
        return self._config

    async def __aenter__(self) -> OfficerNotifier:
        stack = AsyncExitStack()
        client = await stack.enter_async_context(httpx.AsyncClient(
            timeout=httpx.Timeout(self._config.timeout_s), follow_redirects=False, trust_env=False))
        self._http = WebhookSender(client, timeout_s=self._config.timeout_s, user_agent=self._user_agent)
        self._stack = stack
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack, self._stack, self._http = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def wake(self) -> None:
        """Something to tell was committed: scan now rather than at the next poll."""
        self._wake.set()

    # --- enqueue -----------------------------------------------------------------------

    def _region(self, enterprise_id: str | None) -> str | None:
        enterprise = self._registry.enterprises.get(enterprise_id or "")
        return enterprise.region if enterprise is not None else None

    def _scope(self, channel: OfficerChannel) -> dict[str, Any]:
        if channel.region is None:
            return {"everywhere": True, "enterprises": []}
        return {"everywhere": False, "enterprises": sorted(
            e.id for e in self._registry.enterprises.values() if e.region.startswith(channel.region))}

    def fields(self, event: str, row: Mapping[str, Any], *, channel: str, delivery_id: str,
               issued_at: datetime) -> dict[str, Any]:
        """What a template may name (:data:`FIELDS`) for one subject row of ``event``."""
        enterprise = self._registry.enterprises.get(row["enterprise_id"] or "")
        alert_id = row["alert_id"]
        # Declarations awaiting approval are decided on the queue page; the rest on the alert's.
        link = "/console/queue" if alert_id is None else f"/console/alerts/{alert_id}"
        rule = row["rule"]
        out: dict[str, Any] = {
            "event": event, "delivery_id": delivery_id, "channel": channel, "issued_at": _iso(issued_at),
            "subject_id": row["subject_id"], "alert_id": alert_id, "enterprise_id": row["enterprise_id"],
            "enterprise_name": enterprise.name if enterprise else None,
            "region": enterprise.region if enterprise else None, "rule": rule,
            "rule_zh": rule_name(rule, "zh") if rule else None, "rule_en": rule_name(rule, "en") if rule else None,
            "severity": row["severity"], "summary_zh": row["summary_zh"], "summary_en": row["summary"],
            "start": _iso(row["start_ts"]), "end": _iso(row["end_ts"]), "level": row["level"],
            "due": _iso(row["due"]), "device_id": row["device_id"], "reason": row["reason"],
            "requirements": row["requirements"], "link": link,
            "url": f"{self._link_base}{link}" if self._link_base else link,
        }
        for lang in LANGS:
            words = catalog(lang, "NOTIFY")
            facts = {
                "enterprise": (enterprise.name if enterprise else row["enterprise_id"]) or words["no_enterprise"],
                "rule": rule_name(rule, lang) if rule else "", "alert_id": alert_id or "",
                "summary": (row["summary_zh"] if lang == "zh" else row["summary"]) or "",
                "start": _minute(row["start_ts"]), "end": _minute(row["end_ts"]), "level": row["level"] or "",
                "id": row["subject_id"], "due": _minute(row["due"]), "requirements": row["requirements"] or "",
                "device_id": row["device_id"] or "", "reason": row["reason"] or "",
                "why": "、".join(catalog(lang, "LABELS").get(w, w) for w in (row["requirements"] or "").split(",")
                                if w) if event == "maintenance_pending" else "",
            }
            out[f"event_{lang}"] = words[event]
            out[f"title_{lang}"] = words[f"title_{event}"].format_map(facts)
            out[f"text_{lang}"] = words[f"text_{event}"].format_map(facts)
            out[f"open_{lang}"] = words["open"]
        return out

    def _body(self, channel: OfficerChannel, fields: Mapping[str, Any]) -> str:
        message = render_template(json.loads(channel.template), fields)
        return json.dumps(message, ensure_ascii=False, separators=(",", ":"))

    async def _enqueue_channel(self, event: Event, channel: OfficerChannel, params: dict[str, Any],
                               now: datetime) -> int:
        added = 0
        while True:
            async with self._pool.connection() as conn, conn.transaction():
                async with conn.cursor(row_factory=dict_row) as cur:
                    await cur.execute(_SCANS[event], {**params, **self._scope(channel), "event": event,
                                                      "channel": channel.id})
                    rows = await cur.fetchall()
                for row in rows:
                    delivery_id = str(uuid.uuid4())
                    body = self._body(channel, self.fields(event, row, channel=channel.id,
                                                           delivery_id=delivery_id, issued_at=now))
                    inserted = await conn.execute(
                        "INSERT INTO officer_notifications (delivery_id, event, subject_id, channel, alert_id,"
                        " enterprise_id, region, body, next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (event, subject_id, channel) DO NOTHING",
                        (delivery_id, event, row["subject_id"], channel.id, row["alert_id"],
                         row["enterprise_id"], self._region(row["enterprise_id"]), body, now))
                    if inserted.rowcount == 1:
                        added += 1
                        self._metrics.enqueued.labels(event).inc()
            if len(rows) < ENQUEUE_BATCH:
                return added

    async def enqueue_new(self, now: datetime | None = None) -> int:
        """Record overdue rectifications (:func:`alerts.rectification.mark_overdue`), then add
        the outbox rows of every event not yet notified on a channel that takes it and serves
        its region; returns the rows added."""
        now = now or datetime.now(UTC)
        # Overdue rectifications are recorded (and their alerts escalated) whether or not a
        # channel takes the event: this sweep is where that happens.
        async with self._pool.connection() as conn:
            await mark_overdue(conn, now=now)
        params = {"now": now, "horizon": now - timedelta(hours=self._config.horizon_h),
                  "severities": sorted(self._config.severities), "settled": _SETTLED,
                  "limit": ENQUEUE_BATCH}
        total = 0
        for event in EVENTS:
            for channel in self._config.channels:
                if event in channel.events:
                    total += await self._enqueue_channel(event, channel, params, now)
        return total

    # --- delivery ----------------------------------------------------------------------

    async def _attempt(self, item: _Claimed) -> AttemptResult:
        if self._http is None:
            raise RuntimeError("OfficerNotifier used outside 'async with'")
        channel = self._config.channel(item.channel)
        if channel is None:
            return AttemptResult(False, None, f"channel {item.channel!r} is not in the configuration any more")
        url, body = signed_request(channel.kind, channel.url, item.body, channel.secret, now_s=time.time())
        return await self._http.send(url, body, delivery_id=item.delivery_id, secret=channel.secret,
                                     event=item.event, check=answer_check(channel.kind))

    async def _record(self, item: _Claimed, result: AttemptResult, started: datetime, now: datetime) -> None:
        self._metrics.duration.labels(item.channel).observe(result.duration_s)
        outcome = outcome_of(result, item.attempts, now, max_attempts=self._config.max_attempts,
                             backoff=self._backoff, rng=self._rng)
        if outcome.status == "delivered":
            self._metrics.sent.labels(item.channel).inc()
            log.info("officer notification %s (%s) delivered to channel %s", item.delivery_id, item.event,
                     item.channel)
        else:
            self._metrics.failed.labels(item.channel).inc()
            if outcome.status == "failed":
                self._metrics.abandoned.labels(item.channel).inc()
                log.warning("officer notification %s (%s) to channel %s abandoned after %d attempts: %s",
                            item.delivery_id, item.event, item.channel, item.attempts, result.error)
            else:
                log.info("officer notification %s to channel %s: attempt %d failed (%s); next in %.0f s",
                         item.delivery_id, item.channel, item.attempts, result.error, outcome.delay_s)
        await _OUTBOX.settle(self._pool, item.id, item.attempts, result, outcome, started)

    async def deliver_due(self, now: datetime | None = None) -> int:
        """Claim the notifications due at ``now``, attempt each once, record the outcomes.
        Returns the number attempted."""
        now = now or datetime.now(UTC)
        rows = await _OUTBOX.claim(self._pool, now, limit=CLAIM_BATCH, lease=self._lease)
        if not rows:
            return 0
        claimed = [_Claimed(int(r["id"]), str(r["delivery_id"]), r["event"], r["channel"],
                            r["body"].encode("utf-8"), int(r["attempts"])) for r in rows]
        return await attempt_all(claimed, now=now, parallel=MAX_PARALLEL_SENDS, name="notification",
                                 attempt=self._attempt, record=self._record)

    async def sweep(self, now: datetime | None = None) -> SweepResult:
        """One pass: enqueue what is new, then deliver until nothing is due at ``now``."""
        enqueued = await self.enqueue_new(now)
        attempted = 0
        while (n := await self.deliver_due(now)) > 0:
            attempted += n
        return SweepResult(enqueued, attempted)

    async def run(self) -> None:
        """Sweep forever: on :meth:`wake` or every ``poll_s`` of the configuration."""
        await run_periodically(self.sweep, interval_s=self._config.poll_s, wake=self._wake, log=log,
                               what="officer notification sweep", retry_on=(psycopg.Error, OSError),
                               backoff=Backoff(1.0, DB_RETRY_MAX_S, rng=self._rng))
