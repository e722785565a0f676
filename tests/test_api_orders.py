"""Emergency orders and declared maintenance: validation, storage, scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_api_support import CEMENT, COKING, GLASS, ApiEnv

pytest_plugins = ("test_api_support",)

START, END = "2026-11-24T00:00:00+08:00", "2026-11-26T00:00:00+08:00"


async def test_emergency_order_is_stored_and_returned(api: ApiEnv) -> None:
    """A valid limit order is 201 with its id; shutdown orders store no limit_pct."""
    headers = await api.headers("officer")
    r = await api.client.post("/api/v1/emergency-orders", headers=headers, json={
        "enterprise_ids": [CEMENT, COKING, CEMENT], "start": START, "end": "2026-11-25T16:00:00Z",
        "measure": "limit", "limit_pct": 30})
    assert r.status_code == 201, r.text
    order = r.json()
    assert isinstance(order["id"], int)
    assert order["enterprise_ids"] == [CEMENT, COKING]
    assert (order["start"], order["end"]) == (START, END)
    assert (order["measure"], order["limit_pct"]) == ("limit", 30)
    stored = await api.execute("SELECT enterprise_ids, measure, limit_pct FROM emergency_orders")
    assert stored == [([CEMENT, COKING], "limit", 30)]

    r = await api.client.post("/api/v1/emergency-orders", headers=headers, json={
        "enterprise_ids": [GLASS], "start": START, "end": END, "measure": "shutdown",
        "limit_pct": 30})
    assert r.status_code == 201 and r.json()["limit_pct"] is None


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"enterprise_ids": [CEMENT, "91110000XXXXXXXXXX", "NOPE"]}, "body.enterprise_ids",
     "91110000XXXXXXXXXX, NOPE"),
    ({"end": START}, "body.end", "end must be after start"),
    ({"start": "2026-11-24T00:00:00"}, "body.start", "no UTC offset"),
    ({"limit_pct": None}, "body.limit_pct", "required when measure is limit"),
    ({"limit_pct": 0}, "body.limit_pct", "greater than or equal to 1"),
    ({"limit_pct": 101}, "body.limit_pct", "less than or equal to 100"),
    ({"measure": "evacuate"}, "body.measure", "'shutdown' or 'limit'"),
    ({"enterprise_ids": []}, "body.enterprise_ids", "at least 1"),
])
async def test_emergency_order_validation(api: ApiEnv, change: dict[str, Any], path: str,
                                          words: str) -> None:
    """Each invalid order is 422 naming the field and the problem; nothing is stored."""
    body = {"enterprise_ids": [CEMENT], "start": START, "end": END, "measure": "limit",
            "limit_pct": 30, **change}
    r = await api.client.post("/api/v1/emergency-orders", headers=await api.headers("officer"),
                              json=body)
    assert r.status_code == 422, r.text
    err = r.json()
    assert path in [f["path"] for f in err["fields"]]
    assert words in err["detail"]
    assert await api.execute("SELECT count(*) FROM emergency_orders") == [(0,)]


async def test_enterprise_sees_only_orders_naming_it(api: ApiEnv) -> None:
    """GET /emergency-orders: officers see all, an enterprise only those naming it."""
    officer = await api.headers("officer")
    for ids in ([CEMENT], [COKING, GLASS]):
        r = await api.client.post("/api/v1/emergency-orders", headers=officer, json={
            "enterprise_ids": ids, "start": START, "end": END, "measure": "shutdown"})
        assert r.status_code == 201
    everything = (await api.client.get("/api/v1/emergency-orders", headers=officer)).json()
    assert [o["enterprise_ids"] for o in everything["items"]] == [[COKING, GLASS], [CEMENT]]
    glass = await api.headers("enterprise", GLASS)
    mine = (await api.client.get("/api/v1/emergency-orders", headers=glass)).json()
    assert [o["enterprise_ids"] for o in mine["items"]] == [[COKING, GLASS]]
    other = await api.client.get("/api/v1/emergency-orders", headers=glass,
                                 params={"enterprise_id": CEMENT})
    assert other.json()["items"] == []


async def test_maintenance_declared_by_enterprise_for_own_device_only(api: ApiEnv) -> None:
    """An enterprise declares for its device (201); another's device or an unknown one is 404."""
    headers = await api.headers("enterprise", CEMENT)
    body = {"device_id": "13010500000001", "start": START, "end": END,
            "reason": "CEMS analyser calibration"}
    r = await api.client.post("/api/v1/maintenance", headers=headers, json=body)
    assert r.status_code == 201, r.text
    m = r.json()
    assert (m["enterprise_id"], m["declared_by_role"], m["start"]) == (CEMENT, "enterprise", START)
    for device in ("13018200000001", "NO-SUCH-DEVICE"):
        r = await api.client.post("/api/v1/maintenance", headers=headers,
                                  json={**body, "device_id": device})
        assert r.status_code == 404, device
    assert await api.execute("SELECT device_id FROM maintenance") == [("13010500000001",)]


async def test_maintenance_validation_and_listing(api: ApiEnv) -> None:
    """Officers declare for any device; bad windows are 422; lists are scoped like reads."""
    officer = await api.headers("officer")
    r = await api.client.post("/api/v1/maintenance", headers=officer, json={
        "device_id": "13018200000001", "start": START, "end": START, "reason": "x"})
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.end"
    r = await api.client.post("/api/v1/maintenance", headers=officer, json={
        "device_id": "NO-SUCH-DEVICE", "start": START, "end": END, "reason": "x"})
    assert r.status_code == 422 and "NO-SUCH-DEVICE" in r.json()["detail"]
    r = await api.client.post("/api/v1/maintenance", headers=officer, json={
        "device_id": "13010500000001", "start": START, "end": END, "reason": ""})
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.reason"
    for device in ("13018200000001", "13010500000001"):
        r = await api.client.post("/api/v1/maintenance", headers=officer, json={
            "device_id": device, "start": START, "end": END, "reason": "sensor swap"})
        assert r.status_code == 201
    everything = (await api.client.get("/api/v1/maintenance", headers=officer)).json()["items"]
    assert [m["device_id"] for m in everything] == ["13010500000001", "13018200000001"]
    cement = await api.headers("enterprise", CEMENT)
    mine = (await api.client.get("/api/v1/maintenance", headers=cement)).json()["items"]
    assert [m["device_id"] for m in mine] == ["13010500000001"]
    r = await api.client.get("/api/v1/maintenance", headers=cement,
                             params={"device_id": "13018200000001"})
    assert r.status_code == 404
    r = await api.client.get("/api/v1/maintenance", headers=officer,
                             params={"since": "2026-11-27T00:00:00+08:00"})
    assert r.json()["items"] == []


def _window(start: datetime, hours: float) -> dict[str, str]:
    return {"start": start.isoformat(), "end": (start + timedelta(hours=hours)).isoformat()}


async def test_enterprise_declaration_in_advance_is_approved_at_once(api: ApiEnv) -> None:
    """Starting within the grace hour and lasting at most 72 h: approved on creation, with a
    trail that says so; an officer's retroactive declaration is approved too."""
    cement = await api.headers("enterprise", enterprise_id=CEMENT)
    now = datetime.now(UTC)
    r = await api.client.post("/api/v1/maintenance", headers=cement, json={
        "device_id": "13010500000001", "reason": "analyser calibration",
        **_window(now - timedelta(minutes=50), 72)})
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["pending_reason"]) == ("approved", [])
    one = (await api.client.get(f"/api/v1/maintenance/{r.json()['id']}", headers=cement)).json()
    assert [(e["action"], e["by"]["role"], e["reason"]) for e in one["history"]] == [
        ("declared", "enterprise", "approved on creation")]
    officer = await api.headers("officer")
    r = await api.client.post("/api/v1/maintenance", headers=officer, json={
        "device_id": "13010500000001", "reason": "on-site check", **_window(now - timedelta(days=5), 100)})
    assert r.json()["status"] == "approved"


@pytest.mark.parametrize(("start_ago_min", "hours", "why"), [
    (61, 1, ["retroactive"]),
    (0, 72.5, ["too_long"]),
    (24 * 60, 80, ["retroactive", "too_long"]),
])
async def test_enterprise_declaration_outside_the_policy_is_pending(
        api: ApiEnv, start_ago_min: int, hours: float, why: list[str]) -> None:
    """Reaching back more than the grace hour, or longer than 72 h: pending, with the reasons."""
    cement = await api.headers("enterprise", enterprise_id=CEMENT)
    r = await api.client.post("/api/v1/maintenance", headers=cement, json={
        "device_id": "13010500000001", "reason": "analyser calibration",
        **_window(datetime.now(UTC) - timedelta(minutes=start_ago_min), hours)})
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["pending_reason"]) == ("pending", why)


async def test_officer_approves_or_rejects_pending_declarations(api: ApiEnv) -> None:
    """Officers list pending declarations, approve or reject each once with a reason (kept in
    its trail); the enterprise cannot decide its own, nor see another enterprise's."""
    cement = await api.headers("enterprise", enterprise_id=CEMENT)
    officer = await api.headers("officer")
    ids = []
    for _ in range(2):
        r = await api.client.post("/api/v1/maintenance", headers=cement, json={
            "device_id": "13010500000001", "reason": "calibration",
            **_window(datetime.now(UTC) - timedelta(days=2), 2)})
        ids.append(r.json()["id"])
    pending = (await api.client.get("/api/v1/maintenance", headers=officer,
                                    params={"status": "pending"})).json()["items"]
    assert sorted(m["id"] for m in pending) == sorted(ids)
    r = await api.client.post(f"/api/v1/maintenance/{ids[0]}/approve", headers=cement,
                              json={"reason": "self-approved"})
    assert r.status_code == 403
    r = await api.client.post(f"/api/v1/maintenance/{ids[0]}/approve", headers=officer, json={"reason": ""})
    assert r.status_code == 422
    r = await api.client.post(f"/api/v1/maintenance/{ids[0]}/approve", headers=officer,
                              json={"reason": "calibration log checked"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["decision_reason"] == "calibration log checked"
    assert [e["action"] for e in r.json()["history"]] == ["declared", "approved"]
    r = await api.client.post(f"/api/v1/maintenance/{ids[0]}/reject", headers=officer, json={"reason": "x"})
    assert r.status_code == 409 and r.json()["status"] == "approved"
    r = await api.client.post(f"/api/v1/maintenance/{ids[1]}/reject", headers=officer,
                              json={"reason": "no calibration record"})
    assert r.json()["status"] == "rejected"
    assert (await api.client.get("/api/v1/maintenance", headers=officer,
                                 params={"status": "pending"})).json()["items"] == []
    coking = await api.headers("enterprise", enterprise_id=COKING)
    assert (await api.client.get(f"/api/v1/maintenance/{ids[1]}", headers=coking)).status_code == 404
    mine = (await api.client.get(f"/api/v1/maintenance/{ids[1]}", headers=cement)).json()
    assert mine["history"][-1]["reason"] == "no calibration record"
