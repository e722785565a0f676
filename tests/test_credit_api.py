"""Credit feed, enterprise credit, evidence export, repair/reversal and warning log over HTTP."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import datetime, timedelta
from typing import Any

import psycopg
from test_api_support import CEMENT, COKING, T0, ApiEnv

from ecowarn.credit import CreditService, load_credit_params

pytest_plugins = ("test_api_support",)


class Officer:
    token_id = 11
    role = "officer"
    label = "Officer Zhao"


async def confirm(api: ApiEnv, *alert_ids: int) -> None:
    service = CreditService(api.ctx.registry, load_credit_params())
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        for alert_id in alert_ids:
            await service.on_alert_confirmed(conn, alert_id, Officer())


async def seeded(api: ApiEnv, n: int = 5) -> list[int]:
    """``n`` confirmed alerts alternating between two enterprises; returns the alert ids."""
    alerts = []
    for i in range(n):
        enterprise = CEMENT if i % 2 == 0 else COKING
        devices = ("PWR-KILN-1", "PWR-BAG-1") if enterprise == CEMENT else ("PWR-COKE-1",)
        alerts.append(await api.insert_alert(enterprise_id=enterprise, device_ids=devices,
                                             start=T0 + timedelta(hours=i), end=T0 + timedelta(hours=i, minutes=30)))
    await confirm(api, *alerts)
    return alerts


async def test_feed_pages_through_every_entry_once_in_order(api: ApiEnv) -> None:
    """limit=2 pages over 5 entries oldest first; next_cursor is null on the last page and the
    resume cursor picks up an entry written afterwards."""
    await seeded(api)
    headers = await api.headers("credit")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await api.client.get("/api/v1/credit/events", params=params, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [e["id"] for e in page["items"]]
        pages += 1
        if page["next_cursor"] is None:
            resume = page["resume_cursor"]
            break
        cursor = page["next_cursor"]
    assert pages == 3 and seen == sorted(seen) and len(set(seen)) == 5
    first = (await api.client.get("/api/v1/credit/events", params={"limit": 1}, headers=headers)).json()["items"][0]
    assert first["type"] == "deduction" and first["points"] == -10 and first["level_after"] == "A"
    assert re.fullmatch(r"[0-9a-f]{64}", first["hash"]) and re.fullmatch(r"[0-9a-f]{64}", first["evidence_sha256"])
    assert first["recorded_at"].endswith("+08:00") and first["actor"]["label"] == "Officer Zhao"

    await confirm(api, await api.insert_alert(start=T0 + timedelta(days=2), end=T0 + timedelta(days=2, hours=1)))
    r = await api.client.get("/api/v1/credit/events", params={"cursor": resume}, headers=headers)
    assert [e["repeat_count"] for e in r.json()["items"]] == [3]  # the cement plant's fourth treatment_off

    since = (await api.client.get("/api/v1/credit/events", headers=headers,
                                  params={"since": (datetime.now(T0.tzinfo) + timedelta(hours=1)).isoformat()}))
    assert since.json()["items"] == []
    only = await api.client.get("/api/v1/credit/events", params={"enterprise_id": COKING}, headers=headers)
    assert {e["enterprise_id"] for e in only.json()["items"]} == {COKING}


async def test_feed_as_csv_by_accept_header_or_format(api: ApiEnv) -> None:
    """Accept: text/csv and ?format=csv give the same CSV with a header row; the next page's
    cursor is in X-Next-Cursor and Link."""
    await seeded(api, 3)
    headers = await api.headers("credit")
    by_accept = await api.client.get("/api/v1/credit/events", params={"limit": 2},
                                     headers={**headers, "Accept": "text/csv"})
    by_param = await api.client.get("/api/v1/credit/events", params={"limit": 2, "format": "csv"},
                                    headers=headers)
    assert by_accept.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_accept.text == by_param.text
    rows = list(csv.DictReader(io.StringIO(by_accept.text)))
    assert [r["type"] for r in rows] == ["deduction", "deduction"]
    assert rows[0]["enterprise_id"] == CEMENT and rows[0]["points"] == "-10" and rows[0]["actor_role"] == "officer"
    assert rows[1]["enterprise_id"] == COKING
    nxt = by_accept.headers["x-next-cursor"]
    assert f"cursor={nxt}" in by_accept.headers["link"] and by_accept.headers["link"].endswith('rel="next"')
    last = await api.client.get("/api/v1/credit/events", params={"cursor": nxt, "format": "csv"}, headers=headers)
    assert len(list(csv.DictReader(io.StringIO(last.text)))) == 1 and "x-next-cursor" not in last.headers


async def test_feed_roles(api: ApiEnv) -> None:
    """credit, officer and admin read the feed; enterprise and ingest tokens are refused."""
    for role, status in (("credit", 200), ("officer", 200), ("admin", 200), ("ingest", 403)):
        r = await api.client.get("/api/v1/credit/events", headers=await api.headers(role))
        assert r.status_code == status, role
    r = await api.client.get("/api/v1/credit/events", headers=await api.headers("enterprise", CEMENT))
    assert r.status_code == 403
    bad = await api.client.get("/api/v1/credit/events", params={"cursor": "nonsense"},
                               headers=await api.headers("credit"))
    assert bad.status_code == 422


async def test_enterprise_reads_its_own_credit_only(api: ApiEnv) -> None:
    """An enterprise sees its score, level and history; another enterprise's is a 404; an
    enterprise without entries stands at 100 (A)."""
    await seeded(api, 3)
    own = await api.client.get(f"/api/v1/credit/enterprises/{CEMENT}",
                               headers=await api.headers("enterprise", CEMENT))
    assert own.status_code == 200
    body = own.json()
    assert (body["score"], body["level"], body["entries"]) == (75, "B", 2)  # -10, then -15 (repeat)
    assert [h["points"] for h in body["history"]] == [-15, -10]
    other = await api.client.get(f"/api/v1/credit/enterprises/{COKING}",
                                 headers=await api.headers("enterprise", CEMENT))
    assert other.status_code == 404
    glass = await api.client.get("/api/v1/credit/enterprises/91130627MA0GLA2230",
                                 headers=await api.headers("credit"))
    assert (glass.json()["score"], glass.json()["level"], glass.json()["history"]) == (100, "A", [])
    assert (await api.client.get("/api/v1/credit/enterprises/NOPE", headers=await api.headers("officer"))
            ).status_code == 404
    scores = (await api.client.get("/api/v1/credit/scores", headers=await api.headers("credit"))).json()
    assert {s["enterprise_id"]: s["level"] for s in scores["items"]}[COKING] == "A"


async def test_evidence_export_json_canonical_and_printable(api: ApiEnv) -> None:
    """The package bytes hash to the recorded SHA-256; the printable page shows it, in Chinese
    with English, with a chart and nothing loaded from elsewhere."""
    alert = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=20))
    await api.insert_readings("PWR-KILN-1", "p", T0 - timedelta(minutes=10), [500.0] * 40)
    await confirm(api, alert)
    (evidence_id,), = await api.execute("SELECT id FROM evidence_packages")
    headers = await api.headers("officer")
    meta = (await api.client.get(f"/api/v1/evidence/{evidence_id}", headers=headers)).json()
    assert meta["alert_id"] == alert and meta["package"]["alert"]["id"] == alert
    raw = await api.client.get(f"/api/v1/evidence/{evidence_id}/package", headers=headers)
    assert hashlib.sha256(raw.content).hexdigest() == meta["sha256"] == raw.headers["x-ecowarn-sha256"]
    page = await api.client.get(f"/api/v1/evidence/{evidence_id}.html", headers=headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert meta["sha256"] in page.text
    assert "电子证据包" in page.text and "Electronic evidence package" in page.text
    assert "治污设施未运行" in page.text and "<svg" in page.text
    assert "<script" not in page.text and not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert "default-src 'none'" in page.headers["content-security-policy"]

    own = await api.client.get(f"/api/v1/evidence/{evidence_id}", headers=await api.headers("enterprise", CEMENT))
    assert own.status_code == 200
    other = await api.client.get(f"/api/v1/evidence/{evidence_id}.html",
                                 headers=await api.headers("enterprise", COKING))
    assert other.status_code == 404
    assert (await api.client.get("/api/v1/evidence/999", headers=headers)).status_code == 404


async def test_repair_and_reversal_endpoints(api: ApiEnv) -> None:
    """An early repair is 409 with the reason; a reversal is 201 and restores the score; a
    second reversal is 409; enterprises cannot reverse."""
    alert = await api.insert_alert()
    await confirm(api, alert)
    (entry_id,), = await api.execute("SELECT id FROM credit_ledger")
    headers = await api.headers("officer")
    early = await api.client.post(f"/api/v1/credit/entries/{entry_id}/repair", json={"reason": "fixed"},
                                  headers=headers)
    assert early.status_code == 409 and early.json()["error"] == "not_eligible"
    assert "waiting period" in early.json()["detail"]
    refused = await api.client.post(f"/api/v1/credit/entries/{entry_id}/reversal", json={"reason": "x"},
                                    headers=await api.headers("enterprise", CEMENT))
    assert refused.status_code == 403
    rev = await api.client.post(f"/api/v1/credit/entries/{entry_id}/reversal",
                                json={"reason": "meter mapped to the wrong kiln"}, headers=headers)
    assert rev.status_code == 201
    (item,) = rev.json()["items"]
    assert (item["type"], item["points"], item["ref_id"], item["score_after"]) == ("reversal", 10, entry_id, 100)
    again = await api.client.post(f"/api/v1/credit/entries/{entry_id}/reversal", json={"reason": "x"},
                                  headers=headers)
    assert again.status_code == 409
    missing = await api.client.post("/api/v1/credit/entries/999/repair", json={"reason": "x"}, headers=headers)
    assert missing.status_code == 404


async def test_warning_log_is_scoped_to_the_enterprise(api: ApiEnv) -> None:
    """Officers list every delivery with its attempts; an enterprise only its own."""
    own = await api.insert_alert(enterprise_id=CEMENT)
    other = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",))
    for alert_id, enterprise in ((own, CEMENT), (other, COKING)):
        rows = await api.execute(
            "INSERT INTO warning_deliveries (delivery_id, alert_id, event, enterprise_id, channel, target,"
            " body, status, attempts, next_attempt_at, last_status_code, delivered_at)"
            " VALUES (gen_random_uuid(), %s, 'opened', %s, 'webhook', 'http://x', '{}', 'delivered', 1,"
            " now(), 200, now()) RETURNING id", (alert_id, enterprise))
        await api.execute("INSERT INTO warning_attempts (delivery, attempt, started_at, duration_ms, status_code)"
                          " VALUES (%s, 1, now(), 12, 200)", (rows[0][0],))
    officer = (await api.client.get("/api/v1/warnings", headers=await api.headers("officer"))).json()
    assert {w["alert_id"] for w in officer["items"]} == {own, other}
    assert officer["items"][0]["attempt_log"][0]["status_code"] == 200
    mine = (await api.client.get("/api/v1/warnings", headers=await api.headers("enterprise", CEMENT))).json()
    assert [w["alert_id"] for w in mine["items"]] == [own]
    peek = await api.client.get("/api/v1/warnings", params={"enterprise_id": COKING},
                                headers=await api.headers("enterprise", CEMENT))
    assert peek.json()["items"] == []


async def test_console_enterprise_page_shows_warnings_answers_and_credit(api: ApiEnv) -> None:
    """The enterprise's console page lists its warning, its answer and its credit history with
    score, level and a link to the evidence page; officers reach it from the list."""
    alert = await api.insert_alert()
    await api.execute(
        "INSERT INTO warning_deliveries (delivery_id, alert_id, event, enterprise_id, channel, target, body,"
        " status, attempts, next_attempt_at, delivered_at) VALUES (gen_random_uuid(), %s, 'opened', %s,"
        " 'webhook', 'http://x', '{}', 'delivered', 1, now(), now())", (alert, CEMENT))
    enterprise_token = await api.token("enterprise", CEMENT)
    has_answers = (await api.execute("SELECT to_regclass('alert_answers') IS NOT NULL"))[0][0]
    if has_answers:  # the alert workflow's table (migration 0003)
        await api.execute(
            "INSERT INTO alert_answers (alert_id, enterprise_id, kind, body, author_token, author_role)"
            " VALUES (%s, %s, 'explanation', '布袋除尘器检修，已报备', (SELECT max(id) FROM api_tokens),"
            " 'enterprise')", (alert, CEMENT))
    await confirm(api, alert)
    (evidence_id,), = await api.execute("SELECT id FROM evidence_packages")

    await api.client.get("/console/login", params={"token": enterprise_token})
    listing = await api.client.get("/console/enterprises")
    assert listing.status_code == 303 and listing.headers["location"] == f"/console/enterprises/{CEMENT}"
    page = await api.client.get(f"/console/enterprises/{CEMENT}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "石家庄某某水泥有限公司" in text and "风险预警" in text and "已送达" in text
    assert "<strong>90</strong>" in text and "<strong>A</strong>" in text and "扣分" in text
    assert f"/console/evidence/{evidence_id}" in text
    assert ("企业陈述与申辩" in text and "布袋除尘器检修，已报备" in text) == bool(has_answers)
    evidence = await api.client.get(f"/console/evidence/{evidence_id}")
    assert evidence.status_code == 200 and "SHA-256" in evidence.text
    assert (await api.client.get(f"/console/enterprises/{COKING}")).status_code == 404

    await api.client.get("/console/login", params={"token": await api.token("officer")})
    officer = await api.client.get("/console/enterprises", params={"lang": "en"})
    assert officer.status_code == 200 and "Enterprise credit" in officer.text
    assert f"/console/enterprises/{COKING}" in officer.text
