"""Every console page in Chinese without a word of English, and in English without Chinese.

One database is seeded so that every page has content (alerts of several rules and
severities with evidence and readings, an answered alert, a hearing, rectifications, credit
entries with their evidence packages, a repair application, the positive list, a complaint,
a supervision draw, an evaluation, officer notifications), then every console ``GET`` route
of the app is fetched as an officer, an enterprise user and an admin, in ``zh`` and in
``en``, together with the login page, the error pages and pages of refused forms. The route
list comes from the app itself: a new console page fails here until it is visited or
excluded below with a reason.

What a reader meets is checked: the text outside scripts and styles, the ``title``,
``placeholder``, ``aria-label`` and ``alt`` attributes, the labels of buttons and options,
and the SVG charts' texts and titles. A run of Latin letters on a Chinese page must be on
:data:`ALLOWED_LATIN` (units, pollutant symbols, standard and file-format names); Chinese on
an English page must be data: the registry's own values (enterprise, equipment, outlet,
station and contact names, read from the registry the test seeds, not written here) and the
texts this test typed in as users do. Every offending snippet is printed with its page.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from fix_browser import ARTIFACTS, CHROMIUM, NO_CHROMIUM, Browser, Tab, login_url, serve
from prometheus_client import CollectorRegistry
from test_api_support import CEMENT, COKING, CST, GLASS, ApiEnv, app_routes

from ecowarn.api import create_app
from ecowarn.config import packaged_file
from ecowarn.credit import CreditService, install, load_credit_params
from ecowarn.credit.evaluation import default_credit_model
from ecowarn.credit.ledger import AUTO_REPAIR_REASON, repair_due
from ecowarn.credit.supervision import today_cst
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

# Latin letters a Chinese page may show, each for a reason:
ALLOWED_LATIN = frozenset({
    # units (SI symbols are written in Latin letters in Chinese too)
    "kW", "kWh", "MW", "A", "mg", "μg", "m", "L", "km", "kPa", "s", "h", "pH",
    # pollutant and parameter symbols as GB/HJ standards print them
    "COD", "NH", "N", "NOx", "SO", "O", "NO", "CO", "PM", "TVOC", "TP", "TN",
    # standards and formats: HJ 212 (the data protocol), MN (its device number), CSV, PDF, JSON,
    # SHA (SHA-256, the hash that binds evidence), SCR (the denitration process name), HTTP
    "HJ", "MN", "CSV", "PDF", "JSON", "SHA", "SCR", "HTTP",
    # credit levels are letters in the provincial schemes (A-E); a quarter is written 2026-Q4
    "B", "C", "D", "E", "Q",
    # CEMS (烟气排放连续监测系统) as the standards abbreviate it; UTC in 北京时间（UTC+8）
    "CEMS", "UTC",
    # file kinds and sizes: PDF 文档, JPEG 图片, Word 文档（DOCX）, 2 MB
    "JPEG", "PNG", "WebP", "TXT", "Word", "Excel", "DOCX", "XLSX", "KB", "MB",
    # the product's name, and the link to the English pages (a language is named in itself)
    "ecowarn", "English",
})
ALLOWED_CJK = frozenset({"中文"})  # the link to the Chinese pages, named in Chinese
# Hex digests (SHA-256 of evidence and files, shortened to 12 digits) are codes, not words; so
# are addresses of the API that a page names for the complete data.
_CODES = re.compile(r"\b[0-9a-f]{12,}\b|/api/v1/[\w/{}.-]*")
_LATIN = re.compile(r"[A-Za-zμ]+")  # μ of μg/m³ belongs to its unit
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+")
# Registry fields whose values are data a page shows as they are (names, ids, numbers).
_DATA_KEYS = frozenset({"id", "name", "equipment", "outlet", "mn", "phone", "role", "address", "number",
                        "industry", "legal_representative", "contact", "label"})
_DEVICE_ROLES = frozenset({"production", "treatment"})  # the registry's own codes: not data

# Console GET routes not fetched as pages, with the reason.
EXCLUDED = {
    "/console/logout": "a redirect to the login page (fetched: /console/login)",
    "/console/attachments/{attachment_id}": "a file download (the file as uploaded), not a page",
    "/console/supervision/plan.csv": "a CSV file; its headers' language is pinned by test_console_supervision_pages",
    "/console/supervision/draws/{draw_id}.csv": "a CSV file of enterprise ids and numbers",
    "/console/stats.csv": "a CSV file; its headers' language is pinned by test_console_supervision",
}

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HEBEI = default_credit_model().catalogs["hebei_initial"]


def registry_values() -> set[str]:
    """The sample registry's data values (names, ids, numbers), read from its file."""
    doc = yaml.safe_load(packaged_file("registry.example.yaml").read_text(encoding="utf-8"))
    out: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in _DATA_KEYS and node not in _DEVICE_ROLES:
            out.add(node)

    walk(doc)
    return out


_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"})


class _Visible(HTMLParser):
    """What a reader meets on a page: text outside scripts and styles, and the attributes that
    a browser shows (tooltips, placeholders, labels read aloud, alternative texts, button labels).
    Elements marked ``translate="no"`` (HTML's own mark for text that must stay as written: a
    command to type, a rule's id) are left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0  # inside a script, a style or an element marked translate="no"
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "style") or a.get("translate") == "no":
            self._stack.append(tag)
            self._skip += 1
            return
        if self._skip:
            if tag not in _VOID:
                self._stack.append(tag)
                self._skip += 1
            return
        for name in ("title", "placeholder", "aria-label", "alt"):
            if a.get(name):
                self.parts.append(str(a[name]))
        if tag == "input" and a.get("type") in ("submit", "button", "reset") and a.get("value"):
            self.parts.append(str(a["value"]))

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._stack and self._stack[-1] == tag:
            self._stack.pop()
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return "\n".join(parser.parts)


def _without(text: str, data: list[str]) -> str:
    for value in data:  # longest first: a name containing another goes whole
        text = text.replace(value, " ")
    return text


def _snippet(text: str, m: re.Match[str]) -> str:
    return " ".join(text[max(0, m.start() - 25):m.end() + 25].split())


def english_in(text: str, data: list[str]) -> list[str]:
    """Runs of Latin letters in ``text`` not allowed on a Chinese page, with their context."""
    text = _CODES.sub(" ", _without(text, data))
    return [f"{m.group(0)!r} in …{_snippet(text, m)}…" for m in _LATIN.finditer(text)
            if m.group(0) not in ALLOWED_LATIN]


def chinese_in(text: str, data: list[str]) -> list[str]:
    """Runs of Chinese in ``text`` (an English page), with their context."""
    text = _without(text, data)
    return [f"{m.group(0)!r} in …{_snippet(text, m)}…" for m in _CJK.finditer(text)
            if m.group(0) not in ALLOWED_CJK]


# --- the seeded world ------------------------------------------------------------------------


@dataclass
class World:
    api: ApiEnv
    tokens: dict[str, str] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    typed: set[str] = field(default_factory=set)  # texts typed in as users do (data on any page)
    ids: dict[str, int] = field(default_factory=dict)
    who: str = ""

    async def be(self, who: str) -> None:
        if who not in self.tokens:
            role, enterprise = {"officer": ("officer", None), "admin": ("admin", None),
                                "enterprise": ("enterprise", CEMENT)}[who]
            async with await psycopg.AsyncConnection.connect(self.api.dsn, autocommit=True) as conn:
                self.tokens[who] = await create_token(conn, role=role, enterprise_id=enterprise,
                                                      label={"officer": "张伟", "admin": "李娜",
                                                             "enterprise": "刘洋"}[who])
            self.typed.add({"officer": "张伟", "admin": "李娜", "enterprise": "刘洋"}[who])
        self.api.client.cookies.clear()
        r = await self.api.client.get("/console/login", params={"token": self.tokens[who]})
        assert r.status_code == 303
        self.who = who

    async def get(self, url: str, **params: str) -> httpx.Response:
        r = await self.api.client.get(url, params=params or None)
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text)
        if m:
            self.csrf[self.who] = m.group(1)
        return r

    async def post(self, url: str, data: dict[str, str], files: Any = None, *, ok: int = 303) -> httpx.Response:
        self.typed.update(v for v in data.values() if _CJK.search(v))
        self.typed.update(name for _, (name, *_) in files or [] if name)
        r = await self.api.client.post(url, data={**data, "csrf": self.csrf[self.who]}, files=files)
        assert r.status_code == ok, (url, r.status_code, r.text[:2000])
        return r


def _minutes(n: int, value: float, *, then: float | None = None, after: int = 0) -> list[float | None]:
    return [value] * n + ([then] * after if then is not None else [])


async def _alert(w: World, *, rule: str, enterprise: str | None, devices: tuple[str, ...], severity: str,
                 start: datetime, end: datetime | None, summary: tuple[str, str], evidence: dict[str, Any],
                 params: dict[str, Any]) -> int:
    rows = await w.api.execute(
        "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity, summary,"
        " summary_zh, params, evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (rule, devices[0], enterprise, list(devices), start, end, severity, summary[0], summary[1],
         psycopg.types.json.Jsonb(params), psycopg.types.json.Jsonb(evidence)))
    return int(rows[0][0])


async def seed(w: World) -> None:
    api = w.api
    now = datetime.now(CST).replace(second=0, microsecond=0)
    t0 = now - timedelta(hours=6)
    # Readings around the alerts: a kiln running while its bag filter is off, an SO2 outlet over its limit.
    await api.insert_readings("PWR-KILN-1", "p", t0 - timedelta(minutes=30),
                              _minutes(150, 520.0))
    await api.insert_readings("PWR-BAG-1", "p", t0 - timedelta(minutes=30),
                              _minutes(30, 120.0, then=0.0, after=60) + _minutes(60, 118.0))
    await api.insert_readings("13010500000001", "so2", t0 - timedelta(minutes=60),
                              _minutes(60, 20.0) + _minutes(120, 48.5), )
    await api.insert_readings("13010500000001", "o2", t0 - timedelta(minutes=60), _minutes(180, 11.2))
    await api.insert_readings("AQ-0001", "pm25", t0 - timedelta(minutes=60), _minutes(180, 96.0))

    w.ids["treatment_off"] = await _alert(
        w, rule="treatment_off", enterprise=CEMENT, devices=("PWR-KILN-1", "PWR-BAG-1"), severity="high",
        start=t0, end=t0 + timedelta(minutes=60),
        summary=("Kiln 1 ran for 60 min (mean 520 kW) while its treatment was off",
                 "1号窑运行 60 分钟（平均 520 kW）期间治污设施未运行"),
        evidence={"facts": {"duration_min": 60.0, "production_mean_kw": 520.0, "production_on_kw": 80.0,
                            "treatment_max_kw": [0.0], "treatment_off_below_kw": [16.0], "severity": "high",
                            "stages_off": [0], "stages_off_devices": [["PWR-BAG-1"]]},
                  "metric": "p", "devices": {"PWR-KILN-1": "Kiln 1", "PWR-BAG-1": "Bag filter"}},
        params={"min_duration_min": 10, "off_ratio": 0.1, "high_severity_min": 30,
                "production_on_kw": 80.0, "suppressed_by_maintenance": True})
    w.ids["exceedance"] = await _alert(
        w, rule="emission_exceedance", enterprise=CEMENT, devices=("13010500000001",), severity="medium",
        start=t0, end=None,
        summary=("SO2 at DA001 above its limit 35 mg/m3 for 2 valid hours",
                 "DA001 二氧化硫连续 2 个有效小时超过限值 35 mg/m³"),
        evidence={"facts": {"limit": 35.0, "hours": 2, "max_hourly_converted": 48.5, "max_ratio_to_limit": 1.39,
                            "mean_hourly_converted": 48.5, "ref_o2_pct": 10.0, "severity": "medium"},
                  "metric": "so2", "metrics": ["so2"]},
        params={"min_hours": 2, "limit_tolerance": 0.0})
    w.ids["air"] = await _alert(
        w, rule="air_hotspot", enterprise=None, devices=("AQ-0001",), severity="low",
        start=t0, end=t0 + timedelta(minutes=90),
        summary=("Station Chang'an grid 1: PM2.5 above its neighbours", "长安网格1号站 PM2.5 高于周边站点"),
        evidence={"facts": {"neighbour_median_mean": 48.0, "mean_excess": 48.0, "min_excess_ugm3": 25.0,
                            "radius_km": 5.0, "severity": "low"}, "metrics": ["pm25"]},
        params={"radius_km": 5.0, "min_neighbours": 2})
    w.ids["coking"] = await _alert(
        w, rule="treatment_off", enterprise=COKING, devices=("PWR-COKE-1", "PWR-DESOX-1"), severity="high",
        start=t0, end=t0 + timedelta(minutes=40),
        summary=("Coke oven ran while its desulfurisation was off", "焦炉运行期间脱硫设施未运行"),
        evidence={"facts": {"duration_min": 40.0, "production_mean_kw": 300.0, "severity": "high"}, "metric": "p"},
        params={"min_duration_min": 10})

    # The enterprise answers the exceedance; the officer works the treatment_off alert up to a
    # rectification (the hearing shows while the answer is unread), then the enterprise submits it.
    await w.be("enterprise")
    await w.get(f"/console/alerts/{w.ids['exceedance']}")
    await w.post(f"/console/alerts/{w.ids['exceedance']}/answer",
                 {"kind": "explanation", "text": "脱硫塔循环泵检修，已恢复运行", "attachments": ""})
    await w.be("officer")
    alert = w.ids["treatment_off"]
    await w.get(f"/console/alerts/{alert}")
    await w.post(f"/console/alerts/{alert}/transition", {"action": "acknowledge", "reason": "现场核实"})
    await w.post(f"/console/alerts/{alert}/comment", {"text": "已电话联系企业环保负责人"})
    due = (now + timedelta(days=7)).date().isoformat()
    # Ordered while acknowledged: the order dispatches the alert, a step with the system's reason.
    await w.post(f"/console/alerts/{alert}/rectification", {"due": due, "requirements": "更换布袋除尘器滤袋"})
    (rid,), = await api.execute("SELECT id FROM rectifications WHERE alert_id = %s", (alert,))
    w.ids["rectification"] = int(rid)
    await w.be("enterprise")
    await w.get(f"/console/alerts/{alert}")
    await w.post(f"/console/rectifications/{rid}/submit", {"text": "已更换全部滤袋", "references": ""},
                 files=[("files", ("验收报告.pdf", PDF, "application/pdf"))])
    await w.get(f"/console/alerts/{alert}")
    await w.post(f"/console/alerts/{alert}/answer",
                 {"kind": "explanation", "text": "滤袋破损导致停运，已更换", "attachments": ""})

    # Credit: a confirmed alert of the cement works (ledger entry and evidence package), then a
    # repair application against it.
    await w.be("officer")
    coking = w.ids["coking"]
    await w.get("/console/queue")  # claimed from the queue: acknowledged with the system's reason
    await w.post(f"/console/alerts/{coking}/claim", {"next": "queue"})
    confirmed = await _alert(
        w, rule="treatment_off", enterprise=CEMENT, devices=("PWR-KILN-1", "PWR-BAG-1"), severity="high",
        start=t0 - timedelta(days=2), end=t0 - timedelta(days=2) + timedelta(minutes=45),
        summary=("Kiln 1 ran while its treatment was off", "1号窑运行期间治污设施未运行"),
        evidence={"facts": {"duration_min": 45.0, "production_mean_kw": 500.0, "severity": "high"}, "metric": "p"},
        params={"min_duration_min": 10})
    w.ids["confirmed"] = confirmed
    # An older violation of the coking works, confirmed with no waiting period, is repaired
    # automatically (the ledger entry with the system's reason).
    repaired = await _alert(
        w, rule="treatment_off", enterprise=COKING, devices=("PWR-COKE-1", "PWR-DESOX-1"), severity="low",
        start=t0 - timedelta(days=400), end=t0 - timedelta(days=400) + timedelta(minutes=20),
        summary=("Coke oven ran while its desulfurisation was off", "焦炉运行期间脱硫设施未运行"),
        evidence={"facts": {"duration_min": 20.0, "production_mean_kw": 300.0, "severity": "low"}, "metric": "p"},
        params={"min_duration_min": 10})
    w.ids["repaired"] = repaired
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:

        class Officer:
            token_id = None
            role = "officer"
            label = "张伟"

        no_wait = dataclasses.replace(load_credit_params(), waiting_days=MappingProxyType({}), default_waiting_days=0)
        await CreditService(api.ctx.registry, no_wait).on_alert_confirmed(conn, repaired, Officer())
        assert [e["reason"] for e in await repair_due(conn)] == [AUTO_REPAIR_REASON]
        await CreditService(api.ctx.registry, load_credit_params()).on_alert_confirmed(conn, confirmed, Officer())
    (entry,), = await api.execute("SELECT id FROM credit_ledger WHERE alert_id = %s ORDER BY id DESC LIMIT 1",
                                  (confirmed,))
    for kind, (evidence_id,) in zip(("document", "repaired_evidence", "evidence"),
                                    await api.execute("SELECT id FROM evidence_packages ORDER BY id"), strict=True):
        w.ids[kind] = int(evidence_id)  # the rectification submission's, then the confirmed alerts'
    await w.be("enterprise")
    await w.get(f"/console/enterprises/{CEMENT}")
    await w.post(f"/console/enterprises/{CEMENT}",
                 {"entry_id": str(entry), "commitment": "本企业承诺治污设施与生产设施同步运行，严格遵守环保法律法规。"},
                 files=[("files", ("", b"", "application/octet-stream"))])

    # The officers' registers: positive list, complaint, evaluation, a draw, notifications.
    await w.be("officer")
    today = today_cst()
    await w.get("/console/positive-list")
    await w.post("/console/positive-list", {"enterprise_id": GLASS, "list": "positive", "start": today.isoformat(),
                                            "end": (today + timedelta(days=364)).isoformat(),
                                            "reason": "连续三年无违法记录"})
    await w.get("/console/complaints")
    await w.post("/console/complaints", {"enterprise_id": COKING, "source": "12369 热线", "summary": "夜间焦化异味明显",
                                         "received_at": (today - timedelta(days=1)).isoformat() + "T09:30"})
    await w.get("/console/credit/evaluations/new")
    r = await w.post("/console/credit/evaluations/new", {
        "enterprise_id": COKING, "catalog": HEBEI.id, "kind": "initial", "points.eia_approval": "4",
        "note.eia_approval": "2号线未办环评"})
    w.ids["evaluation"] = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    await w.get("/console/supervision")
    r = await w.post("/console/supervision/draws", {"region": "13", "period": today.strftime("%Y-%m"),
                                                    "kind": "remote", "count": "2", "seed": "20261201"})
    w.ids["draw"] = int(r.headers["location"].rsplit("/", 1)[1])
    for event, enterprise, alert_id, status in (("high_alert", CEMENT, w.ids["treatment_off"], "delivered"),
                                                ("rectification_overdue", COKING, coking, "failed")):
        await api.execute(
            "INSERT INTO officer_notifications (delivery_id, event, subject_id, channel, alert_id, enterprise_id,"
            " region, body, status, attempts, next_attempt_at, last_status_code, delivered_at)"
            " VALUES (%s, %s, %s, '县局值班群', %s, %s, %s, '{}', %s, 1, now() + interval '5 minutes', %s,"
            " CASE WHEN %s = 'delivered' THEN now() END)",
            (uuid.uuid4(), event, alert_id, alert_id, enterprise, api.ctx.registry.enterprises[enterprise].region,
             status, None if status == "delivered" else 502, status))
    w.typed.add("县局值班群")


# --- the pages ---------------------------------------------------------------------------------


def console_routes(api: ApiEnv) -> set[str]:
    """The path templates of the app's console GET routes (included routers resolved)."""
    app = api.client._transport.app  # type: ignore[attr-defined]  # httpx.ASGITransport keeps its app
    return {path for method, path in app_routes(app) if method == "GET" and path.startswith("/console")}


def pages(w: World) -> dict[str, list[str]]:
    """The URLs fetched for each console GET route (its path template)."""
    ids = w.ids
    return {
        "/console/login": [],  # fetched without a session, below
        "/console": ["/console", "/console?severity=high&status=active"],
        "/console/alerts/{alert_id}": [f"/console/alerts/{ids[k]}" for k in
                                       ("treatment_off", "exceedance", "air", "coking", "confirmed", "repaired")]
        + ["/console/alerts/987654"],
        "/console/queue": ["/console/queue"],
        "/console/overview": ["/console/overview"],
        "/console/overview/completeness": ["/console/overview/completeness"],
        "/console/map": ["/console/map"],
        "/console/search": ["/console/search?q=PWR", "/console/search?q=1301", "/console/search?q=无此企业"],
        "/console/rectifications": ["/console/rectifications"],
        "/console/enterprises": ["/console/enterprises"],
        "/console/enterprises/{enterprise_id}": [f"/console/enterprises/{CEMENT}", f"/console/enterprises/{COKING}"],
        "/console/enterprises/{enterprise_id}/file": [f"/console/enterprises/{CEMENT}/file",
                                                       f"/console/enterprises/{COKING}/file"],
        "/console/evidence/{evidence_id}": [f"/console/evidence/{ids['evidence']}",
                                            f"/console/evidence/{ids['document']}"],
        "/console/credit/evaluations": ["/console/credit/evaluations",
                                        f"/console/credit/evaluations?enterprise_id={COKING}"],
        "/console/credit/evaluations/new": ["/console/credit/evaluations/new"],
        "/console/credit/evaluations/{evaluation_id}": [f"/console/credit/evaluations/{ids['evaluation']}"],
        "/console/credit/evaluations/{evaluation_id}/report": [
            f"/console/credit/evaluations/{ids['evaluation']}/report"],
        "/console/credit/repair-applications": ["/console/credit/repair-applications"],
        "/console/positive-list": ["/console/positive-list"],
        "/console/complaints": ["/console/complaints"],
        "/console/supervision": ["/console/supervision"],
        "/console/supervision/draws/{draw_id}": [f"/console/supervision/draws/{ids['draw']}"],
        "/console/stats": ["/console/stats"],
        "/console/notifications": ["/console/notifications"],
    }


async def refused_forms(w: World, lang: str) -> list[tuple[str, str]]:
    """Pages of refused form posts, in ``lang``: (what, page)."""
    q = "?lang=en" if lang == "en" else ""
    out: list[tuple[str, str]] = []
    await w.be("officer")
    await w.get("/console/positive-list")
    r = await w.post(f"/console/positive-list{q}", {"enterprise_id": GLASS, "list": "positive", "start": "2026-12-01",
                                                    "end": "2026-11-01", "reason": "连续三年无违法记录"}, ok=422)
    out.append(("refused positive list", r.text))
    r = await w.post(f"/console/complaints{q}", {"enterprise_id": COKING, "source": "来信", "summary": "废水",
                                                 "received_at": "昨天"}, ok=422)
    out.append(("refused complaint", r.text))
    alert = w.ids["exceedance"]
    await w.get(f"/console/alerts/{alert}")
    r = await w.post(f"/console/alerts/{alert}/transition{q}", {"action": "confirm", "reason": ""}, ok=409)
    out.append(("refused transition", r.text))
    r = await w.post(f"/console/supervision/draws{q}", {"region": "13", "period": "2026-13", "kind": "remote",
                                                        "count": "1"}, ok=422)
    out.append(("refused draw", r.text))
    await w.be("enterprise")
    await w.get(f"/console/alerts/{alert}")
    r = await w.post(f"/console/alerts/{alert}/answer{q}", {"kind": "maintenance_declared", "text": "检修",
                                                            "device_id": "13010500000001", "start": "明天",
                                                            "end": ""}, ok=422)
    out.append(("refused answer", r.text))
    return out


@pytest.fixture
def instant_repair() -> Iterator[None]:
    """Credit without a minimum publication period, so the seeded entry can be applied for now."""
    params = dataclasses.replace(load_credit_params(),
                                 publication_months=MappingProxyType({"ordinary": 0, "serious": 0}))
    install(CreditService(None, params))
    try:
        yield
    finally:
        install(None)


async def test_every_console_page_is_chinese_in_zh_and_english_in_en(api: ApiEnv, instant_repair: None) -> None:
    """Every console page (all GET routes of the app, as officer, enterprise and admin; the login,
    error and refused-form pages) shows no English but units and codes in zh, and no Chinese but
    data in en."""
    w = World(api)
    await seed(w)
    routes = console_routes(api)
    planned = pages(w)
    unknown = routes - set(planned) - set(EXCLUDED)
    assert not unknown, f"console pages neither visited nor excluded with a reason: {sorted(unknown)}"
    gone = set(planned) - routes
    assert not gone, f"pages planned for routes the app no longer has: {sorted(gone)}"

    fetched: list[tuple[str, str, str]] = []  # (lang, what, html)
    for lang in ("zh", "en"):
        api.client.cookies.clear()
        login = await api.client.get("/console/login", params={"lang": lang} if lang == "en" else None)
        fetched.append((lang, "login", login.text))
        bad = await api.client.get("/console/login", params={"token": "ew_wrong", **({"lang": "en"} if lang == "en"
                                                                                       else {})})
        fetched.append((lang, "login refused", bad.text))
        for who in ("officer", "enterprise", "admin"):
            await w.be(who)
            for urls in planned.values():
                for url in urls:
                    full = url if lang == "zh" else url + ("&" if "?" in url else "?") + "lang=en"
                    r = await api.client.get(full, follow_redirects=True)
                    assert r.headers.get("content-type", "").startswith("text/html"), (who, full, r.status_code,
                                                                                     r.headers)
                    fetched.append((lang, f"{who} {full} ({r.status_code})", r.text))
        fetched.extend((lang, what, page) for what, page in await refused_forms(w, lang))

    # Data on any page: the registry's values, what the test typed, the searches (echoed).
    w.typed.update(("PWR", "1301", "无此企业"))
    data = sorted(registry_values() | w.typed, key=len, reverse=True)
    problems: list[str] = []
    for lang, what, page in fetched:
        text = visible_text(page)
        found = english_in(text, data) if lang == "zh" else chinese_in(text, data)
        problems.extend(f"[{lang}] {what}: {p}" for p in dict.fromkeys(found))
    assert not problems, f"{len(problems)} untranslated snippets:\n" + "\n".join(problems)


# --- the browser's own widgets in the user's language ----------------------------------------


def _shadow_text(node: dict[str, Any]) -> str:
    """The text of a DOM node's subtree, its user-agent shadow trees included (what the browser
    draws inside a date-time picker)."""
    parts = [node.get("nodeValue", "")] if node.get("nodeType") == 3 else []
    attrs = node.get("attributes") or []
    parts += [attrs[i + 1] for i in range(0, len(attrs), 2) if attrs[i] in ("aria-placeholder", "aria-valuetext")]
    for child in [*(node.get("shadowRoots") or []), *(node.get("children") or [])]:
        parts.append(_shadow_text(child))
    return " ".join(p for p in parts if p and p.strip())


async def _picker_text(tab: Tab, selector: str) -> str:
    root = (await tab.send("DOM.getDocument", {"depth": -1, "pierce": True}))["root"]
    node = (await tab.send("DOM.querySelector", {"nodeId": root["nodeId"], "selector": selector}))["nodeId"]
    assert node, selector
    described = await tab.send("DOM.describeNode", {"nodeId": node, "depth": -1, "pierce": True})
    return _shadow_text(described["node"])


@pytest.fixture
async def base_url(api: ApiEnv) -> AsyncIterator[str]:
    ctx = dataclasses.replace(api.ctx, metrics_registry=CollectorRegistry())  # api's app has its own
    async with serve(create_app(ctx), name="zh-complete-browser-http") as url:
        yield url


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
async def test_date_time_pickers_speak_the_page_language(api: ApiEnv, base_url: str, browser: Browser) -> None:
    """A Chinese page is drawn by a Chinese user's browser: the answer form's date-time picker
    shows 年/月/日 and the format note beside it says so in Chinese; the same page in English is
    drawn by an English browser (mm/dd/yyyy) with an English note. Screenshots in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    alert = await api.insert_alert(enterprise_id=CEMENT)
    token = await api.token("enterprise", CEMENT)
    page = f"/console/alerts/{alert}"
    async with browser.context() as tab:
        await tab.goto(login_url(base_url, token, page))
        assert await tab.js("navigator.language") == "zh-CN"
        picker = await _picker_text(tab, "#form-answer input[name=start]")
        note = await tab.text("#form-answer input[name=start] + small.picker-format")
        await tab.shot("picker-zh.png", "#form-answer")
        assert "年" in picker and "月" in picker and "日" in picker and "yyyy" not in picker, picker
        assert note == "格式：年/月/日 时:分（北京时间）", note
    async with browser.context(lang="en-US") as tab:
        await tab.goto(login_url(base_url, token, f"{page}?lang=en"))
        assert await tab.js("navigator.language") == "en-US"
        picker = await _picker_text(tab, "#form-answer input[name=start]")
        note = await tab.text("#form-answer input[name=start] + small.picker-format")
        await tab.shot("picker-en.png", "#form-answer")
        assert "yyyy" in picker and not _CJK.search(picker), picker
        assert note.startswith("China Standard Time (UTC+8); the date in your browser's order"), note


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
async def test_alert_and_evidence_pages_as_a_chinese_officer_sees_them(
        api: ApiEnv, base_url: str, browser: Browser, instant_repair: None) -> None:
    """In Chromium, as a Chinese officer: the alert page's evidence is a table of named facts with
    units, its chart's legend names the metric with its unit and draws the running threshold, the
    alert window is shaded; the evidence package page shows its rule parameters and findings as
    tables and links back. Screenshots in test-artifacts/ (alert-zh.png, evidence-zh.png)."""
    ARTIFACTS.mkdir(exist_ok=True)
    w = World(api)
    await seed(w)
    token = await api.token("officer")
    async with browser.context() as tab:
        await tab.goto(login_url(base_url, token, f"/console/alerts/{w.ids['treatment_off']}"))
        evidence = await tab.text("#evidence-table")
        legend = await tab.js("[...document.querySelectorAll('svg.chart text.legend')].map(t => t.textContent)")
        limits = await tab.js("[...document.querySelectorAll('svg.chart text.limit-label')].map(t => t.textContent)")
        await tab.full_shot("alert-zh.png")
        assert "生产设施平均功率\t520 kW" in evidence and "持续时长\t60 分钟" in evidence, evidence
        bag = api.ctx.registry.devices["PWR-BAG-1"].label
        assert f"未运行的治污设施 1\t{bag}" in evidence and "级别\t高" in evidence, evidence
        assert "未运行的治理环节\t第 1 段" in evidence, evidence
        assert set(legend) == {"功率（kW）"}, legend
        assert "运行判定功率 80 kW" in limits, limits
        await tab.goto(f"{base_url}/console/evidence/{w.ids['evidence']}")
        params = await tab.text("table.fields")
        await tab.full_shot("evidence-zh.png")
        assert "最短持续时长\t10 分钟" in params, params


async def test_the_enterprise_list_says_what_needs_an_answer_and_by_when(api: ApiEnv) -> None:
    """An enterprise's alert list says, per alert told to it, whether it answered, by when it
    must answer, or that the deadline passed unanswered; in Chinese and in English."""
    w = World(api)
    due = datetime.now(CST).replace(second=0, microsecond=0) + timedelta(days=2)
    waiting, late, answered = (await api.insert_alert(), await api.insert_alert(), await api.insert_alert())
    for alert, due_at in ((waiting, due), (late, due - timedelta(days=5)), (answered, due)):
        await api.execute("UPDATE alerts SET status = 'dispatched', due_at = %s WHERE id = %s", (due_at, alert))
    await w.be("enterprise")
    await w.get(f"/console/alerts/{answered}")
    await w.post(f"/console/alerts/{answered}/answer", {"kind": "explanation", "text": "设备检修", "attachments": ""})
    page = (await api.client.get("/console")).text
    cells = dict(re.findall(r'<a href="/console/alerts/(\d+)">.*?<td class="answer[^"]*">([^<]*)</td>', page, re.S))
    assert cells[str(waiting)] == f"请于 {due:%Y-%m-%d %H:%M} 前答复"
    assert cells[str(late)] == f"已逾期未答复（期限 {due - timedelta(days=5):%Y-%m-%d %H:%M}）"
    assert cells[str(answered)] == "已答复"
    en = (await api.client.get("/console", params={"lang": "en"})).text
    assert f"answer by {due:%Y-%m-%d %H:%M}" in en and "overdue, not answered" in en


async def test_alert_evidence_ledger_and_rectification_link_each_other(api: ApiEnv, instant_repair: None) -> None:
    """A confirmed alert's page links its ledger entry (to its line of the enterprise's credit
    record) and its evidence package; the package page links back to the alert and the credit
    record, whose line links the alert and the package; an alert's rectification links the
    package of its submitted files."""
    w = World(api)
    await seed(w)
    await w.be("officer")
    confirmed, evidence = w.ids["confirmed"], w.ids["evidence"]
    (entry,), = await api.execute("SELECT id FROM credit_ledger WHERE alert_id = %s AND entry_type = 'deduction'",
                                  (confirmed,))
    page = (await api.client.get(f"/console/alerts/{confirmed}")).text
    credit = re.search(r'<ul id="credit-entries">.*?</ul>', page, re.S)
    assert credit, "no credit section on the confirmed alert's page"
    assert f'href="/console/enterprises/{CEMENT}#entry-{entry}"' in credit.group(0)
    assert f'href="/console/evidence/{evidence}"' in credit.group(0) and "确认违法，扣 " in credit.group(0)
    package = (await api.client.get(f"/console/evidence/{evidence}")).text
    assert f'href="/console/alerts/{confirmed}"' in package and f'href="/console/enterprises/{CEMENT}"' in package
    record = (await api.client.get(f"/console/enterprises/{CEMENT}")).text
    line = re.search(rf'<td [^>]*id="entry-{entry}">.*?</tr>', record, re.S)
    assert line and f'href="/console/alerts/{confirmed}"' in line.group(0)
    assert f'href="/console/evidence/{evidence}"' in line.group(0)
    rectified = (await api.client.get(f"/console/alerts/{w.ids['treatment_off']}")).text
    assert f'href="/console/evidence/{w.ids["document"]}"' in rectified


async def test_system_reasons_are_worded_in_the_reader_language(api: ApiEnv, instant_repair: None) -> None:
    """Reasons the platform writes (a claim from the queue acknowledging the alert, a rectification
    order dispatching it, an automatic credit repair) read in Chinese on zh pages and in English on
    en pages; the JSON trail keeps the English text with the code in ``data.reason_code``; a trail
    event recorded before the codes (text only) is worded too, and a typed reason shows as typed."""
    w = World(api)
    await seed(w)
    await w.be("officer")
    coking, ordered = w.ids["coking"], w.ids["treatment_off"]

    def reasons(page: str) -> list[str]:
        trail = re.search(r"<h2>(?:处理记录|Trail)</h2>\s*<table>.*?</table>", page, re.S)
        assert trail, "no trail table"
        rows = re.findall(r"<tr><td class=\"t\">(.*?)</tr>", trail.group(0), re.S)
        return [re.findall(r"<td>(.*?)</td>", r, re.S)[-1].strip() for r in rows]

    zh, en = [(await api.client.get(f"/console/alerts/{coking}", params=q)).text for q in ({}, {"lang": "en"})]
    assert "认领即受理" in reasons(zh) and "claimed from the queue" not in zh
    assert "claimed from the queue" in reasons(en)
    zh = (await api.client.get(f"/console/alerts/{ordered}")).text
    assert reasons(zh).count("责令整改") == 1 and "rectification ordered" not in zh
    assert "现场核实" in reasons(zh)  # typed by the officer: as typed
    trail = (await api.client.get(f"/api/v1/alerts/{ordered}/audit",
                                  headers={"Authorization": f"Bearer {w.tokens['officer']}"})).json()["items"]
    dispatch = [e for e in trail if e["action"] == "dispatch"]
    assert [(e["reason"], e["data"]["reason_code"]) for e in dispatch] == [("rectification ordered",
                                                                             "rectification_ordered")]

    # An event from before the codes: only the English text; and an escalation, worded from its text.
    (officer,), = await api.execute("SELECT id FROM api_tokens WHERE role = 'officer'")
    await api.execute("INSERT INTO alert_events (alert_id, kind, action, from_status, to_status, actor_token,"
                      " actor_role, reason, public, data) VALUES (%s, 'transition', 'acknowledge', 'open',"
                      " 'acknowledged', %s, 'officer', 'claimed from the queue', false, '{}')", (w.ids["air"], officer))
    await api.execute("INSERT INTO alert_events (alert_id, kind, actor_role, reason, public, data) VALUES"
                      " (%s, 'escalated', 'system', 'not acknowledged 42 min after it was raised (low: every 30 min)',"
                      " false, '{\"level\": 1}')", (w.ids["air"],))
    zh = (await api.client.get(f"/console/alerts/{w.ids['air']}")).text
    assert reasons(zh)[-2:] == ["认领即受理", "预警发出 42 分钟仍未受理（级别低：每 30 分钟升级一次）"], reasons(zh)

    for lang, repaired in (("zh", "自动信用修复：等待期已满"),
                           ("en", "automatic credit repair: waiting period passed")):
        q = {"lang": "en"} if lang == "en" else {}
        for url in (f"/console/enterprises/{COKING}", f"/console/enterprises/{COKING}/file",
                    f"/console/alerts/{w.ids['repaired']}"):
            page = (await api.client.get(url, params=q)).text
            assert repaired in page, (lang, url)
    (stored,), = await api.execute("SELECT reason FROM credit_ledger WHERE entry_type = 'repair'")
    assert stored == AUTO_REPAIR_REASON
