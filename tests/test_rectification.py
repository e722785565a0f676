"""Rectification (整改) to closure: ordering keeps the alert open, the enterprise submits proof
kept in the hash chain, officers verify (with a data check) or reject, overdue ones escalate."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from test_api_support import CEMENT, COKING, CST, GLASS, T0, ApiEnv

from ecowarn.alerts.model import Actor
from ecowarn.alerts.rectification import (
    due_soon,
    has_verified_rectification,
    mark_overdue,
    mark_reminded,
    withdraw_with_alert,
)
from ecowarn.credit.verify import verify_chain
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def _due(days: float = 7) -> str:
    return (datetime.now(CST) + timedelta(days=days)).isoformat()


async def _dispatched(api: ApiEnv, **kw: Any) -> int:
    alert = await api.insert_alert(**kw)
    officer = await api.headers("officer")
    for action in ("acknowledge", "dispatch"):
        r = await api.client.post(f"/api/v1/alerts/{alert}/transitions", headers=officer,
                                  json={"action": action})
        assert r.status_code == 200, r.text
    return alert


async def _order(api: ApiEnv, alert: int, headers: dict[str, str], *, due: str | None = None,
                 ) -> dict[str, Any]:
    r = await api.client.post(f"/api/v1/alerts/{alert}/rectification", headers=headers,
                              json={"due": due or _due(), "requirements": "更换布袋除尘器滤袋并提交运行记录"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _alert_row(api: ApiEnv, alert: int) -> tuple[Any, ...]:
    rows = await api.execute("SELECT status, rectifying_from, closed_at, escalation_level FROM alerts"
                             " WHERE id = %s", (alert,))
    return rows[0]


async def _region_officer(api: ApiEnv, region: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role="officer", region=region, label=f"officer {region}")
    return {"Authorization": f"Bearer {token}"}


async def test_full_lifecycle_ordered_submitted_verified(api: ApiEnv) -> None:
    """Ordering makes a dispatched alert rectifying (still open, still answerable); the
    enterprise's submission is kept in the chain; verifying returns the alert to dispatched,
    with both trails recording every step."""
    alert = await _dispatched(api)
    officer = await api.headers("officer")
    ent = await api.headers("enterprise", CEMENT)
    rect = await _order(api, alert, officer)
    assert rect["status"] == "ordered" and rect["alert_id"] == alert
    assert rect["enterprise_id"] == CEMENT and rect["rule"] == "treatment_off"
    assert rect["overdue"] is False and rect["alert_status"] == "rectifying"
    assert await _alert_row(api, alert) == ("rectifying", "dispatched", None, 0)
    # the alert stays open and keeps taking the enterprise's answers
    r = await api.client.post(f"/api/v1/alerts/{alert}/answers", headers=ent,
                              json={"kind": "explanation", "text": "正在整改"})
    assert r.status_code == 201, r.text

    r = await api.client.post(f"/api/v1/rectifications/{rect['id']}/submissions", headers=ent, json={
        "text": "已更换滤袋，附验收报告", "attachments": [
            "doc:2026-311",
            {"filename": "验收报告.pdf", "content_type": "application/pdf",
             "content_base64": base64.b64encode(PDF).decode()}]})
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["rectification"]["status"] == "submitted" and sub["evidence_id"] is not None
    files = [a for a in sub["attachments"] if a["kind"] == "file"]
    assert [a["filename"] for a in files] == ["验收报告.pdf"]
    assert files[0]["sha256"] == hashlib.sha256(PDF).hexdigest() and files[0]["size"] == len(PDF)
    assert [a["ref"] for a in sub["attachments"] if a["kind"] == "reference"] == ["doc:2026-311"]

    r = await api.client.post(f"/api/v1/rectifications/{rect['id']}/verify", headers=officer,
                              json={"reason": "现场核查滤袋已更换"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "verified" and done["decision_reason"] == "现场核查滤袋已更换"
    assert done["decided_by"]["token_id"] is not None and done["data_check"] is None
    assert [e["action"] for e in done["events"]] == ["ordered", "submitted", "verified"]
    assert [s["id"] for s in done["submissions"]] == [sub["id"]]
    assert await _alert_row(api, alert) == ("dispatched", None, None, 0)
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        assert await has_verified_rectification(conn, alert)

    trail = (await api.client.get(f"/api/v1/alerts/{alert}/audit", headers=ent)).json()["items"]
    steps = [(e["action"], e["from_status"], e["to_status"]) for e in trail if e["kind"] == "rectification"]
    assert steps == [("order", "dispatched", "rectifying"), ("submit", None, None),
                     ("verify", "rectifying", "dispatched")]
    assert all(e["actor"]["token_id"] is None for e in trail
               if e["kind"] == "rectification" and e["actor"]["role"] == "officer")


async def test_rejected_path_returns_alert_to_confirmed_and_allows_a_new_order(api: ApiEnv) -> None:
    """An ordered rectification (nothing submitted, e.g. overdue) can be rejected with a reason;
    the confirmed alert returns to confirmed and a new rectification can be ordered."""
    alert = await api.insert_alert()
    await api.execute("UPDATE alerts SET status = 'confirmed', decided_at = now() WHERE id = %s", (alert,))
    officer = await api.headers("officer")
    rect = await _order(api, alert, officer)
    assert await _alert_row(api, alert) == ("rectifying", "confirmed", None, 0)
    r = await api.client.post(f"/api/v1/rectifications/{rect['id']}/reject", headers=officer, json={})
    assert r.status_code == 422, "a rejection needs a reason"
    r = await api.client.post(f"/api/v1/rectifications/{rect['id']}/reject", headers=officer,
                              json={"reason": "逾期未提交整改材料"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected" and [e["action"] for e in r.json()["events"]] == [
        "ordered", "rejected"]
    assert await _alert_row(api, alert) == ("confirmed", None, None, 0)
    again = await _order(api, alert, officer)
    assert again["id"] != rect["id"] and again["status"] == "ordered"


async def test_resubmission_then_decided_refuses_everything(api: ApiEnv) -> None:
    """The enterprise may submit again while not decided; once verified, another submission,
    verification or rejection is 409 with the status, in English and Chinese."""
    alert = await _dispatched(api)
    officer = await api.headers("officer")
    ent = await api.headers("enterprise", CEMENT)
    rect = await _order(api, alert, officer)
    url = f"/api/v1/rectifications/{rect['id']}"
    r = await api.client.post(f"{url}/verify", headers=officer, json={"reason": "ok"})
    assert r.status_code == 409 and r.json()["status"] == "ordered", r.text
    assert "submitted" in r.json()["detail"] and r.json()["detail_zh"]
    for text in ("第一次提交", "补充提交"):
        r = await api.client.post(f"{url}/submissions", headers=ent, json={"text": text})
        assert r.status_code == 201, r.text
    detail = (await api.client.get(url, headers=ent)).json()
    assert [s["text"] for s in detail["submissions"]] == ["第一次提交", "补充提交"]
    assert detail["submission_count"] == 2 and detail["status"] == "submitted"
    assert (await api.client.post(f"{url}/verify", headers=officer, json={"reason": "ok"})).status_code == 200
    for path, headers, body in ((f"{url}/submissions", ent, {"text": "again"}),
                                (f"{url}/verify", officer, {"reason": "again"}),
                                (f"{url}/reject", officer, {"reason": "again"})):
        r = await api.client.post(path, headers=headers, json=body)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["status"] == "verified" and r.json()["allowed"] == []
        assert "已验收通过" in r.json()["detail_zh"]
    assert await api.execute("SELECT count(*) FROM rectification_submissions") == [(2,)]


async def test_ordering_refusals(api: ApiEnv) -> None:
    """A closed alert, a second order while one is in progress (409), a due time in the past
    (422) and an alert outside a region officer's jurisdiction (404) are refused, changing
    nothing."""
    officer = await api.headers("officer")
    closed = await api.insert_alert()
    await api.execute("UPDATE alerts SET status = 'closed', disposition = 'false_alarm' WHERE id = %s",
                      (closed,))
    r = await api.client.post(f"/api/v1/alerts/{closed}/rectification", headers=officer,
                              json={"due": _due(), "requirements": "x"})
    assert r.status_code == 409 and r.json()["status"] == "closed", r.text
    assert "“已办结”" in r.json()["detail_zh"], r.json()["detail_zh"]
    alert = await _dispatched(api)
    r = await api.client.post(f"/api/v1/alerts/{alert}/rectification", headers=officer,
                              json={"due": _due(-1), "requirements": "x"})
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.due", r.text
    assert r.json()["detail_zh"].startswith("body.due：")
    r = await api.client.post(f"/api/v1/alerts/{alert}/rectification", headers=officer,
                              json={"due": _due(), "requirements": "   "})
    assert r.status_code == 422, r.text
    r = await api.client.post(f"/api/v1/alerts/{alert}/rectification", headers=officer,
                              json={"due": "2026-11-20T08:00:00", "requirements": "x"})
    assert r.status_code == 422, "a due time without an offset is refused"
    baoding = await _region_officer(api, "1306")
    r = await api.client.post(f"/api/v1/alerts/{alert}/rectification", headers=baoding,
                              json={"due": _due(), "requirements": "x"})
    assert r.status_code == 404, r.text
    assert await api.execute("SELECT count(*) FROM rectifications") == [(0,)]
    first = await _order(api, alert, officer)
    r = await api.client.post(f"/api/v1/alerts/{alert}/rectification", headers=officer,
                              json={"due": _due(), "requirements": "x"})
    assert r.status_code == 409 and r.json()["rectification_id"] == first["id"], r.text
    assert await api.execute("SELECT count(*) FROM rectifications") == [(1,)]


async def test_due_as_a_date_means_the_end_of_that_day_china_time(api: ApiEnv) -> None:
    """``due: 2030-06-30`` is stored as 2030-06-30T23:59:59+08:00."""
    alert = await _dispatched(api)
    rect = await _order(api, alert, await api.headers("officer"), due="2030-06-30")
    assert rect["due"] == "2030-06-30T23:59:59+08:00"


async def test_overdue_by_clock_escalates_once_and_is_listed(api: ApiEnv) -> None:
    """Past its due time an unverified rectification is marked once (overdue event, escalated
    alert event, escalation level + 1) and appears under ``overdue=true``; reminders are
    listed before the due time and recorded once."""
    alert = await _dispatched(api)
    officer = await api.headers("officer")
    rect = await _order(api, alert, officer, due=_due(3))
    later = await _dispatched(api, start=T0 + timedelta(days=1))
    other = await _order(api, later, officer, due=_due(30))
    now = datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        soon = await due_soon(conn, within=timedelta(days=5), now=now)
        assert [r["id"] for r in soon] == [rect["id"]]
        assert await mark_reminded(conn, rect["id"], now=now, data={"delivery_id": 7})
        assert not await mark_reminded(conn, rect["id"], now=now)
        assert await due_soon(conn, within=timedelta(days=5), now=now) == []
        assert await mark_overdue(conn, now=now) == []
        marked = await mark_overdue(conn, now=now + timedelta(days=4))
        assert [(r["id"], r["overdue"]) for r in marked] == [(rect["id"], True)]
        assert await mark_overdue(conn, now=now + timedelta(days=5)) == [], "idempotent"
    assert (await _alert_row(api, alert))[3] == 1
    assert (await _alert_row(api, later))[3] == 0
    escalated = await api.execute("SELECT data, public FROM alert_events WHERE alert_id = %s"
                                  " AND kind = 'escalated'", (alert,))
    assert len(escalated) == 1 and escalated[0][1] is False
    assert escalated[0][0]["level"] == 1 and escalated[0][0]["rectification_id"] == rect["id"]
    listed = (await api.client.get("/api/v1/rectifications", headers=officer,
                                   params={"overdue": "true"})).json()["items"]
    assert [r["id"] for r in listed] == [rect["id"]] and listed[0]["overdue_at"] is not None
    not_overdue = (await api.client.get("/api/v1/rectifications", headers=officer,
                                        params={"overdue": "false"})).json()["items"]
    assert [r["id"] for r in not_overdue] == [other["id"]]
    detail = (await api.client.get(f"/api/v1/rectifications/{rect['id']}", headers=officer)).json()
    assert [e["action"] for e in detail["events"]] == ["ordered", "reminded", "overdue"]
    assert detail["reminded_at"] is not None
    # a due time that passed on the real clock counts without the sweep
    await api.execute("UPDATE rectifications SET due_at = now() - interval '1 minute' WHERE id = %s",
                      (other["id"],))
    listed = (await api.client.get("/api/v1/rectifications", headers=officer,
                                   params={"overdue": "true"})).json()["items"]
    assert sorted(r["id"] for r in listed) == sorted([rect["id"], other["id"]])


async def test_lists_by_enterprise_region_status_with_cursor_and_csv(api: ApiEnv) -> None:
    """The ledger filters by enterprise, region and status, pages with a cursor, exports CSV;
    an enterprise sees only its own and a region officer only its region's."""
    officer = await api.headers("officer")
    ids = {}
    for enterprise, device in ((CEMENT, "PWR-KILN-1"), (COKING, "PWR-COKE-1"), (GLASS, "PWR-FURN-1")):
        alert = await _dispatched(api, enterprise_id=enterprise, device_ids=(device,))
        ids[enterprise] = (await _order(api, alert, officer))["id"]
    await api.client.post(f"/api/v1/rectifications/{ids[COKING]}/reject", headers=officer,
                          json={"reason": "不符合要求"})

    async def listed(headers: dict[str, str], **params: str) -> list[int]:
        r = await api.client.get("/api/v1/rectifications", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await listed(officer) == sorted(ids.values(), reverse=True)
    assert await listed(officer, enterprise_id=COKING) == [ids[COKING]]
    assert await listed(officer, region="1301") == sorted([ids[CEMENT], ids[COKING]], reverse=True)
    assert await listed(officer, region="1301", enterprise_id=GLASS) == []
    assert await listed(officer, status="rejected") == [ids[COKING]]
    assert await listed(await api.headers("enterprise", CEMENT)) == [ids[CEMENT]]
    assert await listed(await api.headers("enterprise", CEMENT), enterprise_id=COKING) == []
    assert await listed(await _region_officer(api, "1306")) == [ids[GLASS]]
    r = await api.client.get("/api/v1/rectifications", headers=officer, params={"status": "done"})
    assert r.status_code == 422

    page1 = (await api.client.get("/api/v1/rectifications", headers=officer, params={"limit": 2})).json()
    page2 = (await api.client.get("/api/v1/rectifications", headers=officer,
                                  params={"limit": 2, "cursor": page1["next_cursor"]})).json()
    assert [i["id"] for i in page1["items"] + page2["items"]] == sorted(ids.values(), reverse=True)
    assert page2["next_cursor"] is None

    r = await api.client.get("/api/v1/rectifications", headers={**officer, "Accept": "text/csv"},
                             params={"limit": 2})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(row["id"]) for row in rows] == [i["id"] for i in page1["items"]]
    assert rows[0]["overdue"] == "false" and rows[0]["requirements"].startswith("更换")
    assert r.headers["x-next-cursor"] == page1["next_cursor"]


async def test_enterprise_b_and_other_regions_get_404_exactly_like_absent_ids(api: ApiEnv) -> None:
    """Enterprise B and an officer of another region cannot read, submit to, verify or download
    A's rectification and files: the same 404 as for an id that does not exist."""
    alert = await _dispatched(api)
    officer = await api.headers("officer")
    rect = await _order(api, alert, officer)
    ent_a = await api.headers("enterprise", CEMENT)
    r = await api.client.post(f"/api/v1/rectifications/{rect['id']}/submissions", headers=ent_a, files=[
        ("files", ("report.pdf", PDF, "application/pdf"))], data={"text": "done"})
    assert r.status_code == 201, r.text
    file_id = r.json()["attachments"][0]["id"]
    ent_b = await api.headers("enterprise", COKING)
    baoding = await _region_officer(api, "1306")
    absent = 9_876_543
    for headers, method, template, body in (
        (ent_b, "GET", "/api/v1/rectifications/{}", None),
        (ent_b, "POST", "/api/v1/rectifications/{}/submissions", {"text": "x"}),
        (baoding, "GET", "/api/v1/rectifications/{}", None),
        (baoding, "POST", "/api/v1/rectifications/{}/verify", {"reason": "x"}),
        (baoding, "POST", "/api/v1/rectifications/{}/reject", {"reason": "x"}),
    ):
        foreign = await api.client.request(method, template.format(rect["id"]), headers=headers, json=body)
        missing = await api.client.request(method, template.format(absent), headers=headers, json=body)
        assert foreign.status_code == missing.status_code == 404, (template, foreign.text)
        assert foreign.json()["detail"].replace(str(rect["id"]), "N") == \
            missing.json()["detail"].replace(str(absent), "N")
    for headers in (ent_b, baoding):
        r = await api.client.get(f"/api/v1/attachments/{file_id}", headers=headers)
        assert r.status_code == 404 and r.json()["detail_zh"], r.text
    assert (await api.client.get(f"/api/v1/attachments/{file_id}", headers=ent_a)).status_code == 200
    assert await api.execute("SELECT status FROM rectifications") == [("submitted",)]


async def test_data_check_recurrence_refuses_verification_unless_forced(api: ApiEnv) -> None:
    """Verifying with ``data_check_days`` looks for the rule again at the same enterprise and
    subject in the window: a recurrence refuses the verification (409 with the check); with
    ``force`` it is verified and the check is kept, marked forced."""
    alert = await _dispatched(api, end=T0 + timedelta(hours=1))
    officer = await api.headers("officer")
    ent = await api.headers("enterprise", CEMENT)
    rect = await _order(api, alert, officer)
    url = f"/api/v1/rectifications/{rect['id']}"
    assert (await api.client.post(f"{url}/submissions", headers=ent, json={"text": "fixed"})).status_code == 201
    # the same rule at another enterprise, or long ago, does not count
    await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-KILN-1",), start=datetime.now(CST))
    await api.insert_alert(start=datetime.now(CST) - timedelta(days=40), end=datetime.now(CST) - timedelta(days=39))
    again = await api.insert_alert(start=datetime.now(CST) - timedelta(days=2),
                                   end=datetime.now(CST) - timedelta(days=2) + timedelta(hours=1))
    r = await api.client.post(f"{url}/verify", headers=officer, json={"reason": "ok", "data_check_days": 30})
    assert r.status_code == 409, r.text
    check = r.json()["data_check"]
    assert check["recurred"] is True and check["alert_ids"] == [again] and check["ongoing"] is False
    assert check["days"] == 30 and check["subject"] == "PWR-KILN-1"
    assert str(again) in r.json()["detail"] and "再次发生" in r.json()["detail_zh"]
    assert await api.execute("SELECT status, data_check FROM rectifications") == [("submitted", None)]
    r = await api.client.post(f"{url}/verify", headers=officer, json={"reason": "ok", "data_check_days": 1})
    assert r.status_code == 200, "the recurrence two days ago is outside a one-day window"
    kept = r.json()["data_check"]
    assert kept["recurred"] is False and kept["forced"] is False and kept["days"] == 1
    since, until = datetime.fromisoformat(kept["since"]), datetime.fromisoformat(kept["until"])
    assert until - since == timedelta(days=1) and kept["until"].endswith("+08:00")


async def test_data_check_force_verifies_and_keeps_the_check(api: ApiEnv) -> None:
    """An alert whose own episode has not ended counts as recurring; ``force`` verifies anyway
    and the stored check says so."""
    alert = await _dispatched(api)  # end_ts null: still going on at the end of the data
    officer = await api.headers("officer")
    rect = await _order(api, alert, officer)
    url = f"/api/v1/rectifications/{rect['id']}"
    await api.client.post(f"{url}/submissions", headers=await api.headers("enterprise", CEMENT),
                          json={"text": "fixed"})
    r = await api.client.post(f"{url}/verify", headers=officer, json={"reason": "ok", "data_check_days": 7})
    assert r.status_code == 409 and r.json()["data_check"]["ongoing"] is True, r.text
    r = await api.client.post(f"{url}/verify", headers=officer,
                              json={"reason": "现场核实已整改", "data_check_days": 7, "force": True})
    assert r.status_code == 200, r.text
    assert r.json()["data_check"]["recurred"] is True and r.json()["data_check"]["forced"] is True
    stored = await api.execute("SELECT data FROM rectification_events WHERE action = 'verified'")
    assert stored[0][0]["data_check"]["forced"] is True


async def test_submission_is_in_the_chain_and_the_chain_verifies(api: ApiEnv) -> None:
    """Each submission is an evidence package of kind rectification_submission whose canonical
    JSON names the file's SHA-256 (that of hashlib over the bytes); the chain verifies."""
    alert = await _dispatched(api)
    rect = await _order(api, alert, await api.headers("officer"))
    ent = await api.headers("enterprise", CEMENT)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    r = await api.client.post(f"/api/v1/rectifications/{rect['id']}/submissions", headers=ent, files=[
        ("files", ("现场照片.png", png, "image/png")), ("files", ("report.pdf", PDF, "application/pdf"))],
        data={"text": "整改完成", "attachments": ["https://example.invalid/doc/1"]})
    assert r.status_code == 201, r.text
    sub = r.json()
    rows = await api.execute("SELECT kind, canonical, sha256, alert_id, enterprise_id FROM evidence_packages"
                             " WHERE id = %s", (sub["evidence_id"],))
    kind, canonical, sha, alert_id, enterprise_id = rows[0]
    assert (kind, alert_id, enterprise_id) == ("rectification_submission", alert, CEMENT)
    assert hashlib.sha256(canonical.encode()).hexdigest() == sha
    package = json.loads(canonical)
    hashes = {a["filename"]: a["sha256"] for a in package["body"]["attachments"] if a["kind"] == "file"}
    assert hashes == {"现场照片.png": hashlib.sha256(png).hexdigest(),
                      "report.pdf": hashlib.sha256(PDF).hexdigest()}
    assert package["body"]["text"] == "整改完成" and package["kind"] == "rectification_submission"
    stored = await api.execute("SELECT sha256, content FROM attachments ORDER BY id")
    assert [(s, hashlib.sha256(bytes(c)).hexdigest()) for s, c in stored] == [
        (hashlib.sha256(png).hexdigest(),) * 2, (hashlib.sha256(PDF).hexdigest(),) * 2]
    ev = await api.client.get(f"/api/v1/evidence/{sub['evidence_id']}/package", headers=ent)
    assert ev.status_code == 200 and hashlib.sha256(ev.content).hexdigest() == sha
    page = await api.client.get(f"/api/v1/evidence/{sub['evidence_id']}.html", headers=ent)
    assert page.status_code == 200, page.text
    assert f'<code id="sha256">{sha}</code>' in page.text and "整改材料" in page.text
    assert "现场照片.png" in page.text and hashlib.sha256(png).hexdigest() in page.text
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        result = await verify_chain(conn)
    assert result.ok and result.evidence == 1, result.describe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    env["ECOWARN_DATABASE_URL"] = api.dsn
    cli = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "ecowarn", "verify"],
                                  capture_output=True, text=True, env=env, timeout=60)
    assert cli.returncode == 0 and "chain intact: 1 entries (1 evidence packages" in cli.stdout, cli.stderr


async def test_withdrawn_with_its_alert_ends_the_rectification(api: ApiEnv) -> None:
    """When the alert leaves the workflow (the caller dismisses it in the same transaction),
    the rectification in progress ends withdrawn: no more submissions (409), its trail says
    why, and a second call finds nothing in progress."""
    alert = await _dispatched(api)
    rect = await _order(api, alert, await api.headers("officer"))
    officer = Actor(token_id=None, role="system", label="test")
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        async with conn.transaction():
            await conn.execute("SELECT id FROM alerts WHERE id = %s FOR UPDATE", (alert,))
            assert await withdraw_with_alert(conn, alert, officer, reason="误报", alert_status="dismissed") \
                == rect["id"]
            await conn.execute("UPDATE alerts SET status = 'dismissed', rectifying_from = NULL WHERE id = %s",
                               (alert,))
        assert await withdraw_with_alert(conn, alert, officer, reason=None, alert_status="dismissed") is None
    ent = await api.headers("enterprise", CEMENT)
    r = await api.client.post(f"/api/v1/rectifications/{rect['id']}/submissions", headers=ent,
                              json={"text": "x"})
    assert r.status_code == 409 and r.json()["status"] == "withdrawn", r.text
    detail = (await api.client.get(f"/api/v1/rectifications/{rect['id']}", headers=ent)).json()
    assert detail["status"] == "withdrawn" and detail["decision_reason"] == "误报"
    assert [(e["action"], e["reason"]) for e in detail["events"]] == [("ordered", None), ("withdrawn", "误报")]
    listed = (await api.client.get("/api/v1/rectifications", headers=ent,
                                   params={"status": "withdrawn"})).json()["items"]
    assert [i["id"] for i in listed] == [rect["id"]]


async def test_dismissing_a_rectifying_alert_withdraws_its_rectification(api: ApiEnv) -> None:
    """An officer dismisses an alert while its rectification is in progress: the alert is
    dismissed (not a 500 on the rectifying_from constraint) and the rectification ends
    withdrawn with the dismissal's reason."""
    alert = await _dispatched(api)
    officer = await api.headers("officer")
    rect = await _order(api, alert, officer)
    assert (await _alert_row(api, alert))[:2] == ("rectifying", "dispatched")
    r = await api.client.post(f"/api/v1/alerts/{alert}/transitions", headers=officer,
                              json={"action": "dismiss", "reason": "设备校准，非超标"})
    assert r.status_code == 200, r.text
    assert (await _alert_row(api, alert))[:2] == ("dismissed", None)
    detail = (await api.client.get(f"/api/v1/rectifications/{rect['id']}", headers=officer)).json()
    assert detail["status"] == "withdrawn" and detail["decision_reason"] == "设备校准，非超标"


async def test_ordering_on_an_open_alert_dispatches_it_first(api: ApiEnv) -> None:
    """An officer may order a rectification straight from the queue: the open alert is
    acknowledged and dispatched in the same step (its answer deadline starts, the trail
    shows both), then it is rectifying with rectifying_from dispatched."""
    officer = await api.headers("officer")
    alert = await api.insert_alert()
    rect = await _order(api, alert, officer)
    assert rect["status"] == "ordered"
    status, origin, _, _ = await _alert_row(api, alert)
    assert (status, origin) == ("rectifying", "dispatched")
    rows = await api.execute("SELECT dispatched_at IS NOT NULL, due_at > now() FROM alerts WHERE id = %s",
                             (alert,))
    assert rows == [(True, True)]
    trail = await api.execute("SELECT kind, action FROM alert_events WHERE alert_id = %s ORDER BY id",
                              (alert,))
    assert [t for t in trail if t[0] != "opened"] == [
        ("transition", "acknowledge"), ("transition", "dispatch"), ("rectification", "order")]
