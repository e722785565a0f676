"""Enterprise answers: own alerts only, shown to officers, maintenance windows, closed alerts."""

from __future__ import annotations

from datetime import timedelta

from test_api_support import CEMENT, COKING, T0, ApiEnv

pytest_plugins = ("test_api_support",)


async def test_answer_shows_in_queue_item_and_alert_detail(api: ApiEnv) -> None:
    """An enterprise's explanation appears in the officer's queue item, the alert detail and the trail."""
    alert = await api.insert_alert()
    ent = await api.headers("enterprise", CEMENT)
    r = await api.client.post(f"/api/v1/alerts/{alert}/answers", headers=ent, json={
        "kind": "explanation", "text": "布袋除尘器更换滤袋，已报备",
        "attachments": ["doc:2026-118", "https://example.invalid/photo.jpg"]})
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["kind"] == "explanation" and answer["by"]["role"] == "enterprise"
    assert answer["attachments"] == ["doc:2026-118", "https://example.invalid/photo.jpg"]
    officer = await api.headers("officer")
    queue = (await api.client.get("/api/v1/queue", headers=officer)).json()["items"]
    assert [a["text"] for a in queue[0]["answers"]] == ["布袋除尘器更换滤袋，已报备"]
    detail = (await api.client.get(f"/api/v1/alerts/{alert}", headers=officer)).json()
    assert [a["id"] for a in detail["workflow"]["answers"]] == [answer["id"]]
    listed = (await api.client.get(f"/api/v1/alerts/{alert}/answers", headers=ent)).json()
    assert [a["id"] for a in listed["items"]] == [answer["id"]]
    trail = (await api.client.get(f"/api/v1/alerts/{alert}/audit", headers=ent)).json()["items"]
    assert [(e["kind"], e["data"]["kind"]) for e in trail] == [("answer", "explanation")]
    assert trail[0]["actor"]["token_id"] is not None  # its own token is not hidden from it
    status = await api.execute("SELECT status FROM alerts WHERE id = %s", (alert,))
    assert status == [("open",)], "an answer does not move the lifecycle"


async def test_maintenance_answer_creates_maintenance_row(api: ApiEnv) -> None:
    """maintenance_declared with a window of one of the alert's devices also declares maintenance."""
    alert = await api.insert_alert()
    ent = await api.headers("enterprise", CEMENT)
    window = {"device_id": "PWR-BAG-1", "start": T0.isoformat(),
              "end": (T0 + timedelta(hours=2)).isoformat()}
    r = await api.client.post(f"/api/v1/alerts/{alert}/answers", headers=ent, json={
        "kind": "maintenance_declared", "text": "scheduled filter change", "maintenance": window})
    assert r.status_code == 201, r.text
    maintenance_id = r.json()["maintenance_id"]
    rows = await api.execute(
        "SELECT device_id, enterprise_id, start_ts, end_ts, reason, declared_by_role"
        " FROM maintenance WHERE id = %s", (maintenance_id,))
    assert rows == [("PWR-BAG-1", CEMENT, T0, T0 + timedelta(hours=2), "scheduled filter change",
                     "enterprise")]
    listed = (await api.client.get("/api/v1/maintenance", headers=ent)).json()["items"]
    assert [m["id"] for m in listed] == [maintenance_id]


async def test_bad_maintenance_windows_are_refused(api: ApiEnv) -> None:
    """A device outside the alert, a window on another kind of answer or end before start is 422."""
    alert = await api.insert_alert()
    ent = await api.headers("enterprise", CEMENT)
    ok_window = {"device_id": "PWR-BAG-1", "start": T0.isoformat(),
                 "end": (T0 + timedelta(hours=1)).isoformat()}
    for body in (
        {"kind": "maintenance_declared", "text": "x", "maintenance": {**ok_window,
                                                                      "device_id": "PWR-SCR-1"}},
        {"kind": "explanation", "text": "x", "maintenance": ok_window},
        {"kind": "maintenance_declared", "text": "x", "maintenance": {**ok_window,
                                                                      "end": T0.isoformat()}},
        {"kind": "confession", "text": "x"},
        {"kind": "explanation", "text": ""},
    ):
        r = await api.client.post(f"/api/v1/alerts/{alert}/answers", headers=ent, json=body)
        assert r.status_code == 422, (body, r.text)
    assert await api.execute("SELECT count(*) FROM maintenance") == [(0,)]
    assert await api.execute("SELECT count(*) FROM alert_answers") == [(0,)]


async def test_other_enterprise_cannot_tell_an_alert_exists(api: ApiEnv) -> None:
    """Answering or reading another enterprise's alert is the same 404 as a missing alert."""
    theirs = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",))
    ent = await api.headers("enterprise", CEMENT)
    body = {"kind": "explanation", "text": "not ours"}
    for alert_id in (theirs, 987654):
        r = await api.client.post(f"/api/v1/alerts/{alert_id}/answers", headers=ent, json=body)
        assert (r.status_code, r.json()) == (404, {"error": "not_found",
                                                    "detail": f"no alert {alert_id}",
                                                    "detail_zh": "未找到（或当前账号无权查看）"})
        for suffix in ("/audit", "/answers", ""):
            r = await api.client.get(f"/api/v1/alerts/{alert_id}{suffix}", headers=ent)
            assert r.status_code == 404, suffix
    assert await api.execute("SELECT count(*) FROM alert_answers") == [(0,)]


async def test_closed_alert_takes_no_answer(api: ApiEnv) -> None:
    """After closing, an answer is 409 with the final status."""
    alert = await api.insert_alert()
    await api.execute("UPDATE alerts SET status = 'closed', disposition = 'explanation_accepted'"
                      " WHERE id = %s", (alert,))
    ent = await api.headers("enterprise", CEMENT)
    r = await api.client.post(f"/api/v1/alerts/{alert}/answers", headers=ent,
                              json={"kind": "rectification_done", "text": "done"})
    assert r.status_code == 409 and r.json()["status"] == "closed"


async def test_officers_cannot_answer_for_an_enterprise(api: ApiEnv) -> None:
    """Answers are the enterprise's: an officer token is 403."""
    alert = await api.insert_alert()
    r = await api.client.post(f"/api/v1/alerts/{alert}/answers",
                              headers=await api.headers("officer"),
                              json={"kind": "explanation", "text": "x"})
    assert r.status_code == 403
