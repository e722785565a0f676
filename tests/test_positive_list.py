"""Positive lists (正面清单, CONTRACT section 9): entries with validity, kept when removed,
scoped like every enterprise resource.

Sample registry: cement plant ``CEMENT`` in 130105, coking plant ``COKING`` in 130182 (both
city 1301), glass works ``GLASS`` in 130627 (city 1306).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from test_api_support import CEMENT, COKING, GLASS, ApiEnv

from ecowarn.credit.supervision import is_listed, today_cst
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

ABSENT = 9_876_543


async def _bearer(api: ApiEnv, role: str, *, region: str | None = None,
                  enterprise_id: str | None = None) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role=role, region=region, enterprise_id=enterprise_id,
                                   label=f"{role} {region or enterprise_id or 'all'}")
    return {"Authorization": f"Bearer {token}"}


async def _list(api: ApiEnv, headers: dict[str, str], enterprise_id: str, start: date, end: date | None,
                **extra: Any) -> dict[str, Any]:
    body = {"enterprise_id": enterprise_id, "start": start.isoformat(),
            "end": None if end is None else end.isoformat(), "reason": "连续三年无环境违法记录", **extra}
    r = await api.client.post("/api/v1/positive-list", headers=headers, json=body)
    assert r.status_code == 201, r.text
    entry: dict[str, Any] = r.json()
    return entry


def _ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_an_officer_lists_an_enterprise_and_those_entitled_read_the_entry(api: ApiEnv) -> None:
    """POST returns the entry {id, enterprise_id, list, start, end, reason} (list by default the
    configured default); officers and the credit role read every entry, an enterprise only
    its own: another enterprise's entry is absent from its list and 404 by id."""
    officer = await api.headers("officer")
    today = today_cst()
    entry = await _list(api, officer, CEMENT, today - timedelta(days=1), today + timedelta(days=364))
    assert {k: entry[k] for k in ("enterprise_id", "list", "start", "end", "reason")} == {
        "enterprise_id": CEMENT, "list": "positive", "start": (today - timedelta(days=1)).isoformat(),
        "end": (today + timedelta(days=364)).isoformat(), "reason": "连续三年无环境违法记录"}
    assert entry["active"] is True and entry["list_name"] == "正面清单" and entry["deleted"] is False
    assert entry["enterprise_name"] == "石家庄某某水泥有限公司" and entry["region"] == "130105"
    assert entry["created_by"]["role"] == "officer" and entry["created_by"]["token_id"] is not None

    for headers in (officer, await api.headers("credit"), await _bearer(api, "enterprise", enterprise_id=CEMENT)):
        r = await api.client.get("/api/v1/positive-list", headers=headers)
        assert _ids(r) == {entry["id"]}
        one = await api.client.get(f"/api/v1/positive-list/{entry['id']}", headers=headers)
        assert one.status_code == 200 and one.json()["enterprise_id"] == CEMENT
    own = await api.client.get(f"/api/v1/positive-list/{entry['id']}",
                               headers=await _bearer(api, "enterprise", enterprise_id=CEMENT))
    assert own.json()["created_by"] == {"token_id": None, "role": "officer", "label": ""}

    other = await _bearer(api, "enterprise", enterprise_id=COKING)
    assert _ids(await api.client.get("/api/v1/positive-list", headers=other)) == set()
    assert (await api.client.get(f"/api/v1/positive-list/{entry['id']}", headers=other)).status_code == 404
    for role in ("enterprise", "credit"):
        r = await api.client.post("/api/v1/positive-list", headers=await _bearer(
            api, role, enterprise_id=CEMENT if role == "enterprise" else None),
            json={"enterprise_id": CEMENT, "reason": "x"})
        assert r.status_code == 403, (role, r.text)


async def test_validity_decides_whether_an_entry_is_active_on_a_day(api: ApiEnv) -> None:
    """An entry is active from start through end (both included; no end: until removed):
    ``active=true`` lists today's, ``active=false`` the expired and not yet valid ones, a
    day those of that day, no filter all of them; is_listed agrees."""
    officer = await api.headers("officer")
    today = today_cst()
    current = await _list(api, officer, CEMENT, today - timedelta(days=10), today)
    expired = await _list(api, officer, COKING, date(2025, 1, 1), date(2025, 6, 30))
    coming = await _list(api, officer, GLASS, today + timedelta(days=1), today + timedelta(days=60))
    open_ended = await _list(api, officer, COKING, date(2025, 1, 1), None, list="enforcement")
    assert open_ended["end"] is None and open_ended["list"] == "enforcement"
    assert [current["active"], expired["active"], coming["active"], open_ended["active"]] == [True, False, False, True]

    get = api.client.get
    assert _ids(await get("/api/v1/positive-list", headers=officer)) == {
        current["id"], expired["id"], coming["id"], open_ended["id"]}
    assert _ids(await get("/api/v1/positive-list", headers=officer, params={"active": "true"})) == {
        current["id"], open_ended["id"]}
    assert _ids(await get("/api/v1/positive-list", headers=officer, params={"active": "false"})) == {
        expired["id"], coming["id"]}
    assert _ids(await get("/api/v1/positive-list", headers=officer, params={"active": "2025-06-30"})) == {
        expired["id"], open_ended["id"]}
    assert _ids(await get("/api/v1/positive-list", headers=officer, params={"active": "2025-07-01"})) == {
        open_ended["id"]}
    assert _ids(await get("/api/v1/positive-list", headers=officer,
                          params={"active": "true", "list": "正面清单"})) == {current["id"]}
    assert _ids(await get("/api/v1/positive-list", headers=officer, params={"region": "1306"})) == {coming["id"]}
    assert _ids(await get("/api/v1/positive-list", headers=officer, params={"enterprise_id": COKING})) == {
        expired["id"], open_ended["id"]}
    bad = await get("/api/v1/positive-list", headers=officer, params={"active": "soon"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["path"] == "query.active"

    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        assert await is_listed(conn, CEMENT) is True
        assert await is_listed(conn, CEMENT, on=today + timedelta(days=1)) is False
        assert await is_listed(conn, GLASS) is False
        assert await is_listed(conn, GLASS, on=today + timedelta(days=60)) is True
        assert await is_listed(conn, COKING, on=date(2024, 1, 1)) is False


async def test_refused_entries_name_the_field(api: ApiEnv) -> None:
    """end not after start, an unregistered enterprise and an unknown list are 422 naming
    body.end, body.enterprise_id and body.list (with the reason in Chinese); a list may be
    named by its Chinese name, and a time with an offset counts as its day in China."""
    officer = await api.headers("officer")
    cases = [
        ({"enterprise_id": CEMENT, "start": "2026-12-01", "end": "2026-12-01"}, "body.end"),
        ({"enterprise_id": CEMENT, "start": "2026-12-01", "end": "2026-11-01"}, "body.end"),
        ({"enterprise_id": "91130000MA0NONE000", "start": "2026-12-01"}, "body.enterprise_id"),
        ({"enterprise_id": CEMENT, "list": "blacklist"}, "body.list"),
    ]
    for body, field in cases:
        r = await api.client.post("/api/v1/positive-list", headers=officer, json={**body, "reason": "r"})
        assert r.status_code == 422, (body, r.text)
        assert r.json()["fields"][0]["path"] == field
        assert r.json()["detail_zh"].startswith(field)
    r = await api.client.post("/api/v1/positive-list", headers=officer, json={
        "enterprise_id": CEMENT, "list": "监督执法正面清单", "start": "2026-11-30T23:30:00+00:00",
        "end": "2027-11-30", "reason": "r"})
    assert r.status_code == 201, r.text
    assert (r.json()["list"], r.json()["start"]) == ("enforcement", "2026-12-01")
    assert (await api.execute("SELECT count(*) FROM positive_list"))[0][0] == 1


async def test_removal_keeps_the_entry_with_who_when_and_why(api: ApiEnv) -> None:
    """DELETE marks the entry removed (who, when, why) and it is no longer active or listed,
    yet readable by id and with include_deleted; a second DELETE is 404; the table refuses
    any other change and any real deletion."""
    officer = await api.headers("officer")
    today = today_cst()
    entry = await _list(api, officer, CEMENT, today - timedelta(days=30), today + timedelta(days=300))
    r = await api.client.delete(f"/api/v1/positive-list/{entry['id']}", headers=officer,
                                params={"reason": "发生环境违法行为，移出清单"})
    assert r.status_code == 200, r.text
    removed = r.json()
    assert removed["deleted"] is True and removed["active"] is False and removed["deleted_at"]
    assert removed["deleted_by"]["role"] == "officer" and removed["deleted_by"]["token_id"] is not None
    assert removed["delete_reason"] == "发生环境违法行为，移出清单"

    assert _ids(await api.client.get("/api/v1/positive-list", headers=officer)) == set()
    assert _ids(await api.client.get("/api/v1/positive-list", headers=officer,
                                     params={"include_deleted": "true"})) == {entry["id"]}
    one = await api.client.get(f"/api/v1/positive-list/{entry['id']}", headers=officer)
    assert one.status_code == 200 and one.json()["deleted"] is True
    again = await api.client.delete(f"/api/v1/positive-list/{entry['id']}", headers=officer)
    assert again.status_code == 404
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        assert await is_listed(conn, CEMENT) is False
    for sql in ("UPDATE positive_list SET reason = 'edited'", "DELETE FROM positive_list",
                "UPDATE positive_list SET deleted_at = NULL, deleted_by_role = NULL"):
        with pytest.raises(psycopg.errors.RaiseException, match="positive_list entries are kept"):
            await api.execute(sql)
    rows = await api.execute("SELECT reason, delete_reason FROM positive_list")
    assert rows == [("连续三年无环境违法记录", "发生环境违法行为，移出清单")]


async def test_a_region_limited_officer_works_only_its_region(api: ApiEnv) -> None:
    """A 1306 officer lists only its region's enterprises (the cement plant in 1301 is the 422
    of an unknown enterprise), sees only their entries, and gets for the cement plant's entry
    exactly the 404 of an absent id, on GET and DELETE."""
    officer = await api.headers("officer")
    glass_officer = await _bearer(api, "officer", region="1306")
    today = today_cst()
    cement = await _list(api, officer, CEMENT, today, today + timedelta(days=30))

    refused = await api.client.post("/api/v1/positive-list", headers=glass_officer,
                                    json={"enterprise_id": CEMENT, "reason": "r"})
    unknown = await api.client.post("/api/v1/positive-list", headers=glass_officer,
                                    json={"enterprise_id": "91130000MA0NONE000", "reason": "r"})
    assert refused.status_code == unknown.status_code == 422
    assert refused.json()["fields"][0]["path"] == "body.enterprise_id"
    glass = await _list(api, glass_officer, GLASS, today, today + timedelta(days=30))

    assert _ids(await api.client.get("/api/v1/positive-list", headers=glass_officer)) == {glass["id"]}
    assert _ids(await api.client.get("/api/v1/positive-list", headers=glass_officer,
                                     params={"enterprise_id": CEMENT})) == set()
    digits = re.compile(r"\d+")
    for method in ("GET", "DELETE"):
        foreign = await api.client.request(method, f"/api/v1/positive-list/{cement['id']}", headers=glass_officer)
        absent = await api.client.request(method, f"/api/v1/positive-list/{ABSENT}", headers=glass_officer)
        assert foreign.status_code == absent.status_code == 404, method
        assert digits.sub("N", foreign.text) == digits.sub("N", absent.text)
    assert (await api.execute("SELECT deleted_at FROM positive_list WHERE id = %s", (cement["id"],))) == [(None,)]
    assert _ids(await api.client.get("/api/v1/positive-list", headers=officer)) == {cement["id"], glass["id"]}


async def test_queue_marks_a_listed_firms_alerts_for_off_site_handling_first(api: ApiEnv) -> None:
    """The officers' queue shows each alert's positive-list status today: a listed firm's
    alert is handled off-site first; an expired or removed listing no longer counts."""
    officer = await api.headers("officer")
    today = today_cst()
    listed_alert = await api.insert_alert(enterprise_id=CEMENT)
    other_alert = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",))
    await _list(api, officer, CEMENT, today - timedelta(days=10), today + timedelta(days=10))
    await _list(api, officer, COKING, today - timedelta(days=30), today - timedelta(days=1))

    async def handling() -> dict[int, tuple[str, list[str]]]:
        r = await api.client.get("/api/v1/queue", headers=officer)
        assert r.status_code == 200, r.text
        return {i["id"]: (i["handling"], i["positive_list"]) for i in r.json()["items"]}

    assert (await handling())[listed_alert] == ("off_site_first", ["positive"])
    assert (await handling())[other_alert] == ("standard", [])
    entries = (await api.client.get("/api/v1/positive-list", headers=officer,
                                    params={"enterprise_id": CEMENT})).json()["items"]
    for e in entries:
        r = await api.client.delete(f"/api/v1/positive-list/{e['id']}", headers=officer)
        assert r.status_code in (200, 204), r.text
    assert (await handling())[listed_alert] == ("standard", [])
