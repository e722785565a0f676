"""Off-site handling first (非现场优先) of positive-listed firms: an alert of an enterprise on a
positive list when the alert started cannot be dispatched until a remote verification
(远程核查) is recorded; verifications are recorded on the alert, shown on its JSON and in its
audit trail, scoped like the alert.

Sample registry: cement plant ``CEMENT`` in 130105, coking plant ``COKING`` in 130182 (both
city 1301), glass works ``GLASS`` in 130627 (city 1306). Alerts start at ``T0`` (2026-11-20).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from test_api_support import CEMENT, GLASS, T0, ApiEnv

from ecowarn.alerts.offsite import assess
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

ABSENT = 9_876_543
T0_DAY = date(2026, 11, 20)


async def _bearer(api: ApiEnv, role: str, *, region: str | None = None,
                  enterprise_id: str | None = None) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role=role, region=region, enterprise_id=enterprise_id,
                                   label=f"{role} {region or enterprise_id or 'all'}")
    return {"Authorization": f"Bearer {token}"}


async def _list(api: ApiEnv, headers: dict[str, str], enterprise_id: str, start: date, end: date | None) -> int:
    r = await api.client.post("/api/v1/positive-list", headers=headers, json={
        "enterprise_id": enterprise_id, "start": start.isoformat(),
        "end": None if end is None else end.isoformat(), "reason": "连续三年无环境违法记录"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _act(api: ApiEnv, headers: dict[str, str], alert_id: int, action: str, **body: Any) -> Any:
    return await api.client.post(f"/api/v1/alerts/{alert_id}/transitions", headers=headers,
                                 json={"action": action, **body})


async def _verify(api: ApiEnv, headers: dict[str, str], alert_id: int, result: str = "confirmed",
                  method: str = "video_call", note: str = "视频连线查看治污设施，确认停运") -> Any:
    return await api.client.post(f"/api/v1/alerts/{alert_id}/remote-verification", headers=headers,
                                 json={"method": method, "result": result, "note": note})


def test_the_decision_waits_for_a_verification_of_a_listed_firm_only() -> None:
    """assess: a listed firm's alert needs a verification before dispatch (any result lifts
    it); an unlisted firm's never waits; only dispatch is gated."""
    waiting = assess(["positive"], [])
    assert (waiting.required, waiting.blocks("dispatch"), waiting.blocks("dismiss"), waiting.reason) == (
        True, True, False, "remote_verification_required")
    for result in ("confirmed", "not_confirmed", "inconclusive"):
        done = assess(["positive"], ["inconclusive", result])
        assert (done.required, done.blocks("dispatch"), done.latest) == (False, False, result)
    free = assess([], [])
    assert (free.required, free.blocks("dispatch"), free.as_json()["handling"]) == (False, False, "standard")
    assert waiting.as_json() == {"handling": "off_site_first", "positive_list": ["positive"], "required": True,
                                 "reason": "remote_verification_required", "verifications": 0,
                                 "latest_result": None, "blocked_actions": ["dispatch"]}


async def test_a_listed_firms_alert_is_dispatched_only_after_a_remote_verification(api: ApiEnv) -> None:
    """Dispatch of a listed firm's alert is 409 remote_verification_required (detail and
    detail_zh, nothing changed) until an officer records a verification; the verification is
    on the alert's JSON and in its trail; then dispatch goes through."""
    officer = await api.headers("officer")
    await _list(api, officer, CEMENT, T0_DAY - timedelta(days=100), None)
    alert_id = await api.insert_alert(enterprise_id=CEMENT)
    assert (await _act(api, officer, alert_id, "acknowledge")).status_code == 200

    refused = await _act(api, officer, alert_id, "dispatch")
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["reason"] == "remote_verification_required" and body["status"] == "acknowledged"
    assert "positive list" in body["detail"] and "远程核查" in body["detail_zh"]
    assert body["off_site"]["positive_list"] == ["positive"] and body["off_site"]["required"] is True
    shown = (await api.client.get(f"/api/v1/alerts/{alert_id}", headers=officer)).json()["workflow"]
    assert shown["status"] == "acknowledged" and shown["dispatched_at"] is None
    assert shown["off_site"]["required"] is True and shown["off_site"]["handling"] == "off_site_first"

    recorded = await _verify(api, officer, alert_id, "inconclusive", "data_review")
    assert recorded.status_code == 201, recorded.text
    v = recorded.json()
    assert (v["alert_id"], v["method"], v["result"], v["note"]) == (
        alert_id, "data_review", "inconclusive", "视频连线查看治污设施，确认停运")
    assert v["by"]["role"] == "officer" and v["verified_at"]
    off_site = v["workflow"]["off_site"]
    assert (off_site["verifications"], off_site["latest_result"], off_site["required"]) == (1, "inconclusive", False)

    dispatched = await _act(api, officer, alert_id, "dispatch")
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json()["status"] == "dispatched"
    listed = await api.client.get(f"/api/v1/alerts/{alert_id}/remote-verifications", headers=officer)
    assert [i["id"] for i in listed.json()["items"]] == [v["id"]]
    trail = (await api.client.get(f"/api/v1/alerts/{alert_id}/audit", headers=officer)).json()["items"]
    kinds = [(e["kind"], e["action"]) for e in trail]
    assert kinds == [("transition", "acknowledge"), ("remote_verification", None), ("transition", "dispatch")]
    event = trail[1]
    assert event["public"] is False and event["data"]["result"] == "inconclusive"
    assert event["data"]["method"] == "data_review" and event["data"]["positive_list"] == ["positive"]
    own = await _bearer(api, "enterprise", enterprise_id=CEMENT)
    public = (await api.client.get(f"/api/v1/alerts/{alert_id}/audit", headers=own)).json()["items"]
    assert "remote_verification" not in [e["kind"] for e in public]
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        await api.execute("UPDATE alert_remote_verifications SET result = 'confirmed'")


async def test_a_not_confirmed_verification_lets_the_alert_be_dismissed(api: ApiEnv) -> None:
    """After a not_confirmed remote verification the officer dismisses the alert (the usual
    end of an off-site check that found nothing)."""
    officer = await api.headers("officer")
    await _list(api, officer, CEMENT, T0_DAY, T0_DAY + timedelta(days=365))
    alert_id = await api.insert_alert(enterprise_id=CEMENT)
    assert (await _verify(api, officer, alert_id, "not_confirmed", "documents")).status_code == 201
    r = await _act(api, officer, alert_id, "dismiss", reason="远程核查未发现问题")
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert r.json()["off_site"]["latest_result"] == "not_confirmed"


async def test_only_a_listing_valid_when_the_alert_started_counts(api: ApiEnv) -> None:
    """An entry that ended before the alert's day, or starts after it, does not gate dispatch;
    an alert of a firm never listed is dispatched without any verification."""
    officer = await api.headers("officer")
    await _list(api, officer, CEMENT, T0_DAY - timedelta(days=400), T0_DAY - timedelta(days=1))
    await _list(api, officer, CEMENT, T0_DAY + timedelta(days=1), None)
    alert_id = await api.insert_alert(enterprise_id=CEMENT, start=T0)
    glass_alert = await api.insert_alert(enterprise_id=GLASS, device_ids=("CEMS-GLASS-1",))
    for a in (alert_id, glass_alert):
        assert (await _act(api, officer, a, "acknowledge")).status_code == 200
        r = await _act(api, officer, a, "dispatch")
        assert r.status_code == 200, r.text
        assert r.json()["off_site"] == {"handling": "standard", "positive_list": [], "required": False,
                                        "reason": "not_listed", "verifications": 0, "latest_result": None,
                                        "blocked_actions": []}


async def test_verifications_are_refused_outside_role_scope_and_input(api: ApiEnv) -> None:
    """An enterprise or credit token is 403; a 1306 officer gets for a 1301 alert exactly the
    404 of an absent one, and nothing is recorded; a bad method, result or empty note is 422;
    a closed alert is 409."""
    officer = await api.headers("officer")
    alert_id = await api.insert_alert(enterprise_id=CEMENT)
    for headers in (await _bearer(api, "enterprise", enterprise_id=CEMENT), await api.headers("credit")):
        assert (await _verify(api, headers, alert_id)).status_code == 403
    glass_officer = await _bearer(api, "officer", region="1306")
    foreign = await _verify(api, glass_officer, alert_id)
    absent = await _verify(api, glass_officer, ABSENT)
    assert foreign.status_code == absent.status_code == 404
    digits = re.compile(r"\d+")
    assert digits.sub("N", foreign.text) == digits.sub("N", absent.text)
    assert (await api.client.get(f"/api/v1/alerts/{alert_id}/remote-verifications",
                                 headers=glass_officer)).status_code == 404
    for bad in ({"method": "phone"}, {"result": "maybe"}, {"note": ""}, {"note": "   "}):
        body = {"method": "video_call", "result": "confirmed", "note": "n", **bad}
        r = await api.client.post(f"/api/v1/alerts/{alert_id}/remote-verification", headers=officer, json=body)
        assert r.status_code == 422, (bad, r.text)
    assert (await api.execute("SELECT count(*) FROM alert_remote_verifications"))[0][0] == 0
    assert (await _act(api, officer, alert_id, "dismiss", reason="误报")).status_code == 200
    assert (await _act(api, officer, alert_id, "close", disposition="false_alarm",
                       reason="误报")).status_code == 200
    closed = await _verify(api, officer, alert_id)
    assert closed.status_code == 409 and closed.json()["status"] == "closed"
