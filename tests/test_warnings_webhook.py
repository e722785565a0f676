"""Risk warnings by webhook, against a real HTTP server on 127.0.0.1 and a real database."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fix_http import serving
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts.warnings import (
    WarningConfigError,
    WarningDispatcher,
    WarningMetrics,
    WarningPolicy,
    load_warning_policy,
)
from ecowarn.alerts.webhook import signature_matches
from ecowarn.config.registry import Registry

CST = timezone(timedelta(hours=8))
CEMENT = "91130105MA0CXXXX1X"
COKING = "91130182MA0DEM001G"
SECRET = "s3cret-for-cement"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=CST)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server in a thread that records requests and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)  # consumed in order; then 200
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    with serving(rec.handler(), name="webhook-receiver") as rec.url:
        yield rec


@pytest.fixture
def registry(sample_registry: Registry, receiver: Receiver) -> Registry:
    """The sample registry with the cement plant's webhook pointing at the receiver."""
    enterprises = dict(sample_registry.enterprises)
    enterprises[CEMENT] = dataclasses.replace(enterprises[CEMENT], webhook=receiver.url)
    return dataclasses.replace(sample_registry, enterprises=enterprises)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with AsyncConnectionPool(database, min_size=1, max_size=6, open=False) as p:
        yield p


def make_dispatcher(pool: AsyncConnectionPool[Any], registry: Registry, **kw: Any) -> WarningDispatcher:
    options: dict[str, Any] = {"secrets": {CEMENT: SECRET}, "max_attempts": 3, "backoff_initial_s": 60.0,
                               "backoff_max_s": 600.0, "timeout_s": 2.0, "seed": 1,
                               "link_base": "https://ecowarn.example.gov.cn"}
    options.update(kw)
    return WarningDispatcher(pool, registry, options.pop("policy", WarningPolicy()),
                             WarningMetrics(CollectorRegistry()), **options)


async def insert_alert(pool: AsyncConnectionPool[Any], *, rule: str = "treatment_off", severity: str = "high",
                       enterprise_id: str | None = CEMENT, status: str = "open") -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity,"
            " status, summary, summary_zh, params, evidence)"
            " VALUES (%s, 'PWR-KILN-1', %s, ARRAY['PWR-KILN-1', 'PWR-BAG-1'], %s, NULL, %s, %s,"
            " 'Kiln 1 ran while its treatment was off', '1号窑运行期间治污设施未运行', %s, %s) RETURNING id",
            (rule, enterprise_id, T0, severity, status, Jsonb({}), Jsonb({})))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def delivery_log(pool: AsyncConnectionPool[Any]) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT alert_id, event, channel, status, attempts, last_status_code, delivered_at IS NOT NULL"
            " FROM warning_deliveries ORDER BY id")
        return await cur.fetchall()


async def test_webhook_body_is_signed_and_carries_the_alert(
        pool: AsyncConnectionPool[Any], registry: Registry, receiver: Receiver) -> None:
    """The receiver gets one POST whose HMAC-SHA256 signature verifies with the enterprise's
    secret, with a delivery id header and the alert's id, rule, summaries, times and link."""
    alert = await insert_alert(pool)
    async with make_dispatcher(pool, registry) as dispatcher:
        assert await dispatcher.drain() == 1
    (req,) = receiver.received
    assert signature_matches(req.body, SECRET, req.headers["X-Ecowarn-Signature"])
    assert not signature_matches(req.body, "another secret", req.headers["X-Ecowarn-Signature"])
    assert req.headers["X-Ecowarn-Signature"].startswith("sha256=")
    assert req.headers["X-Ecowarn-Event"] == "risk_warning"
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    body = json.loads(req.body)
    assert body["delivery_id"] == req.headers["X-Ecowarn-Delivery"]
    assert {k: body[k] for k in ("alert_id", "rule", "severity", "summary_zh", "summary_en", "start",
                                 "end", "link", "url", "enterprise_id", "answer_deadline")} == {
        "alert_id": alert, "rule": "treatment_off", "severity": "high",
        "summary_zh": "1号窑运行期间治污设施未运行", "summary_en": "Kiln 1 ran while its treatment was off",
        "start": "2026-11-20T08:00:00+08:00", "end": None, "link": f"/console/alerts/{alert}",
        "url": f"https://ecowarn.example.gov.cn/console/alerts/{alert}", "enterprise_id": CEMENT,
        "answer_deadline": None}
    assert await delivery_log(pool) == [(alert, "opened", "webhook", "delivered", 1, 200, True)]


async def test_retries_after_a_500_with_the_same_bytes_then_stops(
        pool: AsyncConnectionPool[Any], registry: Registry, receiver: Receiver) -> None:
    """A 500 is retried only once its backoff has passed, with identical body, signature and
    delivery id; after the 200 nothing more is sent, however late it gets."""
    receiver.statuses = [500]
    await insert_alert(pool)
    now = datetime.now(UTC)
    async with make_dispatcher(pool, registry) as dispatcher:
        await dispatcher.enqueue_new(now)
        assert await dispatcher.deliver_due(now) == 1
        assert await delivery_log(pool) == [(1, "opened", "webhook", "pending", 1, 500, False)]
        assert await dispatcher.deliver_due(now + timedelta(seconds=29)) == 0  # backoff 30..60 s
        assert await dispatcher.deliver_due(now + timedelta(seconds=61)) == 1
        assert await dispatcher.deliver_due(now + timedelta(days=30)) == 0
    first, second = receiver.received
    assert first.body == second.body
    assert first.headers["X-Ecowarn-Delivery"] == second.headers["X-Ecowarn-Delivery"]
    assert first.headers["X-Ecowarn-Signature"] == second.headers["X-Ecowarn-Signature"]
    assert await delivery_log(pool) == [(1, "opened", "webhook", "delivered", 2, 200, True)]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT attempt, status_code, error FROM warning_attempts ORDER BY attempt")
        assert await cur.fetchall() == [(1, 500, "HTTP 500 Internal Server Error"), (2, 200, None)]


async def test_no_second_warning_after_a_restart_or_a_repeat_trigger(
        pool: AsyncConnectionPool[Any], registry: Registry, receiver: Receiver) -> None:
    """A new dispatcher instance (a restart) and repeated enqueueing send nothing again."""
    await insert_alert(pool)
    async with make_dispatcher(pool, registry) as first:
        await first.drain()
        assert await first.enqueue_new() == 0
    async with make_dispatcher(pool, registry) as restarted:
        assert await restarted.enqueue_new() == 0
        assert await restarted.drain(datetime.now(UTC) + timedelta(hours=1)) == 0
    assert len(receiver.received) == 1
    assert len(await delivery_log(pool)) == 1


async def test_two_instances_never_send_the_same_warning_twice(
        pool: AsyncConnectionPool[Any], registry: Registry, receiver: Receiver) -> None:
    """Two dispatchers claiming at once (a slow receiver) deliver each warning exactly once."""
    import asyncio
    receiver.delay_s = 0.3
    alerts = [await insert_alert(pool) for _ in range(4)]
    async with make_dispatcher(pool, registry) as a, make_dispatcher(pool, registry) as b:
        await asyncio.gather(a.enqueue_new(), b.enqueue_new())
        done = await asyncio.gather(a.deliver_due(), b.deliver_due(), a.deliver_due(), b.deliver_due())
    assert sum(done) == 4
    assert sorted(json.loads(r.body)["alert_id"] for r in receiver.received) == alerts


async def test_gives_up_after_max_attempts(pool: AsyncConnectionPool[Any], registry: Registry,
                                           receiver: Receiver) -> None:
    """After max_attempts failures the delivery is 'failed', counted, and never tried again."""
    receiver.statuses = [503, 503, 503, 503]
    await insert_alert(pool)
    metrics = CollectorRegistry()
    dispatcher = WarningDispatcher(pool, registry, WarningPolicy(), WarningMetrics(metrics),
                                   secret="global", max_attempts=3, backoff_initial_s=1.0,
                                   backoff_max_s=2.0, timeout_s=2.0)
    async with dispatcher:
        later = datetime.now(UTC)
        for _ in range(5):
            later += timedelta(minutes=5)
            await dispatcher.drain(later)
    assert len(receiver.received) == 3
    assert await delivery_log(pool) == [(1, "opened", "webhook", "failed", 3, 503, False)]
    assert metrics.get_sample_value("ecowarn_warnings_failed_total", {"channel": "webhook"}) == 3
    assert metrics.get_sample_value("ecowarn_warnings_abandoned_total", {"channel": "webhook"}) == 1
    # The global secret signs when the enterprise has none of its own.
    assert signature_matches(receiver.received[0].body, "global",
                             receiver.received[0].headers["X-Ecowarn-Signature"])


async def test_unreachable_receiver_is_a_failed_attempt(
        pool: AsyncConnectionPool[Any], registry: Registry) -> None:
    """A refused connection is recorded with its error and retried later, not raised."""
    enterprises = dict(registry.enterprises)
    enterprises[CEMENT] = dataclasses.replace(enterprises[CEMENT], webhook="http://127.0.0.1:9/hook")
    await insert_alert(pool)
    async with make_dispatcher(pool, dataclasses.replace(registry, enterprises=enterprises)) as d:
        assert await d.drain() == 1
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT status, last_error FROM warning_deliveries")
        status, error = await cur.fetchone() or (None, None)
    assert status == "pending" and "ConnectError" in error


async def test_policy_decides_which_alerts_warn(pool: AsyncConnectionPool[Any], registry: Registry,
                                                receiver: Receiver) -> None:
    """With the packaged policy: medium and high warn, low does not, data_gap only when high,
    superseded alerts and alerts of enterprises without a webhook never do."""
    policy = load_warning_policy()
    warned = [await insert_alert(pool, severity="medium"),
              await insert_alert(pool, rule="data_gap", severity="high")]
    for kw in ({"severity": "low"}, {"rule": "data_gap", "severity": "medium"},
               {"status": "superseded"}, {"enterprise_id": COKING}):
        await insert_alert(pool, **kw)
    async with make_dispatcher(pool, registry, policy=policy) as dispatcher:
        await dispatcher.drain()
    assert sorted(json.loads(r.body)["alert_id"] for r in receiver.received) == warned


async def test_dispatch_sends_the_notice_with_the_answer_deadline(
        pool: AsyncConnectionPool[Any], registry: Registry, receiver: Receiver) -> None:
    """An alert dispatched to the enterprise sends an enforcement notice carrying due_at."""
    alert = await insert_alert(pool, severity="low")  # below the warning policy
    async with pool.connection() as conn:
        await conn.execute("UPDATE alerts SET status = 'dispatched', dispatched_at = now(),"
                           " due_at = %s WHERE id = %s", (T0 + timedelta(days=3), alert))
    async with make_dispatcher(pool, registry) as dispatcher:
        await dispatcher.drain()
        await dispatcher.drain()
    (req,) = receiver.received
    body = json.loads(req.body)
    assert req.headers["X-Ecowarn-Event"] == body["event"] == "enforcement_notice"
    assert body["answer_deadline"] == "2026-11-23T08:00:00+08:00"


def test_policy_file_errors_name_the_key(tmp_path: Path) -> None:
    """An unknown key or a bad value in the policy file is reported with file and key."""
    path = tmp_path / "warnings.yaml"
    path.write_text("warn: {'*': [high]}\nhorizon_h: -1\n")
    with pytest.raises(WarningConfigError, match=r"warnings.yaml: horizon_h"):
        load_warning_policy(path)
    path.write_text("warm: {}\n")
    with pytest.raises(WarningConfigError, match="warm"):
        load_warning_policy(path)


def test_dashboard_covers_alert_warning_and_credit_metrics() -> None:
    """The provisioned Grafana dashboard plots alerts, warnings sent/failed and credit entries."""
    dashboard = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "dashboards" / "ecowarn.json"
    exprs = " ".join(t["expr"] for p in json.loads(dashboard.read_text())["panels"]
                     for t in p.get("targets", []))
    for metric in ("ecowarn_alerts_opened_total", "ecowarn_alerts_closed_total",
                   "ecowarn_warnings_sent_total", "ecowarn_warnings_failed_total",
                   "ecowarn_warnings_abandoned_total", "ecowarn_credit_entries_total"):
        assert metric in exprs, metric



# --- reminders before a deadline --------------------------------------------------------------


async def dispatch(pool: AsyncConnectionPool[Any], alert: int, due: datetime) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE alerts SET status = 'dispatched', dispatched_at = now(), due_at = %s"
                           " WHERE id = %s", (due, alert))


async def events_of(pool: AsyncConnectionPool[Any], event: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT alert_id, rectification_id, status FROM warning_deliveries"
                                 " WHERE event = %s ORDER BY id", (event,))
        return await cur.fetchall()


async def test_answer_reminder_once_before_the_deadline(
        pool: AsyncConnectionPool[Any], registry: Registry, receiver: Receiver) -> None:
    """A dispatched alert nobody answered gets one answer_reminder when its deadline comes
    within the lead time, carrying the deadline and a Chinese and English text; not earlier,
    not again, not after the deadline, and not for an alert the enterprise answered."""
    now = datetime.now(UTC)
    due = now + timedelta(hours=30)
    reminded = await insert_alert(pool, severity="low")  # below the warning policy
    answered = await insert_alert(pool, severity="low")
    late = await insert_alert(pool, severity="low")
    await dispatch(pool, reminded, due)
    await dispatch(pool, answered, due)
    await dispatch(pool, late, now - timedelta(hours=1))
    async with pool.connection() as conn:
        token = await conn.execute("INSERT INTO api_tokens (token_hash, role, enterprise_id, label)"
                                   " VALUES ('h', 'enterprise', %s, 'e') RETURNING id", (CEMENT,))
        row = await token.fetchone()
        assert row is not None
        await conn.execute("INSERT INTO alert_answers (alert_id, enterprise_id, kind, body, author_token,"
                           " author_role) VALUES (%s, %s, 'explanation', '设备检修', %s, 'enterprise')",
                           (answered, CEMENT, row[0]))
    async with make_dispatcher(pool, registry, remind_before_h=24) as dispatcher:
        await dispatcher.drain(now)  # 30 h before: only the dispatch notices
        assert await events_of(pool, "answer_reminder") == []
        await dispatcher.drain(now + timedelta(hours=7))
        await dispatcher.drain(now + timedelta(hours=8))
    assert await events_of(pool, "answer_reminder") == [(reminded, None, "delivered")]
    (req,) = [r for r in receiver.received if json.loads(r.body)["event"] == "answer_reminder"]
    assert signature_matches(req.body, SECRET, req.headers["X-Ecowarn-Signature"])
    assert req.headers["X-Ecowarn-Event"] == "answer_reminder"
    body = json.loads(req.body)
    deadline = due.astimezone(CST)
    assert body["alert_id"] == reminded
    assert body["deadline"] == deadline.isoformat() == body["answer_deadline"]
    assert body["text_zh"] == (f"请于 {deadline:%Y-%m-%d %H:%M} 前就预警 #{reminded}（治污设施未运行）提交情况说明，"
                               "逾期视为放弃陈述申辩。")
    assert body["text_en"].startswith(f"Please answer alert #{reminded} (Treatment off")


async def insert_rectification(pool: AsyncConnectionPool[Any], alert: int, due: datetime,
                               status: str = "ordered", enterprise_id: str = CEMENT) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO rectifications (alert_id, enterprise_id, rule, status, requirements, due_at)"
            " VALUES (%s, %s, 'treatment_off', %s, '更换除尘布袋', %s) RETURNING id",
            (alert, enterprise_id, status, due))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_rectification_reminder_once_and_recorded(
        pool: AsyncConnectionPool[Any], registry: Registry, receiver: Receiver) -> None:
    """An ordered rectification due within the lead time gets one rectification_reminder with
    its id, requirements and due time, also across two dispatchers and a second
    rectification of the same alert gets its own; the rectification records the reminder
    (reminded_at and a 'reminded' event). One the enterprise already submitted, one of an
    enterprise without a channel, and one due later are not reminded."""
    now = datetime.now(UTC)
    alert = await insert_alert(pool, severity="low")
    first = await insert_rectification(pool, alert, now + timedelta(hours=5))
    submitted = await insert_rectification(pool, await insert_alert(pool, severity="low"),
                                           now + timedelta(hours=5), status="submitted")
    coking = await insert_rectification(pool, await insert_alert(pool, severity="low", enterprise_id=COKING),
                                        now + timedelta(hours=5), enterprise_id=COKING)
    later = await insert_rectification(pool, await insert_alert(pool, severity="low"), now + timedelta(days=3))
    async with make_dispatcher(pool, registry, remind_before_h=24) as a, \
            make_dispatcher(pool, registry, remind_before_h=24) as b:
        import asyncio
        await asyncio.gather(a.drain(now), b.drain(now), a.drain(now))
    assert await events_of(pool, "rectification_reminder") == [(alert, first, "delivered")]
    async with pool.connection() as conn:
        await conn.execute("UPDATE rectifications SET status = 'rejected', decided_at = now() WHERE id = %s",
                           (first,))
    second = await insert_rectification(pool, alert, now + timedelta(hours=6))
    async with make_dispatcher(pool, registry, remind_before_h=24) as restarted:
        await restarted.drain(now + timedelta(minutes=1))
        await restarted.drain(now + timedelta(minutes=2))
    assert await events_of(pool, "rectification_reminder") == [
        (alert, first, "delivered"), (alert, second, "delivered")]
    bodies = [json.loads(r.body) for r in receiver.received]
    reminders = [b for b in bodies if b["event"] == "rectification_reminder"]
    assert [b["rectification_id"] for b in reminders] == [first, second]
    assert reminders[0]["requirements"] == "更换除尘布袋"
    assert reminders[0]["deadline"] == (now + timedelta(hours=5)).astimezone(CST).isoformat()
    assert reminders[0]["text_zh"].startswith(f"整改 #{first}（预警 #{alert}，治污设施未运行）将于 ")
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, reminded_at IS NOT NULL FROM rectifications ORDER BY id")
        assert dict(await cur.fetchall()) == {first: True, submitted: False, coking: False, later: False,
                                              second: True}
        cur = await conn.execute("SELECT rectification_id, count(*) FROM rectification_events"
                                 " WHERE action = 'reminded' GROUP BY 1 ORDER BY 1")
        assert await cur.fetchall() == [(first, 1), (second, 1)]


async def test_no_reminders_without_a_lead_time(
        pool: AsyncConnectionPool[Any], registry: Registry, receiver: Receiver) -> None:
    """remind_before_h=0 (the dispatcher's default) sends no reminder at all."""
    now = datetime.now(UTC)
    alert = await insert_alert(pool, severity="low")
    await dispatch(pool, alert, now + timedelta(hours=2))
    await insert_rectification(pool, await insert_alert(pool, severity="low"), now + timedelta(hours=2))
    async with make_dispatcher(pool, registry) as dispatcher:
        await dispatcher.drain(now)
    assert await events_of(pool, "answer_reminder") == []
    assert await events_of(pool, "rectification_reminder") == []
