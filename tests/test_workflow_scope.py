"""Jurisdiction in the workflow routes: a region-limited officer works only its region's alerts.

Sample registry: the cement plant (``CEMENT``) is in 130105, the coking plant (``COKING``)
in 130182.
"""

from __future__ import annotations

from typing import Any

import psycopg
from test_api_support import CEMENT, COKING, ApiEnv

from ecowarn.store.tokens import create_token, lookup_token

pytest_plugins = ("test_api_support",)

ABSENT = 9_876_543


async def _officer(api: ApiEnv, region: str | None) -> tuple[dict[str, str], int]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role="officer", label=f"officer {region}", region=region)
        principal = await lookup_token(conn, token)
    assert principal is not None
    return {"Authorization": f"Bearer {token}"}, principal.token_id


def _probes(alert: int, assignee: int) -> list[tuple[str, str, Any]]:
    return [
        ("POST", f"/api/v1/queue/{alert}/claim", None),
        ("POST", f"/api/v1/alerts/{alert}/transitions", {"action": "acknowledge"}),
        ("POST", f"/api/v1/alerts/{alert}/transitions", {"action": "dismiss", "reason": "x"}),
        ("POST", f"/api/v1/alerts/{alert}/comments", {"text": "note"}),
        ("POST", f"/api/v1/alerts/{alert}/assign", {"assignee_token_id": assignee}),
        ("GET", f"/api/v1/alerts/{alert}/audit", None),
        ("GET", f"/api/v1/alerts/{alert}/answers", None),
    ]


async def test_another_regions_alert_is_404_like_an_absent_one_and_unchanged(api: ApiEnv) -> None:
    """Claim, transitions, comments, assign, audit and answers on another region's alert answer
    exactly what an absent id answers, and change nothing (no event, no reading recorded)."""
    theirs = await api.insert_alert()  # CEMENT, 130105
    r = await api.client.post(f"/api/v1/alerts/{theirs}/answers", headers=await api.headers("enterprise", CEMENT),
                              json={"kind": "explanation", "text": "说明"})
    assert r.status_code == 201
    coking, coking_id = await _officer(api, "130182")
    for (method, path, body), (_, absent_path, _) in zip(_probes(theirs, coking_id),
                                                          _probes(ABSENT, coking_id), strict=True):
        got = await api.client.request(method, path, headers=coking, json=body)
        missing = await api.client.request(method, absent_path, headers=coking, json=body)
        assert got.status_code == missing.status_code == 404, (path, got.text)
        assert got.json() | {"detail": ""} == missing.json() | {"detail": ""}
        assert got.json()["detail"].replace(str(theirs), "N") == missing.json()["detail"].replace(str(ABSENT), "N")
    assert await api.execute("SELECT status, assignee_token FROM alerts WHERE id = %s", (theirs,)) == [
        ("open", None)]
    assert await api.execute("SELECT kind FROM alert_events WHERE alert_id = %s", (theirs,)) == [("answer",)]
    assert await api.execute("SELECT count(*) FROM alert_answers WHERE first_read_at IS NOT NULL") == [(0,)]
    assert await api.execute("SELECT count(*) FROM alert_comments") == [(0,)]


async def test_own_region_works_and_lists_hold_only_it(api: ApiEnv) -> None:
    """The queue and labels of a 130182 officer hold only COKING's alerts (an enterprise_id
    or region filter outside it gives nothing); its own alert can be worked; an officer
    without a region sees both."""
    cement = await api.insert_alert()
    coking = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",))
    hotspot = await api.insert_alert(enterprise_id=None, device_ids=("AQ-0001",), rule="air_hotspot")
    limited, _ = await _officer(api, "130182")
    province, _ = await _officer(api, None)
    queue = (await api.client.get("/api/v1/queue", headers=limited)).json()["items"]
    assert [i["id"] for i in queue] == [coking]
    for params in ({"enterprise_id": CEMENT}, {"region": "130105"}):
        r = await api.client.get("/api/v1/queue", headers=limited, params=params)
        assert r.status_code == 200 and r.json()["items"] == [], params
    everything = (await api.client.get("/api/v1/queue", headers=province)).json()["items"]
    assert {i["id"] for i in everything} == {cement, coking, hotspot}

    r = await api.client.post(f"/api/v1/queue/{coking}/claim", headers=limited)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    for alert in (coking, cement):
        for body in ({"action": "dismiss", "reason": "explained"},
                     {"action": "close", "disposition": "explanation_accepted"}):
            r = await api.client.post(f"/api/v1/alerts/{alert}/transitions", headers=province, json=body)
            assert r.status_code == 200, r.text
    labels = (await api.client.get("/api/v1/labels", headers=limited)).json()["items"]
    assert [i["alert_id"] for i in labels] == [coking]
    labels = (await api.client.get("/api/v1/labels", headers=province)).json()["items"]
    assert [i["alert_id"] for i in labels] == [coking, cement]
