"""Notifications to officers: real HTTP receivers on 127.0.0.1, a real database, real sweeps."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from fix_http import serving
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from test_api_support import ApiEnv

from ecowarn.alerts import EscalationParams, Escalator
from ecowarn.alerts.notify import (
    NotifyConfig,
    NotifyConfigError,
    NotifyMetrics,
    OfficerChannel,
    OfficerNotifier,
    SweepResult,
    load_officer_channels,
    render_template,
)
from ecowarn.alerts.webhook import signature_matches
from ecowarn.config import packaged_file
from ecowarn.config.registry import Registry
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

CST = timezone(timedelta(hours=8))
CEMENT = "91130105MA0CXXXX1X"   # region 130105
COKING = "91130182MA0DEM001G"   # region 130182
GLASS = "91130627MA0GLA2230"    # region 130627
SECRET = "robot-secret"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=CST)
ALL_EVENTS = frozenset({"high_alert", "escalated", "rectification_overdue", "maintenance_pending"})


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server in a thread that records requests and answers with scripted replies."""

    replies: list[tuple[int, bytes]] = field(default_factory=list)  # consumed in order; then 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = urlsplit(self.path)
                with receiver.lock:
                    receiver.received.append(Received(parts.path, parse_qs(parts.query),
                                                      dict(self.headers.items()), body))
                    status, answer = receiver.replies.pop(0) if receiver.replies else (200, b'{"errcode":0}')
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r.body) for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    with serving(rec.handler(), name="officer-receiver") as rec.url:
        yield rec


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with AsyncConnectionPool(database, min_size=1, max_size=8, open=False) as p:
        yield p


def write_channels(tmp_path: Path, text: str, name: str = "officer_channels.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def channels(tmp_path: Path, *specs: str, delivery: str = "") -> NotifyConfig:
    """A config from YAML channel entries, through the file loader."""
    body = "channels:\n" + "".join(specs) + (f"delivery:\n{delivery}" if delivery else "")
    return load_officer_channels(write_channels(tmp_path, body), environ={"ROBOT_SECRET": SECRET})


def generic(url: str, *, id: str = "all", region: str | None = None,
            events: str = "[high_alert, escalated, rectification_overdue, maintenance_pending]") -> str:
    return (f"  - id: {id}\n    kind: generic\n    url: {url}\n    secret_env: ROBOT_SECRET\n"
            f"    events: {events}\n" + (f"    region: '{region}'\n" if region else ""))


def notifier(pool: AsyncConnectionPool[Any], registry: Registry, config: NotifyConfig,
             metrics: CollectorRegistry | None = None) -> OfficerNotifier:
    return OfficerNotifier(pool, registry, config, NotifyMetrics(metrics or CollectorRegistry()),
                           link_base="https://ecowarn.example.gov.cn", seed=1)


async def insert_alert(pool: AsyncConnectionPool[Any], *, enterprise_id: str | None = CEMENT,
                       severity: str = "high", status: str = "open",
                       device: str = "PWR-KILN-1") -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity,"
            " status, summary, summary_zh, params, evidence)"
            " VALUES ('treatment_off', %s, %s, ARRAY[%s], %s, NULL, %s, %s,"
            " 'Kiln 1 ran while its treatment was off', '1号窑运行期间治污设施未运行', %s, %s) RETURNING id",
            (device, enterprise_id, device, T0, severity, status, Jsonb({}), Jsonb({})))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def insert_rectification(pool: AsyncConnectionPool[Any], alert_id: int, due: datetime,
                               enterprise_id: str = CEMENT) -> int:
    async with pool.connection() as conn:
        await conn.execute("UPDATE alerts SET status = 'rectifying', rectifying_from = 'dispatched'"
                           " WHERE id = %s", (alert_id,))
        cur = await conn.execute(
            "INSERT INTO rectifications (alert_id, enterprise_id, rule, requirements, due_at)"
            " VALUES (%s, %s, 'treatment_off', '更换除尘布袋并提交检测报告', %s) RETURNING id",
            (alert_id, enterprise_id, due))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def insert_maintenance(pool: AsyncConnectionPool[Any], *, status: str = "pending",
                             enterprise_id: str = CEMENT, device: str = "PWR-BAG-1") -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO maintenance (device_id, enterprise_id, start_ts, end_ts, reason, declared_by_role,"
            " status, pending_reason) VALUES (%s, %s, %s, %s, '更换滤袋', 'enterprise', %s, 'retroactive')"
            " RETURNING id", (device, enterprise_id, T0, T0 + timedelta(hours=4), status))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def outbox(pool: AsyncConnectionPool[Any]) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event, subject_id, channel, enterprise_id, status, attempts FROM officer_notifications"
            " ORDER BY id")
        return await cur.fetchall()


# --- delivery, signature, template ---------------------------------------------------------


async def test_high_alert_reaches_the_receiver_signed(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """A new high-severity alert is POSTed once to the channel; the receiver verifies the
    HMAC-SHA256 signature of the raw body with the shared secret (and a wrong secret fails);
    the body names the alert, the enterprise and its region, Chinese text first, with the link."""
    alert = await insert_alert(pool)
    await insert_alert(pool, severity="medium")  # below the notifying severity
    async with notifier(pool, sample_registry, channels(tmp_path, generic(receiver.url))) as n:
        result = await n.sweep()
    assert (result.enqueued, result.attempted) == (1, 1)
    (req,) = receiver.received
    assert signature_matches(req.body, SECRET, req.headers["X-Ecowarn-Signature"])
    assert not signature_matches(req.body, "not the secret", req.headers["X-Ecowarn-Signature"])
    assert req.headers["X-Ecowarn-Event"] == "high_alert"
    body = json.loads(req.body)
    assert body["delivery_id"] == req.headers["X-Ecowarn-Delivery"]
    assert {k: body[k] for k in ("event", "subject_id", "alert_id", "enterprise_id", "region", "severity",
                                 "rule", "link", "url", "channel", "version")} == {
        "event": "high_alert", "subject_id": alert, "alert_id": alert, "enterprise_id": CEMENT,
        "region": "130105", "severity": "high", "rule": "treatment_off", "link": f"/console/alerts/{alert}",
        "url": f"https://ecowarn.example.gov.cn/console/alerts/{alert}", "channel": "all", "version": 1}
    assert body["title_zh"] == "【高级别预警】石家庄某某水泥有限公司"
    assert body["text_zh"].startswith("治污设施未运行：1号窑运行期间治污设施未运行（预警 #")
    assert body["title_en"] == "High-severity alert: 石家庄某某水泥有限公司"
    assert list(body).index("title_zh") < list(body).index("title_en")
    assert await outbox(pool) == [("high_alert", alert, "all", CEMENT, "delivered", 1)]


async def test_wecom_template_puts_chinese_first(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """A WeCom robot channel gets a markdown message: the Chinese title and text, then the
    English, then the console link."""
    alert = await insert_alert(pool)
    spec = f"  - id: wecom\n    kind: wecom\n    url: {receiver.url}?key=abc\n    events: [high_alert]\n"
    async with notifier(pool, sample_registry, channels(tmp_path, spec)) as n:
        await n.sweep()
    (req,) = receiver.received
    assert req.query == {"key": ["abc"]}
    message = json.loads(req.body)
    assert message["msgtype"] == "markdown"
    content = message["markdown"]["content"]
    assert content.startswith("**【高级别预警】石家庄某某水泥有限公司**\n治污设施未运行：")
    assert content.index("High-severity alert") > content.index("治污设施未运行")
    assert content.endswith(f"[查看详情 / Open](https://ecowarn.example.gov.cn/console/alerts/{alert})")


async def test_dingtalk_signature_and_robot_error_code(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """A DingTalk channel with a secret signs each attempt in the URL (timestamp in ms, sign =
    base64 HMAC-SHA256 of "timestamp\\nsecret"), as the robot checks it; a 200 answer carrying a
    non-zero errcode is a failed attempt, logged with the robot's message, and retried."""
    receiver.replies = [(200, b'{"errcode":310000,"errmsg":"sign not match"}')]
    await insert_alert(pool)
    spec = (f"  - id: ding\n    kind: dingtalk\n    url: {receiver.url}?access_token=t0k\n"
            "    secret_env: ROBOT_SECRET\n    events: [high_alert]\n")
    now = datetime.now(UTC)
    async with notifier(pool, sample_registry, channels(tmp_path, spec)) as n:
        await n.sweep(now)
        assert (await outbox(pool))[0][4:] == ("pending", 1)
        await n.sweep(now + timedelta(minutes=5))
    assert len(receiver.received) == 2
    for req in receiver.received:
        stamp, sign = req.query["timestamp"][0], req.query["sign"][0]
        assert req.query["access_token"] == ["t0k"]
        expected = base64.b64encode(hmac.new(SECRET.encode(), f"{stamp}\n{SECRET}".encode(),
                                             hashlib.sha256).digest()).decode()
        assert sign == expected
        assert abs(int(stamp) / 1000 - datetime.now(UTC).timestamp()) < 60
        assert json.loads(req.body)["msgtype"] == "markdown"
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT attempt, status_code, error FROM officer_notification_attempts"
                                 " ORDER BY attempt")
        assert await cur.fetchall() == [(1, 200, "robot answered errcode 310000: sign not match"),
                                        (2, 200, None)]
    assert (await outbox(pool))[0][4:] == ("delivered", 2)


async def test_a_failing_receiver_is_retried_with_backoff_and_every_attempt_logged(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """A 500 is retried only after its backoff (60 s initial: due between 30 and 60 s), with
    the same body, signature and delivery id; the 200 ends it; both attempts are logged and
    counted."""
    receiver.replies = [(500, b"boom")]
    await insert_alert(pool)
    config = channels(tmp_path, generic(receiver.url),
                      delivery="  backoff_initial_s: 60\n  backoff_max_s: 600\n  max_attempts: 3\n")
    metrics = CollectorRegistry()
    now = datetime.now(UTC)
    async with notifier(pool, sample_registry, config, metrics) as n:
        assert (await n.sweep(now)).attempted == 1
        assert (await n.sweep(now + timedelta(seconds=29))).attempted == 0
        assert (await n.sweep(now + timedelta(seconds=61))).attempted == 1
        assert (await n.sweep(now + timedelta(days=3))).attempted == 0
    first, second = receiver.received
    assert first.body == second.body
    assert first.headers["X-Ecowarn-Delivery"] == second.headers["X-Ecowarn-Delivery"]
    assert first.headers["X-Ecowarn-Signature"] == second.headers["X-Ecowarn-Signature"]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT attempt, status_code, error FROM officer_notification_attempts"
                                 " ORDER BY attempt")
        assert await cur.fetchall() == [(1, 500, "HTTP 500 Internal Server Error"), (2, 200, None)]
    assert (await outbox(pool))[0][4:] == ("delivered", 2)
    assert metrics.get_sample_value("ecowarn_officer_notifications_failed_total", {"channel": "all"}) == 1
    assert metrics.get_sample_value("ecowarn_officer_notifications_sent_total", {"channel": "all"}) == 1
    assert metrics.get_sample_value("ecowarn_officer_notifications_enqueued_total",
                                    {"event": "high_alert"}) == 1


async def test_gives_up_after_max_attempts(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """After max_attempts failures the notification is 'failed', counted as abandoned, and
    never tried again."""
    receiver.replies = [(503, b"")] * 5
    await insert_alert(pool)
    config = channels(tmp_path, generic(receiver.url),
                      delivery="  backoff_initial_s: 1\n  backoff_max_s: 2\n  max_attempts: 2\n")
    metrics = CollectorRegistry()
    later = datetime.now(UTC)
    async with notifier(pool, sample_registry, config, metrics) as n:
        for _ in range(4):
            later += timedelta(minutes=5)
            await n.sweep(later)
    assert len(receiver.received) == 2
    assert (await outbox(pool))[0][4:] == ("failed", 2)
    assert metrics.get_sample_value("ecowarn_officer_notifications_abandoned_total", {"channel": "all"}) == 1


# --- routing --------------------------------------------------------------------------------


async def test_region_routing(pool: AsyncConnectionPool[Any], sample_registry: Registry,
                              receiver: Receiver, tmp_path: Path) -> None:
    """A channel for region 1301 gets the alerts of 130105 and 130182 enterprises, not the
    130627 (1306) one's, nor an alert of no enterprise; a channel without region gets all."""
    cement, coking = await insert_alert(pool), await insert_alert(pool, enterprise_id=COKING)
    glass = await insert_alert(pool, enterprise_id=GLASS, device="PWR-GLASS-1")
    nobody = await insert_alert(pool, enterprise_id=None, device="AQ-0001")
    config = channels(tmp_path, generic(receiver.url + "/sjz", id="sjz", region="1301"),
                      generic(receiver.url + "/hb", id="hebei"))
    async with notifier(pool, sample_registry, config) as n:
        await n.sweep()
    by_path: dict[str, list[int]] = {}
    for req in receiver.received:
        by_path.setdefault(req.path, []).append(json.loads(req.body)["alert_id"])
    assert sorted(by_path["/hook/sjz"]) == [cement, coking]
    assert sorted(by_path["/hook/hb"]) == [cement, coking, glass, nobody]


async def test_a_channel_gets_only_the_events_it_takes(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """A channel subscribed to maintenance_pending only is not sent a high-severity alert."""
    await insert_alert(pool)
    declaration = await insert_maintenance(pool)
    async with notifier(pool, sample_registry,
                        channels(tmp_path, generic(receiver.url, events="[maintenance_pending]"))) as n:
        await n.sweep()
    assert [(m["event"], m["subject_id"]) for m in receiver.messages()] == [("maintenance_pending", declaration)]


# --- the events, exactly once -----------------------------------------------------------------


async def test_escalation_notifies_once_per_level(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """An alert the escalator escalates (the 'escalated' audit event) is notified once per
    level reached, however many sweeps run; an acknowledged alert's escalation is not."""
    alert = await insert_alert(pool, severity="medium")  # medium: no high_alert notification
    escalator = Escalator(pool, CollectorRegistry(), EscalationParams(after_min={"medium": 60}))
    start = datetime.now(UTC)
    config = channels(tmp_path, generic(receiver.url))
    async with notifier(pool, sample_registry, config) as n:
        assert await escalator.sweep(start + timedelta(minutes=61)) == [alert]
        await n.sweep(start + timedelta(minutes=61))
        await n.sweep(start + timedelta(minutes=62))
        assert await escalator.sweep(start + timedelta(minutes=121)) == [alert]
        await n.sweep(start + timedelta(minutes=121))
        await n.sweep(start + timedelta(minutes=122))
    messages = receiver.messages()
    assert [(m["event"], m["alert_id"], m["level"]) for m in messages] == [
        ("escalated", alert, 1), ("escalated", alert, 2)]
    assert messages[0]["title_zh"] == "【预警升级至第 1 级】石家庄某某水泥有限公司"
    assert len({m["subject_id"] for m in messages}) == 2


async def test_overdue_rectification_notifies_once_and_is_recorded(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """A rectification still ordered when its due time passes is recorded overdue (and its
    alert escalated) by the sweep, and notified exactly once; before the due time, nothing."""
    now = datetime.now(UTC)
    alert = await insert_alert(pool, severity="low")
    rect = await insert_rectification(pool, alert, now + timedelta(hours=2))
    async with notifier(pool, sample_registry, channels(tmp_path, generic(receiver.url))) as n:
        assert (await n.sweep(now)).enqueued == 0
        assert (await n.sweep(now + timedelta(hours=3))).enqueued == 1
        assert (await n.sweep(now + timedelta(hours=4))).enqueued == 0
    (message,) = receiver.messages()
    assert (message["event"], message["subject_id"], message["alert_id"]) == ("rectification_overdue", rect, alert)
    assert message["title_zh"] == "【整改逾期】石家庄某某水泥有限公司"
    assert "整改要求：更换除尘布袋并提交检测报告" in message["text_zh"]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT overdue_at IS NOT NULL FROM rectifications WHERE id = %s", (rect,))
        assert await cur.fetchone() == (True,)
        cur = await conn.execute("SELECT escalation_level FROM alerts WHERE id = %s", (alert,))
        assert await cur.fetchone() == (1,)


async def test_pending_maintenance_notifies_once(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """A declaration awaiting approval is notified once (naming the device, the reason and why
    it waits, linking to the queue); approved declarations are not."""
    declaration = await insert_maintenance(pool)
    await insert_maintenance(pool, status="approved")
    async with notifier(pool, sample_registry, channels(tmp_path, generic(receiver.url))) as n:
        await n.sweep()
        await n.sweep()
    (message,) = receiver.messages()
    assert (message["event"], message["subject_id"], message["alert_id"]) == (
        "maintenance_pending", declaration, None)
    assert message["link"] == "/console/queue"
    assert message["text_zh"].startswith("设备 PWR-BAG-1 申报运维 2026-11-20 08:00 至 2026-11-20 12:00，原因：更换滤袋")
    assert "需审批：事后补报" in message["text_zh"]


async def test_two_instances_and_a_restart_send_each_event_once(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """Two notifiers sweeping at the same time, then a third (a restart), deliver each of an
    escalation, an overdue rectification and a pending declaration exactly once."""
    start = datetime.now(UTC)
    escalated = await insert_alert(pool, severity="medium")
    await Escalator(pool, CollectorRegistry(), EscalationParams(after_min={"medium": 60})).sweep(
        start + timedelta(minutes=61))
    rect = await insert_rectification(pool, await insert_alert(pool, severity="low"), start + timedelta(minutes=30))
    declaration = await insert_maintenance(pool)
    config = channels(tmp_path, generic(receiver.url))
    when = start + timedelta(minutes=62)
    async with notifier(pool, sample_registry, config) as a, notifier(pool, sample_registry, config) as b:
        await asyncio.gather(a.sweep(when), b.sweep(when), a.sweep(when), b.sweep(when))
    async with notifier(pool, sample_registry, config) as restarted:
        assert await restarted.sweep(when + timedelta(hours=1)) == SweepResult(0, 0)
    got = sorted((m["event"], m["subject_id"] if m["event"] != "escalated" else m["alert_id"])
                 for m in receiver.messages())
    assert got == sorted([("escalated", escalated), ("rectification_overdue", rect),
                          ("maintenance_pending", declaration)])


async def test_old_events_and_settled_alerts_are_not_notified(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """Alerts raised before the horizon (a first start on an old database) and alerts already
    dismissed or superseded are not notified."""
    old = await insert_alert(pool)
    async with pool.connection() as conn:
        await conn.execute("UPDATE alerts SET created_at = now() - interval '4 days' WHERE id = %s", (old,))
    await insert_alert(pool, status="dismissed")
    await insert_alert(pool, status="superseded")
    fresh = await insert_alert(pool)
    async with notifier(pool, sample_registry, channels(tmp_path, generic(receiver.url))) as n:
        await n.sweep()
    assert [m["alert_id"] for m in receiver.messages()] == [fresh]


async def test_a_channel_removed_from_the_configuration_fails_its_pending_rows(
        pool: AsyncConnectionPool[Any], sample_registry: Registry, receiver: Receiver, tmp_path: Path) -> None:
    """Rows queued for a channel that a restart no longer configures are attempted, logged as
    such and never sent anywhere else."""
    await insert_alert(pool)
    async with notifier(pool, sample_registry, channels(tmp_path, generic(receiver.url, id="gone"))) as n:
        await n.enqueue_new()
    async with notifier(pool, sample_registry, NotifyConfig()) as n:
        assert (await n.sweep()).attempted == 1
    assert receiver.received == []
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT status, last_error FROM officer_notifications")
        assert await cur.fetchall() == [("pending", "channel 'gone' is not in the configuration any more")]


# --- configuration ------------------------------------------------------------------------------


def test_the_example_file_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped example validates once its environment variables are set, with its regions,
    kinds and events, and keeps the robot URLs and secrets out of the channel's repr."""
    env = {"ECOWARN_ROBOT_SJZ_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
           "ECOWARN_ROBOT_XINGTAI_URL": "https://oapi.dingtalk.com/robot/send?access_token=T",
           "ECOWARN_ROBOT_XINGTAI_SECRET": "SECabc", "ECOWARN_RELAY_SECRET": "relay"}
    config = load_officer_channels(packaged_file("officer_channels.example.yaml"), environ=env)
    assert [(c.id, c.kind, c.region) for c in config.channels] == [
        ("sjz-wecom", "wecom", "1301"), ("xingtai-dingtalk", "dingtalk", "1305"),
        ("province-relay", "generic", None)]
    assert config.channels[0].events == ALL_EVENTS
    assert config.channels[1].secret == "SECabc"
    assert "key=K" not in repr(config.channels[0]) and "SECabc" not in repr(config.channels[1])
    assert config.channels[0].serves("130105") and not config.channels[0].serves("130627")
    assert config.channels[2].serves(None)


@pytest.mark.parametrize(("text", "message"), [
    ("channels:\n  - id: a\n    url_env: NOT_SET_ANYWHERE\n    events: [high_alert]\n",
     r"officer_channels.yaml: channels\[0\].url_env: environment variable NOT_SET_ANYWHERE is not set"),
    ("channels:\n  - id: a\n    url: https://x.example\n    events: [high_alert]\n"
     "  - id: b\n    url: https://x.example\n    events: [sent_everywhere]\n",
     r"officer_channels.yaml: channels\[1\].events\[0\]: Input should be"),
    ("channels:\n  - id: a\n    url: https://x.example\n    events: [high_alert]\n    region: 13x\n",
     r"channels\[0\].region: String should match pattern"),
    ("channels:\n  - id: a\n    url: https://x.example\n    events: [high_alert]\n"
     "    template: {text: {content: 'hello {enterprise_nmae}'}}\n",
     r"channels\[0\].template.text.content: unknown field \{enterprise_nmae\}"),
    ("channels:\n  - id: a\n    url: https://x.example\n    events: [high_alert]\n"
     "    template: {text: 'open {brace'}\n",
     r"channels\[0\].template.text: .*literal braces"),
    ("channels:\n  - id: a\n    url: https://x.example\n    events: [high_alert]\n"
     "  - id: a\n    url: https://y.example\n    events: [escalated]\n",
     r"channels\[1\].id: 'a' is used by an earlier channel"),
    ("channels:\n  - id: a\n    url: ftp://x.example\n    events: [high_alert]\n",
     r"channels\[0\].url: not an http\(s\) URL"),
    ("channels:\n  - id: a\n    url: https://x.example\n    url_env: ROBOT\n    events: [high_alert]\n",
     r"channels\[0\].url: give url or url_env, not both"),
    ("channels:\n  - id: a\n    url: https://x.example\n    events: [high_alert]\n    colour: red\n",
     r"channels\[0\].colour: Extra inputs are not permitted"),
    ("channels: []\ndelivery:\n  max_attempts: 0\n", r"delivery.max_attempts: Input should be greater"),
])
def test_config_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    """Every mistake in the channel file is reported with the file's name and the key."""
    with pytest.raises(NotifyConfigError, match=message):
        load_officer_channels(write_channels(tmp_path, text), environ={"ROBOT": "https://r.example"})


def test_an_unquoted_region_and_a_typed_template_field() -> None:
    """region: 1301 written without quotes is the prefix "1301"; a template string that is
    exactly one field keeps the field's JSON type."""
    assert OfficerChannel(id="x", url="https://x", events=ALL_EVENTS, template="{}", region="1301").serves("130105")
    assert render_template({"a": "{alert_id}", "b": "#{alert_id}", "c": ["{level}", 3]},
                           {"alert_id": 7, "level": None}) == {"a": 7, "b": "#7", "c": [None, 3]}


def test_unquoted_region_in_the_file(tmp_path: Path) -> None:
    """A region written as a YAML number is read as its digits."""
    config = load_officer_channels(write_channels(
        tmp_path, "channels:\n  - id: a\n    url: https://x.example\n    events: [high_alert]\n    region: 1301\n"))
    assert config.channels[0].region == "1301"


# --- the API ------------------------------------------------------------------------------------


async def test_notifications_api_is_scoped_to_the_officers_region(
        api: ApiEnv, receiver: Receiver, tmp_path: Path) -> None:
    """GET /notifications lists the log with attempts for officers: a 1301 officer sees the
    130105 enterprise's notifications and not the 130627 one's; an unlimited officer sees both;
    filters and the cursor work; enterprise tokens are refused (403)."""
    cement = await api.insert_alert(enterprise_id=CEMENT)
    glass = await api.insert_alert(enterprise_id=GLASS, device_ids=("PWR-GLASS-1",))
    declaration = await api.execute(
        "INSERT INTO maintenance (device_id, enterprise_id, start_ts, end_ts, reason, declared_by_role, status)"
        " VALUES ('PWR-BAG-1', %s, %s, %s, 'filter', 'enterprise', 'pending') RETURNING id",
        (CEMENT, T0, T0 + timedelta(hours=1)))
    receiver.replies = [(500, b"")]
    async with notifier(api.ctx.pool, api.ctx.registry, channels(tmp_path, generic(receiver.url))) as n:
        await n.sweep()
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        county = await create_token(conn, role="officer", region="1301")
    everyone = await api.headers("officer")

    async def listing(headers: dict[str, str], **params: Any) -> dict[str, Any]:
        r = await api.client.get("/api/v1/notifications", headers=headers, params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    mine = await listing({"Authorization": f"Bearer {county}"})
    assert sorted((i["event"], i["enterprise_id"]) for i in mine["items"]) == [
        ("high_alert", CEMENT), ("maintenance_pending", CEMENT)]
    everything = await listing(everyone)
    assert sorted((i["event"], i["alert_id"]) for i in everything["items"]) == sorted([
        ("high_alert", cement), ("high_alert", glass), ("maintenance_pending", None)])
    failed_once = [i for i in everything["items"] if i["attempt_log"][0]["status_code"] == 500]
    assert len(failed_once) == 1 and failed_once[0]["status"] == "pending"
    assert failed_once[0]["next_attempt_at"] is not None
    item = next(i for i in everything["items"] if i["subject_id"] == declaration[0][0])
    assert item["message"]["event"] == "maintenance_pending" and item["region"] == "130105"
    assert item["channel"] == "all" and "url" not in item
    only = await listing(everyone, event="maintenance_pending")
    assert [i["subject_id"] for i in only["items"]] == [declaration[0][0]]
    page1 = await listing(everyone, limit=2)
    page2 = await listing(everyone, limit=2, cursor=page1["next_cursor"])
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1 and page2["next_cursor"] is None
    assert {i["id"] for i in page1["items"]} | {i["id"] for i in page2["items"]} == {
        i["id"] for i in everything["items"]}
    delivered = await listing({"Authorization": f"Bearer {county}"}, status="delivered")
    assert all(i["status"] == "delivered" for i in delivered["items"])
    r = await api.client.get("/api/v1/notifications", headers=await api.headers("enterprise", CEMENT))
    assert r.status_code == 403
    r = await api.client.get("/api/v1/notifications", headers=everyone, params={"event": "nonsense"})
    assert r.status_code == 422
