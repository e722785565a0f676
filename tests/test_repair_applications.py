"""Credit repair by application: filing with a commitment and proof, the publication period,
officer approval and rejection, every step in the hash chain and the credit feed."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import psycopg
import pytest
from test_api_support import CEMENT, COKING, T0, ApiEnv

from ecowarn.alerts.model import Actor
from ecowarn.credit import CreditConfigError, CreditService, install, load_credit_params, verify_chain
from ecowarn.credit.applications import (
    ApplicationDecided,
    ApplicationRefused,
    Proof,
    TooEarly,
    approve,
    file_application,
    reject,
)
from ecowarn.credit.hooks import installed
from ecowarn.credit.ledger import repair_due, reverse
from ecowarn.credit.params import CreditParams, add_months
from ecowarn.store.attachments import Upload
from ecowarn.store.tokens import create_token, lookup_token

pytest_plugins = ("test_api_support",)

BASE = "/api/v1/credit/repair-applications"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
COMMITMENT = "本企业承诺：已完成整改，治污设施与生产设施同步运行，今后严格遵守环保法律法规。"


class Officer:
    token_id = None
    role = "officer"
    label = "Officer Zhao"


def no_publication_period() -> CreditParams:
    return dataclasses.replace(load_credit_params(),
                               publication_months=MappingProxyType({"ordinary": 0, "serious": 0}))


@pytest.fixture
def instant() -> Iterator[CreditParams]:
    """The service's credit configuration with no minimum publication period (so the HTTP
    flow can run on the real clock); the packaged one is restored afterwards."""
    params = no_publication_period()
    install(CreditService(None, params))
    try:
        yield params
    finally:
        install(None)


@pytest.fixture
async def conn(database: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as c:
        yield c


async def deduct(dsn: str, registry: Any = None, *, enterprise: str = CEMENT, severity: str = "high",
                 rule: str = "treatment_off", hours: int = 0) -> int:
    """Confirm an ended alert of ``enterprise`` as an officer does; returns its deduction's id."""
    devices = ["PWR-KILN-1", "PWR-BAG-1"] if enterprise == CEMENT else ["PWR-COKE-1"]
    start = T0 + timedelta(hours=hours)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as c:
        cur = await c.execute(
            "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity,"
            " summary, summary_zh, params, evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, 'x', 'x',"
            " '{}', '{}') RETURNING id",
            (rule, devices[0], enterprise, devices, start, start + timedelta(minutes=40), severity))
        row = await cur.fetchone()
        assert row is not None
        await CreditService(registry, load_credit_params()).on_alert_confirmed(c, int(row[0]), Officer())
        cur = await c.execute("SELECT id FROM credit_ledger WHERE alert_id = %s AND entry_type = 'deduction'",
                              (row[0],))
        entry = await cur.fetchone()
        assert entry is not None
        return int(entry[0])


async def actor(conn: psycopg.AsyncConnection[Any], role: str, enterprise: str | None = None) -> Actor:
    token = await create_token(conn, role=role, enterprise_id=enterprise, label=f"{role} {enterprise or ''}")
    principal = await lookup_token(conn, token)
    assert principal is not None
    return Actor(token_id=principal.token_id, role=role, label=f"{role} {enterprise or ''}",
                 enterprise_id=enterprise)


async def ledger(api: ApiEnv) -> list[tuple[Any, ...]]:
    return await api.execute("SELECT id, entry_type, points, ref_id, evidence_id, score_after"
                             " FROM credit_ledger ORDER BY id")


async def score(api: ApiEnv, enterprise: str = CEMENT) -> int:
    rows = await api.execute("SELECT score FROM credit_scores WHERE enterprise_id = %s", (enterprise,))
    return int(rows[0][0])


async def chain_ok(dsn: str) -> bool:
    async with await psycopg.AsyncConnection.connect(dsn) as c:
        result = await verify_chain(c)
    return result.ok


async def test_filing_keeps_the_document_and_the_files_sha256_in_the_chain(
        api: ApiEnv, instant: CreditParams) -> None:
    """A multipart filing with a PDF (Chinese file name) and a reference is pending; the file is
    kept with its SHA-256, which the evidence package of kind repair_application records with the
    commitment; a zero-point repair_application entry references the deduction; the chain verifies."""
    deduction = await deduct(api.dsn, api.ctx.registry)
    ent = await api.headers("enterprise", CEMENT)
    r = await api.client.post(BASE, headers=ent, data={
        "entry_id": str(deduction), "commitment": COMMITMENT, "attachments": ["环评批复 冀环审〔2026〕18号"]},
        files=[("files", ("整改报告.pdf", PDF, "application/pdf"))])
    assert r.status_code == 201, r.text
    app = r.json()
    assert (app["status"], app["entry_id"], app["enterprise_id"], app["commitment"]) == (
        "pending", deduction, CEMENT, COMMITMENT)
    digest = hashlib.sha256(PDF).hexdigest()
    file, ref = app["attachments"]
    assert (file["filename"], file["content_type"], file["size"], file["sha256"]) == (
        "整改报告.pdf", "application/pdf", len(PDF), digest)
    assert ref == {"reference": "环评批复 冀环审〔2026〕18号"}
    assert app["publication"] == "serious" and app["entry"]["points"] == -10

    rows = await ledger(api)
    assert rows[-1][1:5] == ("repair_application", 0, deduction, app["evidence_id"])
    assert rows[-1][0] == app["application_entry_id"] and rows[-1][5] == 90  # the score is unchanged
    package = await api.client.get(f"/api/v1/evidence/{app['evidence_id']}/package", headers=ent)
    assert hashlib.sha256(package.content).hexdigest() == app["evidence_sha256"]
    doc = json.loads(package.content)
    assert doc["kind"] == "repair_application" and doc["enterprise_id"] == CEMENT
    assert doc["body"]["commitment"] == COMMITMENT and doc["body"]["attachments"][0]["sha256"] == digest
    assert doc["body"]["deduction"]["id"] == deduction and doc["actor"]["role"] == "enterprise"
    kind = await api.execute("SELECT kind FROM evidence_packages WHERE id = %s", (app["evidence_id"],))
    assert kind == [("repair_application",)]

    stored = await api.execute("SELECT enterprise_id, content, sha256 FROM attachments WHERE id = %s", (file["id"],))
    assert stored == [(CEMENT, PDF, digest)] and file["url"] == f"/api/v1/attachments/{file['id']}"
    assert await chain_ok(api.dsn)


async def test_filing_as_json_with_base64_files(api: ApiEnv, instant: CreditParams) -> None:
    """The JSON form takes references and {filename, content_type, content_base64}; a file whose
    content does not match its type, an empty commitment and a foreign content type are 422 and
    leave nothing behind."""
    deduction = await deduct(api.dsn, api.ctx.registry)
    ent = await api.headers("enterprise", CEMENT)
    photo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    bad = await api.client.post(BASE, headers=ent, json={
        "entry_id": deduction, "commitment": COMMITMENT, "attachments": [
            {"filename": "report.pdf", "content_type": "application/pdf",
             "content_base64": base64.b64encode(b"not a pdf").decode()}]})
    assert bad.status_code == 422 and bad.json()["fields"][0]["path"] == "body.attachments[0]"
    blank = await api.client.post(BASE, headers=ent, json={"entry_id": deduction, "commitment": "   "})
    assert blank.status_code == 422 and blank.json()["fields"][0]["path"] == "body.commitment"
    assert "信用修复承诺书" in blank.json()["detail_zh"]
    long = await api.client.post(BASE, headers=ent, json={"entry_id": deduction, "commitment": "诺" * 5001})
    assert long.status_code == 422
    text = await api.client.post(BASE, headers={**ent, "Content-Type": "text/plain"}, content=b"x")
    assert text.status_code == 422
    assert await api.execute("SELECT count(*) FROM repair_applications") == [(0,)]
    assert await api.execute("SELECT count(*) FROM attachments") == [(0,)]

    r = await api.client.post(BASE, headers=ent, json={
        "entry_id": deduction, "commitment": COMMITMENT, "attachments": [
            "doc:2026-118", {"filename": "现场照片.png", "content_type": "image/png",
                             "content_base64": base64.b64encode(photo).decode()}]})
    assert r.status_code == 201, r.text
    assert [a.get("sha256") for a in r.json()["attachments"]] == [hashlib.sha256(photo).hexdigest(), None]
    assert await chain_ok(api.dsn)


async def test_multipart_refusals_name_the_field(api: ApiEnv, instant: CreditParams) -> None:
    """A form without its commitment, with an unknown field, with a file of a refused type or
    a body that is not multipart is 422 naming the field; nothing is stored."""
    deduction = await deduct(api.dsn, api.ctx.registry)
    ent = await api.headers("enterprise", CEMENT)
    pdf = ("files", ("整改报告.pdf", PDF, "application/pdf"))
    cases = [
        ({"entry_id": str(deduction)}, [pdf], "body.commitment"),
        ({"entry_id": str(deduction), "commitment": COMMITMENT, "note": "x"}, [pdf], "body.note"),
        ({"entry_id": "x", "commitment": COMMITMENT}, [pdf], "body.entry_id"),
        ({"entry_id": str(deduction), "commitment": COMMITMENT},
         [pdf, ("files", ("run.sh", b"#!/bin/sh\n", "application/x-sh"))], "body.files[1].content_type"),
    ]
    for data, files, path in cases:
        r = await api.client.post(BASE, headers=ent, data=data, files=files)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["fields"][0]["path"] == path
    broken = await api.client.post(BASE, content=b"--b\r\nno end", headers={
        **ent, "Content-Type": "multipart/form-data; boundary=b"})
    assert broken.status_code == 422
    assert await api.execute("SELECT (SELECT count(*) FROM repair_applications),"
                             " (SELECT count(*) FROM attachments)") == [(0, 0)]


async def test_filing_before_the_publication_period_is_409_with_allowed_at(
        api: ApiEnv, conn: psycopg.AsyncConnection[Any]) -> None:
    """With the packaged periods (serious 12 months, ordinary 3), a fresh deduction is refused
    with the time from which it can be filed, in English and Chinese; the same filing is accepted
    from that very time (clock injected) and not a second before."""
    deduction = await deduct(api.dsn, api.ctx.registry, severity="high")
    (recorded,), = await api.execute("SELECT created_at FROM credit_ledger WHERE id = %s", (deduction,))
    r = await api.client.post(BASE, headers=await api.headers("enterprise", CEMENT),
                              json={"entry_id": deduction, "commitment": COMMITMENT})
    assert r.status_code == 409 and r.json()["error"] == "not_eligible"
    body = r.json()
    allowed = add_months(recorded, 12)
    assert datetime.fromisoformat(body["allowed_at"]) == allowed and body["allowed_at"].endswith("+08:00")
    assert "publication period" in body["detail"] and "最短公示期未满" in body["detail_zh"]
    assert f"{allowed:%Y-%m-%d}" in body["detail_zh"]
    assert len(await ledger(api)) == 1 and await api.execute("SELECT count(*) FROM repair_applications") == [(0,)]

    params = load_credit_params()
    applicant = await actor(conn, "enterprise", CEMENT)
    with pytest.raises(TooEarly) as early:
        await file_application(conn, params, entry_id=deduction, commitment=COMMITMENT, proof=Proof(),
                               actor=applicant, scope={CEMENT}, now=allowed - timedelta(seconds=1))
    assert early.value.allowed_at == allowed
    filed = await file_application(conn, params, entry_id=deduction, commitment=COMMITMENT, proof=Proof(),
                                   actor=applicant, scope={CEMENT}, now=allowed)
    assert filed["status"] == "pending" and filed["allowed_from"] == allowed
    officer = await actor(conn, "officer")
    with pytest.raises(TooEarly, match="cannot be approved before"):  # never repaired before it ends
        await approve(conn, filed["id"], actor=officer, reason="ok", scope=None, now=allowed - timedelta(days=1))

    medium = await deduct(api.dsn, api.ctx.registry, severity="medium", rule="emission_exceedance")
    (recorded,), = await api.execute("SELECT created_at FROM credit_ledger WHERE id = %s", (medium,))
    with pytest.raises(TooEarly) as early:
        await file_application(conn, params, entry_id=medium, commitment=COMMITMENT, proof=Proof(),
                               actor=applicant, scope={CEMENT}, now=recorded + timedelta(days=80))
    assert early.value.allowed_at == add_months(recorded, 3)


async def test_publication_period_not_the_waiting_period_governs_applications(
        conn: psycopg.AsyncConnection[Any], database: str) -> None:
    """A waiting period (repair_after) longer than the publication period does not block filing
    or approval; a waiting period shorter than it does not allow filing before it ends."""
    params = dataclasses.replace(load_credit_params(),
                                 publication_months=MappingProxyType({"ordinary": 3, "serious": 1}))
    applicant, officer = await actor(conn, "enterprise", CEMENT), await actor(conn, "officer")
    high = await deduct(database, severity="high")  # waiting 365 days, published 1 month
    cur = await conn.execute("SELECT created_at, repair_after FROM credit_ledger WHERE id = %s", (high,))
    recorded, repair_after = await cur.fetchone() or (None, None)
    at = add_months(recorded, 1) + timedelta(days=1)
    assert at < repair_after
    filed = await file_application(conn, params, entry_id=high, commitment=COMMITMENT, proof=Proof(),
                                   actor=applicant, scope={CEMENT}, now=at)
    approved = await approve(conn, filed["id"], actor=officer, reason="整改到位，承诺已公示", scope=None, now=at)
    assert approved["status"] == "approved"
    cur = await conn.execute("SELECT entry_type, points, ref_id, occurred_at FROM credit_ledger"
                             " WHERE id = %s", (approved["decision_entry_id"],))
    assert await cur.fetchone() == ("repair", 10, high, at)

    low = await deduct(database, severity="low", rule="data_gap", hours=3)  # 0 points: nothing to repair
    with pytest.raises(ApplicationRefused, match="took no points"):
        await file_application(conn, params, entry_id=low, commitment=COMMITMENT, proof=Proof(),
                               actor=applicant, scope={CEMENT})
    low = await deduct(database, severity="low", rule="o2_dilution", hours=4)  # waiting 30 days, published 3 months
    cur = await conn.execute("SELECT created_at, repair_after FROM credit_ledger WHERE id = %s", (low,))
    recorded, repair_after = await cur.fetchone() or (None, None)
    with pytest.raises(TooEarly):
        await file_application(conn, params, entry_id=low, commitment=COMMITMENT, proof=Proof(),
                               actor=applicant, scope={CEMENT}, now=repair_after + timedelta(days=1))


async def test_one_pending_application_per_deduction(api: ApiEnv, instant: CreditParams) -> None:
    """A second application while one is pending is 409 naming it; once it is rejected the
    enterprise may apply again."""
    deduction = await deduct(api.dsn, api.ctx.registry)
    ent = await api.headers("enterprise", CEMENT)
    first = await api.client.post(BASE, headers=ent, json={"entry_id": deduction, "commitment": COMMITMENT})
    assert first.status_code == 201
    again = await api.client.post(BASE, headers=ent, json={"entry_id": deduction, "commitment": "再次申请"})
    assert again.status_code == 409 and again.json()["application_id"] == first.json()["id"]
    assert "待审批" in again.json()["detail_zh"]
    officer = await api.headers("officer")
    rejected = await api.client.post(f"{BASE}/{first.json()['id']}/reject", headers=officer,
                                     json={"reason": "整改报告未加盖公章"})
    assert rejected.status_code == 200
    renewed = await api.client.post(BASE, headers=ent, json={"entry_id": deduction, "commitment": COMMITMENT})
    assert renewed.status_code == 201 and renewed.json()["id"] != first.json()["id"]


async def test_another_enterprises_entry_is_404_like_a_missing_one(api: ApiEnv, instant: CreditParams) -> None:
    """The coking plant cannot apply for the cement plant's deduction nor read its application:
    the answers are those for ids that do not exist. A region-limited officer sees only its
    region's applications."""
    deduction = await deduct(api.dsn, api.ctx.registry)
    own = await api.client.post(BASE, headers=await api.headers("enterprise", CEMENT),
                                json={"entry_id": deduction, "commitment": COMMITMENT})
    app_id = own.json()["id"]
    other = await api.headers("enterprise", COKING)
    foreign = await api.client.post(BASE, headers=other, json={"entry_id": deduction, "commitment": COMMITMENT})
    missing = await api.client.post(BASE, headers=other, json={"entry_id": 987654, "commitment": COMMITMENT})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == {**missing.json(), "detail": missing.json()["detail"].replace("987654", str(deduction))}
    seen = await api.client.get(f"{BASE}/{app_id}", headers=other)
    absent = await api.client.get(f"{BASE}/987654", headers=other)
    assert seen.status_code == absent.status_code == 404
    assert seen.json()["detail"] == absent.json()["detail"].replace("987654", str(app_id))
    assert (await api.client.get(BASE, headers=other)).json() == {"items": [], "next_cursor": None}
    assert (await api.client.get(BASE, headers=other, params={"enterprise_id": CEMENT})).json()["items"] == []

    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as c:
        coking_officer = await create_token(c, role="officer", region="130182")
        cement_officer = await create_token(c, role="officer", region="1301")
    far = {"Authorization": f"Bearer {coking_officer}"}
    assert (await api.client.get(f"{BASE}/{app_id}", headers=far)).status_code == 404
    assert (await api.client.post(f"{BASE}/{app_id}/approve", headers=far, json={"reason": "x"})).status_code == 404
    assert (await api.client.get(BASE, headers=far)).json()["items"] == []
    near = {"Authorization": f"Bearer {cement_officer}"}
    assert [a["id"] for a in (await api.client.get(BASE, headers=near)).json()["items"]] == [app_id]
    assert await api.execute("SELECT status FROM repair_applications") == [("pending",)]


async def test_approval_restores_the_score_and_a_decided_application_is_final(
        api: ApiEnv, instant: CreditParams) -> None:
    """Approval writes a repair entry with the deduction's points (credit_scores back to 100)
    resting on the application's document; approving or rejecting it again is 409 with its
    status; an enterprise cannot decide and does not see the officer's token."""
    deduction = await deduct(api.dsn, api.ctx.registry)
    ent = await api.headers("enterprise", CEMENT)
    app = (await api.client.post(BASE, headers=ent, json={"entry_id": deduction, "commitment": COMMITMENT})).json()
    assert await score(api) == 90
    assert (await api.client.post(f"{BASE}/{app['id']}/approve", headers=ent,
                                  json={"reason": "x"})).status_code == 403
    officer = await api.headers("officer")
    assert (await api.client.post(f"{BASE}/{app['id']}/approve", headers=officer, json={})).status_code == 422
    r = await api.client.post(f"{BASE}/{app['id']}/approve", headers=officer,
                              json={"reason": "现场核查整改到位，承诺书已公示"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["decision_reason"]) == ("approved", "现场核查整改到位，承诺书已公示")
    assert done["decided_by"]["token_id"] is not None and done["decided_at"] is not None
    assert await score(api) == 100
    last = (await ledger(api))[-1]
    assert last == (done["decision_entry_id"], "repair", 10, deduction, app["evidence_id"], 100)
    history = (await api.client.get(f"/api/v1/credit/enterprises/{CEMENT}", headers=ent)).json()["history"]
    assert {h["id"]: h["repaired_by"] for h in history}[deduction] == done["decision_entry_id"]

    for action in ("approve", "reject"):
        second = await api.client.post(f"{BASE}/{app['id']}/{action}", headers=officer, json={"reason": "again"})
        assert second.status_code == 409 and second.json()["status"] == "approved", action
        assert "只有待审批的申请" in second.json()["detail_zh"]
    assert await score(api) == 100 and len(await ledger(api)) == 3
    seen = (await api.client.get(f"{BASE}/{app['id']}", headers=ent)).json()
    assert seen["status"] == "approved" and seen["decided_by"] is None
    again = await api.client.post(BASE, headers=ent, json={"entry_id": deduction, "commitment": COMMITMENT})
    assert again.status_code == 409 and "already repaired" in again.json()["detail"]
    assert await chain_ok(api.dsn)


async def test_rejection_writes_repair_rejection_and_keeps_the_score(
        api: ApiEnv, instant: CreditParams) -> None:
    """Rejection writes a zero-point repair_rejection entry with the reason, referencing the
    deduction; the score stays deducted; the list filters by status."""
    deduction = await deduct(api.dsn, api.ctx.registry)
    ent = await api.headers("enterprise", CEMENT)
    app = (await api.client.post(BASE, headers=ent, json={"entry_id": deduction, "commitment": COMMITMENT})).json()
    officer = await api.headers("officer")
    r = await api.client.post(f"{BASE}/{app['id']}/reject", headers=officer, json={"reason": "未提交整改验收材料"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert await score(api) == 90
    rows = await api.execute("SELECT entry_type, points, ref_id, reason FROM credit_ledger WHERE id = %s",
                             (r.json()["decision_entry_id"],))
    assert rows[0][:3] == ("repair_rejection", 0, deduction) and "未提交整改验收材料" in rows[0][3]
    pending = (await api.client.get(BASE, headers=officer, params={"status": "pending"})).json()["items"]
    rejected = (await api.client.get(BASE, headers=officer, params={"status": "rejected"})).json()["items"]
    assert pending == [] and [a["id"] for a in rejected] == [app["id"]]
    own = (await api.client.get(BASE, headers=ent)).json()["items"]
    assert [(a["status"], a["decision_reason"]) for a in own] == [("rejected", "未提交整改验收材料")]
    assert await chain_ok(api.dsn)


async def test_feed_lists_application_repair_and_rejection_in_order(api: ApiEnv, instant: CreditParams) -> None:
    """The credit feed (JSON and CSV) carries repair_application, repair_rejection and repair
    entries in the order they were written, each referencing its deduction and carrying the
    SHA-256 of the application's document."""
    first = await deduct(api.dsn, api.ctx.registry)
    second = await deduct(api.dsn, api.ctx.registry, rule="emission_exceedance", hours=2)
    ent, officer = await api.headers("enterprise", CEMENT), await api.headers("officer")
    a1 = (await api.client.post(BASE, headers=ent, json={"entry_id": first, "commitment": COMMITMENT})).json()
    a2 = (await api.client.post(BASE, headers=ent, json={"entry_id": second, "commitment": COMMITMENT})).json()
    await api.client.post(f"{BASE}/{a1['id']}/reject", headers=officer, json={"reason": "材料不全"})
    await api.client.post(f"{BASE}/{a2['id']}/approve", headers=officer, json={"reason": "整改到位"})
    page = (await api.client.get(BASE, headers=officer, params={"limit": 1})).json()
    rest = (await api.client.get(BASE, headers=officer, params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert [a["id"] for a in page["items"] + rest["items"]] == [a2["id"], a1["id"]]
    assert rest["next_cursor"] is None
    feed = (await api.client.get("/api/v1/credit/events", headers=await api.headers("credit"))).json()["items"]
    assert [(e["type"], e["points"], e["ref_id"]) for e in feed] == [
        ("deduction", -10, None), ("deduction", -10, None), ("repair_application", 0, first),
        ("repair_application", 0, second), ("repair_rejection", 0, first), ("repair", 10, second)]
    assert [e["evidence_sha256"] for e in feed[2:]] == [a1["evidence_sha256"], a2["evidence_sha256"],
                                                         a1["evidence_sha256"], a2["evidence_sha256"]]
    assert feed[4]["actor"]["role"] == "officer" and feed[2]["actor"]["role"] == "enterprise"
    r = await api.client.get("/api/v1/credit/events", params={"format": "csv"},
                             headers=await api.headers("credit"))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["type"], x["ref_id"], x["score_after"]) for x in rows[2:]] == [
        ("repair_application", str(first), "80"), ("repair_application", str(second), "80"),
        ("repair_rejection", str(first), "80"), ("repair", str(second), "90")]


async def test_automatic_repair_still_works_beside_applications(
        conn: psycopg.AsyncConnection[Any], database: str) -> None:
    """repair_due repairs a deduction whose application was rejected, and one whose application
    is pending (which then cannot be approved: 409, and can still be rejected)."""
    params = no_publication_period()
    applicant, officer = await actor(conn, "enterprise", CEMENT), await actor(conn, "officer")
    rejected = await deduct(database, severity="medium", rule="emission_exceedance")
    pending = await deduct(database, severity="medium", rule="treatment_underload", hours=2)
    a1 = await file_application(conn, params, entry_id=rejected, commitment=COMMITMENT, proof=Proof(),
                                actor=applicant, scope={CEMENT})
    a2 = await file_application(conn, params, entry_id=pending, commitment=COMMITMENT, proof=Proof(),
                                actor=applicant, scope={CEMENT})
    await reject(conn, a1["id"], actor=officer, reason="材料不全", scope=None)
    repaired = await repair_due(conn, now=datetime.now(T0.tzinfo) + timedelta(days=91))
    assert sorted(r["ref_id"] for r in repaired) == [rejected, pending]
    cur = await conn.execute("SELECT score FROM credit_scores WHERE enterprise_id = %s", (CEMENT,))
    assert await cur.fetchone() == (100,)
    with pytest.raises(ApplicationRefused, match="already repaired"):
        await approve(conn, a2["id"], actor=officer, reason="整改到位", scope=None)
    closed = await reject(conn, a2["id"], actor=officer, reason="已自动修复", scope=None)
    assert closed["status"] == "rejected"
    with pytest.raises(ApplicationDecided):
        await reject(conn, a2["id"], actor=officer, reason="again", scope=None)
    async with conn.transaction():
        assert (await verify_chain(conn)).ok


async def test_only_live_deductions_can_be_applied_for(
        conn: psycopg.AsyncConnection[Any], database: str) -> None:
    """A repair_application entry, a reversed deduction and an entry outside the scope are refused."""
    params = no_publication_period()
    applicant = await actor(conn, "enterprise", CEMENT)
    deduction = await deduct(database)
    filed = await file_application(conn, params, entry_id=deduction, commitment=COMMITMENT,
                                   proof=Proof(files=[Upload("承诺书.txt", "text/plain", "承诺".encode())]),
                                   actor=applicant, scope={CEMENT})
    with pytest.raises(ApplicationRefused, match="not a deduction"):
        await file_application(conn, params, entry_id=filed["application_entry_id"], commitment=COMMITMENT,
                               proof=Proof(), actor=applicant, scope={CEMENT})
    reversed_one = await deduct(database, rule="flatline", hours=5)
    await reverse(conn, reversed_one, actor={"role": "officer"}, reason="meter mapped to the wrong kiln")
    with pytest.raises(ApplicationRefused, match="reversed") as refused:
        await file_application(conn, params, entry_id=reversed_one, commitment=COMMITMENT, proof=Proof(),
                               actor=applicant, scope={CEMENT})
    assert refused.value.detail_zh == f"扣分记录 {reversed_one} 已撤销，无需修复"


def test_publication_periods_are_validated_naming_the_key(tmp_path: Any) -> None:
    """The file gives periods and the severity mapping; a serious period shorter than the
    ordinary one, or an unknown class, stops the service naming the key."""
    path = tmp_path / "credit.yaml"
    path.write_text("deductions: {}\nrepair_publication: {ordinary_months: 6, serious_months: 24,"
                    " severity: {low: ordinary, medium: serious, high: serious}}\n")
    params = load_credit_params(path)
    assert (params.publication_class("medium"), params.publication_class("extreme")) == ("serious", "serious")
    recorded = datetime(2026, 8, 31, 10, 0, tzinfo=T0.tzinfo)
    assert params.publication_end(recorded, "low") == datetime(2027, 2, 28, 10, 0, tzinfo=T0.tzinfo)
    path.write_text("deductions: {}\nrepair_publication: {ordinary_months: 12, serious_months: 6}\n")
    with pytest.raises(CreditConfigError, match=r"credit.yaml: repair_publication.serious_months"):
        load_credit_params(path)
    path.write_text("deductions: {}\nrepair_publication: {severity: {high: grave}}\n")
    with pytest.raises(CreditConfigError, match=r"repair_publication.severity.high"):
        load_credit_params(path)
    packaged = load_credit_params()
    assert dict(packaged.publication_months) == {"ordinary": 3, "serious": 12}
    assert installed().params.publication_months == packaged.publication_months
