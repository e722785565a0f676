"""Complaints (信访投诉) and the active level scheme in supervision: complaints recorded and read
with scope; a positive-listed firm is off the on-site plan and draws except in a period with a
complaint about it; the plan, the draws and the evaluations report levels of the active scheme.

Sample registry: cement plant ``CEMENT`` in 130105, coking plant ``COKING`` in 130182 (both
city 1301), glass works ``GLASS`` in 130627 (city 1306).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from test_api_support import CEMENT, COKING, GLASS, T0, ApiEnv

from ecowarn.api.app import create_app
from ecowarn.credit.chain import lock_chain, next_slot
from ecowarn.credit.evaluation import load_credit_model
from ecowarn.credit.ledger import append_entry
from ecowarn.credit.supervision import today_cst
from ecowarn.credit.supervision.period import parse_period
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

ABSENT = 9_876_543
CST = T0.tzinfo


async def _bearer(api: ApiEnv, role: str, *, region: str | None = None,
                  enterprise_id: str | None = None) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role=role, region=region, enterprise_id=enterprise_id,
                                   label=f"{role} {region or enterprise_id or 'all'}")
    return {"Authorization": f"Bearer {token}"}


async def _deduct(api: ApiEnv, enterprise_id: str, points: int) -> None:
    """A credit ledger deduction written the way the ledger writes one (hash chain included)."""
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn, conn.transaction():
        await lock_chain(conn)
        await append_entry(conn, await next_slot(conn), enterprise_id=enterprise_id, entry_type="deduction",
                           points=-points, occurred_at=T0, reason="confirmed violation",
                           actor={"token_id": None, "role": "officer", "label": "officer"})


async def _complain(api: ApiEnv, headers: dict[str, str], enterprise_id: str, received_at: datetime,
                    **extra: Any) -> Any:
    return await api.client.post("/api/v1/complaints", headers=headers, json={
        "enterprise_id": enterprise_id, "received_at": received_at.isoformat(), "source": "12369 热线",
        "summary": "群众反映夜间异味明显", **extra})


def _received() -> datetime:
    """A moment this month (China time), not in the future."""
    return datetime.now(CST) - timedelta(minutes=5)


async def _list_coking(api: ApiEnv, officer: dict[str, str]) -> None:
    today = today_cst()
    r = await api.client.post("/api/v1/positive-list", headers=officer, json={
        "enterprise_id": COKING, "start": (today - timedelta(days=400)).isoformat(),
        "end": (today + timedelta(days=400)).isoformat(), "reason": "正面清单企业"})
    assert r.status_code == 201, r.text


# --- complaints ---------------------------------------------------------------------------

async def test_an_officer_records_complaints_and_reads_them_by_enterprise_and_region(api: ApiEnv) -> None:
    """POST /complaints returns the complaint with who recorded it; GET lists them newest
    first, filtered by enterprise_id, region and received day; GET by id; rows are kept."""
    officer = await api.headers("officer")
    at = _received()
    first = await _complain(api, officer, CEMENT, at - timedelta(days=40))
    second = await _complain(api, officer, GLASS, at, source="来信", summary="废水外溢")
    assert first.status_code == second.status_code == 201, first.text
    c = first.json()
    assert (c["enterprise_id"], c["source"], c["summary"], c["region"]) == (
        CEMENT, "12369 热线", "群众反映夜间异味明显", "130105")
    assert datetime.fromisoformat(c["received_at"]) == at - timedelta(days=40)
    assert c["created_by"]["role"] == "officer" and c["created_by"]["token_id"] is not None

    def ids(r: Any) -> list[int]:
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    url = "/api/v1/complaints"
    assert ids(await api.client.get(url, headers=officer)) == [second.json()["id"], c["id"]]
    assert ids(await api.client.get(url, headers=officer, params={"enterprise_id": CEMENT})) == [c["id"]]
    assert ids(await api.client.get(url, headers=officer, params={"region": "1306"})) == [second.json()["id"]]
    assert ids(await api.client.get(url, headers=officer, params={"region": "1306", "enterprise_id": CEMENT})) == []
    since = (at - timedelta(days=1)).astimezone(CST).date().isoformat()
    assert ids(await api.client.get(url, headers=officer, params={"since": since})) == [second.json()["id"]]
    paged = await api.client.get(url, headers=officer, params={"limit": 1})
    assert ids(paged) == [second.json()["id"]] and paged.json()["next_cursor"]
    rest = await api.client.get(url, headers=officer, params={"limit": 1, "cursor": paged.json()["next_cursor"]})
    assert ids(rest) == [c["id"]] and rest.json()["next_cursor"] is None
    one = await api.client.get(f"{url}/{c['id']}", headers=officer)
    assert one.status_code == 200 and one.json() == c
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        await api.execute("UPDATE complaints SET summary = 'edited'")


async def test_complaints_are_scoped_and_checked(api: ApiEnv) -> None:
    """A 1306 officer records and reads only its region's complaints (a 1301 enterprise is the
    422 of an unknown one, a 1301 complaint the 404 of an absent one); enterprise and credit
    tokens are 403; a future or offset-less time, an empty source or summary are 422."""
    officer = await api.headers("officer")
    glass_officer = await _bearer(api, "officer", region="1306")
    cement = (await _complain(api, officer, CEMENT, _received())).json()
    refused = await _complain(api, glass_officer, CEMENT, _received())
    assert refused.status_code == 422 and refused.json()["fields"][0]["path"] == "body.enterprise_id"
    assert "detail_zh" in refused.json()
    own = await _complain(api, glass_officer, GLASS, _received())
    assert own.status_code == 201
    listed = await api.client.get("/api/v1/complaints", headers=glass_officer)
    assert [i["id"] for i in listed.json()["items"]] == [own.json()["id"]]
    foreign = await api.client.get(f"/api/v1/complaints/{cement['id']}", headers=glass_officer)
    absent = await api.client.get(f"/api/v1/complaints/{ABSENT}", headers=glass_officer)
    assert foreign.status_code == absent.status_code == 404
    assert re.sub(r"\d+", "N", foreign.text) == re.sub(r"\d+", "N", absent.text)
    for headers in (await _bearer(api, "enterprise", enterprise_id=CEMENT), await api.headers("credit")):
        assert (await _complain(api, headers, CEMENT, _received())).status_code == 403
        assert (await api.client.get("/api/v1/complaints", headers=headers)).status_code == 403
    future = await _complain(api, officer, CEMENT, datetime.now(CST) + timedelta(hours=2))
    assert future.status_code == 422 and future.json()["fields"][0]["path"] == "body.received_at"
    naive = await api.client.post("/api/v1/complaints", headers=officer, json={
        "enterprise_id": CEMENT, "received_at": "2026-12-01T08:00:00", "source": "s", "summary": "s"})
    assert naive.status_code == 422
    for bad in ({"source": ""}, {"summary": "  "}):
        r = await _complain(api, officer, CEMENT, _received(), **bad)
        assert r.status_code == 422, (bad, r.text)
    assert (await api.execute("SELECT count(*) FROM complaints"))[0][0] == 2


# --- the plan and the draws -----------------------------------------------------------------

async def test_a_listed_firm_is_on_the_onsite_plan_and_draws_only_in_a_period_with_a_complaint(
        api: ApiEnv) -> None:
    """The listed coking plant (level A) has no on-site inspection and weight 0 in on-site
    draws; once a complaint about it is received this month, this month's plan gives it one
    on-site inspection with basis complaint and its on-site draws weight it as its level (1);
    a month without a complaint, and remote draws, are unchanged."""
    officer = await api.headers("officer")
    await _list_coking(api, officer)
    at = _received()
    month = at.astimezone(CST).strftime("%Y-%m")
    other = (parse_period(month).start - timedelta(days=1)).strftime("%Y-%m")

    async def plan(period: str) -> dict[str, Any]:
        r = await api.client.get("/api/v1/supervision/plan", headers=officer,
                                 params={"region": "1301", "period": period})
        assert r.status_code == 200, r.text
        return {i["enterprise_id"]: i for i in r.json()["items"]}

    async def draw(kind: str) -> dict[str, Any]:
        r = await api.client.post("/api/v1/supervision/draws", headers=officer, json={
            "region": "1301", "period": month, "kind": kind, "count": 5, "seed": 11})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    before = (await plan(month))[COKING]
    assert (before["basis"], before["inspections"], before["complaints"], before["onsite_weight"]) == (
        "positive_list_remote", 0, 0, 0.0)
    assert COKING not in (await draw("onsite"))["selected"]

    assert (await _complain(api, officer, COKING, at)).status_code == 201
    after = await plan(month)
    item = after[COKING]
    assert (item["basis"], item["inspections"], item["remote_inspections"], item["exempt"], item["complaints"]) == (
        "complaint", 1, 0, False, 1)
    assert "信访投诉 1 件" in item["reason_zh"] and "complaint" in item["reason"]
    assert after[CEMENT]["basis"] == "level" and after[CEMENT]["complaints"] == 0
    assert (await plan(other))[COKING]["basis"] == "positive_list_remote"

    onsite = await draw("onsite")
    assert onsite["weights"][COKING] == 1.0 and COKING in onsite["selected"]
    basis = {c["enterprise_id"]: (c["basis"], c["complaints"]) for c in onsite["candidates"]}
    assert basis == {CEMENT: ("level", 0), COKING: ("complaint", 1)}
    remote = await draw("remote")
    assert remote["weights"][COKING] == 0.5
    assert {c["enterprise_id"]: c["basis"] for c in remote["candidates"]}[COKING] == "positive_list"
    as_csv = await api.client.get(f"/api/v1/supervision/draws/{onsite['id']}", headers=officer,
                                  params={"format": "csv"})
    rows = {r["enterprise_id"]: r for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert (rows[COKING]["basis"], rows[COKING]["complaints"]) == ("complaint", "1")


# --- the active level scheme ----------------------------------------------------------------

@pytest.fixture
async def stars(api: ApiEnv) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same database with the Daxing star scheme active."""
    ctx = dataclasses.replace(api.ctx, credit_model=load_credit_model(None, None, "daxing_stars"),
                              metrics_registry=CollectorRegistry())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)),
                                 base_url="http://test") as client:
        yield client


async def test_the_plan_and_draws_use_the_active_schemes_levels(api: ApiEnv,
                                                                stars: httpx.AsyncClient) -> None:
    """With stars active the plan and the draws read each score's star level and the
    supervision file's rule for it (cement 75: 3-star, twice a year; glass 100: 5-star,
    exempt), not the Hebei level of credit_scores."""
    officer = await api.headers("officer")
    await _deduct(api, CEMENT, 25)
    r = await stars.get("/api/v1/supervision/plan", headers=officer, params={"region": "13", "period": "2026"})
    assert r.status_code == 200, r.text
    items = {i["enterprise_id"]: i for i in r.json()["items"]}
    assert {k: (i["score"], i["level"], i["inspections"], i["basis"]) for k, i in items.items()} == {
        CEMENT: (75, "3-star", 2, "level"), COKING: (100, "5-star", 0, "level_exempt"),
        GLASS: (100, "5-star", 0, "level_exempt")}
    lettered = await api.client.get("/api/v1/supervision/plan", headers=officer,
                                    params={"region": "13", "period": "2026"})
    assert {i["enterprise_id"]: i["level"] for i in lettered.json()["items"]} == {CEMENT: "B", COKING: "A", GLASS: "A"}
    d = await stars.post("/api/v1/supervision/draws", headers=officer, json={
        "region": "13", "period": "2026-12", "kind": "onsite", "count": 1, "seed": 5})
    assert {c["enterprise_id"]: (c["level"], c["weight"]) for c in d.json()["candidates"]} == {
        CEMENT: ("3-star", 2.0), COKING: ("5-star", 0.5), GLASS: ("5-star", 0.5)}


async def test_an_evaluation_shows_the_level_of_the_active_scheme(api: ApiEnv, stars: httpx.AsyncClient) -> None:
    """An evaluation recorded under Hebei levels reads, with stars active, as its star level
    (``level``, ``level_scheme``) and keeps the level it was recorded with (``recorded_level``)."""
    officer = await api.headers("officer")
    r = await api.client.post("/api/v1/credit/evaluations", headers=officer, json={
        "enterprise_id": GLASS, "kind": "initial", "catalog": "hebei_initial",
        "items": [{"item": "eia_approval", "points": -4, "note": "未批先建"},
                  {"item": "discharge_permit", "points": -4, "note": "超许可排放"}]})
    assert r.status_code == 201, r.text
    ev_id = r.json()["id"]
    assert (r.json()["score"], r.json()["level"], r.json()["level_scheme"]) == (92, "A", "hebei")
    starred = (await stars.get(f"/api/v1/credit/evaluations/{ev_id}", headers=officer)).json()
    assert (starred["level"], starred["level_scheme"], starred["recorded_level"], starred["scheme"]) == (
        "5-star", "daxing_stars", "A", "hebei")
    listed = (await stars.get("/api/v1/credit/evaluations", headers=officer)).json()["items"]
    assert [(e["id"], e["level"]) for e in listed] == [(ev_id, "5-star")]
