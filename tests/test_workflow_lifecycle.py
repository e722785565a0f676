"""Alert lifecycle over HTTP: transitions, refusals, the confirm hook, comments, assignment, audit."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from test_api_support import CEMENT, ApiEnv

from ecowarn.alerts import Actor, WorkflowParams
from ecowarn.api import create_app
from ecowarn.store.tokens import create_token, lookup_token

pytest_plugins = ("test_api_support",)


async def _officer(api: ApiEnv, label: str = "Zhang Wei") -> tuple[dict[str, str], int]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role="officer", label=label)
        principal = await lookup_token(conn, token)
    assert principal is not None
    return {"Authorization": f"Bearer {token}"}, principal.token_id


async def _act(api: ApiEnv, headers: dict[str, str], alert: int, action: str,
               **extra: Any) -> httpx.Response:
    return await api.client.post(f"/api/v1/alerts/{alert}/transitions", headers=headers,
                                 json={"action": action, **extra})


async def _deadline_passed(api: ApiEnv, alert: int) -> None:
    """The enterprise let its answer deadline pass without answering: it has been heard."""
    await api.execute("UPDATE alerts SET due_at = now() - interval '1 minute' WHERE id = %s", (alert,))


@asynccontextmanager
async def _client_with(api: ApiEnv, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    ctx = dataclasses.replace(api.ctx, metrics_registry=type(api.ctx.metrics_registry)(),
                              **changes)
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_full_lifecycle_records_who_when_why(api: ApiEnv) -> None:
    """acknowledge -> dispatch -> (answer, read) -> confirm -> close: each step is a trail event
    with token, role, label, reason."""
    alert = await api.insert_alert()
    headers, token_id = await _officer(api)
    r = await _act(api, headers, alert, "acknowledge", reason="screened")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    assert r.json()["allowed_actions"] == ["dispatch", "dismiss"]
    r = await _act(api, headers, alert, "dispatch")
    body = r.json()
    dispatched = datetime.fromisoformat(body["dispatched_at"])
    assert datetime.fromisoformat(body["due_at"]) - dispatched == timedelta(days=3)  # high: 3 days
    ent = await api.headers("enterprise", CEMENT)
    r = await api.client.post(f"/api/v1/alerts/{alert}/answers", headers=ent,
                              json={"kind": "explanation", "text": "滤袋更换"})
    assert r.status_code == 201, r.text
    assert (await api.client.get(f"/api/v1/alerts/{alert}/answers", headers=headers)).status_code == 200
    assert (await _act(api, headers, alert, "confirm", reason="power data reviewed")).status_code == 200
    r = await _act(api, headers, alert, "close", disposition="case_filed", reason="case 2026-17")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["disposition"]) == ("closed", "case_filed")

    trail = (await api.client.get(f"/api/v1/alerts/{alert}/audit", headers=headers)).json()["items"]
    steps = [(e["kind"], e["action"], e["from_status"], e["to_status"]) for e in trail]
    assert steps == [
        ("transition", "acknowledge", "open", "acknowledged"),
        ("transition", "dispatch", "acknowledged", "dispatched"),
        ("answer", None, None, None),
        ("answers_read", None, None, None),
        ("transition", "confirm", "dispatched", "confirmed"),
        ("transition", "close", "confirmed", "closed"),
    ]
    officers = [e for e in trail if e["kind"] != "answer"]
    assert {(e["actor"]["token_id"], e["actor"]["role"], e["actor"]["label"]) for e in officers} == {
        (token_id, "officer", "Zhang Wei")}
    assert [e["actor"]["role"] for e in trail if e["kind"] == "answer"] == ["enterprise"]
    assert [e["reason"] for e in officers] == ["screened", None, None, "power data reviewed", "case 2026-17"]
    assert trail[-1]["disposition"] == "case_filed"
    assert all(datetime.fromisoformat(e["at"]).utcoffset() == timedelta(hours=8) for e in trail)


async def test_illegal_transition_is_409_with_allowed_actions(api: ApiEnv) -> None:
    """Confirming an open alert is refused with its status and the actions it allows."""
    alert = await api.insert_alert()
    headers, _ = await _officer(api)
    r = await _act(api, headers, alert, "confirm")
    assert r.status_code == 409
    body = r.json()
    assert body["error"] == "illegal_transition"
    assert (body["status"], body["allowed"]) == ("open", ["acknowledge", "dismiss"])
    assert "cannot confirm" in body["detail"]
    rows = await api.execute("SELECT status FROM alerts WHERE id = %s", (alert,))
    assert rows == [("open",)]


async def test_final_statuses_allow_nothing(api: ApiEnv) -> None:
    """A closed alert refuses every action (409, allowed empty); a superseded one too."""
    alert = await api.insert_alert()
    headers, _ = await _officer(api)
    await _act(api, headers, alert, "dismiss", reason="sensor swapped that day")
    await _act(api, headers, alert, "close", disposition="false_alarm", reason="meter swap")
    for action in ("acknowledge", "close"):
        r = await _act(api, headers, alert, action, disposition="false_alarm", reason="x")
        assert r.status_code == 409 and r.json()["allowed"] == []
    superseded = await api.insert_alert()
    await api.execute("UPDATE alerts SET status = 'superseded' WHERE id = %s", (superseded,))
    r = await _act(api, headers, superseded, "acknowledge")
    assert r.status_code == 409 and r.json()["status"] == "superseded"


@pytest.mark.parametrize(("setup", "body", "field"), [
    ([], {"action": "dismiss"}, "body.reason"),
    ([("dismiss", {"reason": "r"})], {"action": "close"}, "body.disposition"),
    ([("dismiss", {"reason": "r"})], {"action": "close", "disposition": "case_filed"},
     "body.disposition"),
    ([("dismiss", {"reason": "r"})], {"action": "close", "disposition": "false_alarm"},
     "body.reason"),
    ([], {"action": "acknowledge", "disposition": "case_filed"}, "body.disposition"),
])
async def test_missing_reason_or_unfit_disposition_is_422(
        api: ApiEnv, setup: list[tuple[str, dict[str, str]]], body: dict[str, str],
        field: str) -> None:
    """Dismissals and false alarms need a reason; close needs a disposition fitting the decision."""
    alert = await api.insert_alert()
    headers, _ = await _officer(api)
    for action, extra in setup:
        assert (await _act(api, headers, alert, action, **extra)).status_code == 200
    r = await api.client.post(f"/api/v1/alerts/{alert}/transitions", headers=headers, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["fields"][0]["path"] == field


async def test_confirm_hook_runs_inside_the_transaction(api: ApiEnv) -> None:
    """on_confirmed sees the confirmed status on its connection while other connections do not yet."""
    seen: list[tuple[int, str, str, str, str | None]] = []

    async def hook(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor, *,
                   disposition: str | None = None) -> None:
        cur = await conn.execute("SELECT status FROM alerts WHERE id = %s", (alert_id,))
        inside = (await cur.fetchone() or ("?",))[0]
        outside = (await api.execute("SELECT status FROM alerts WHERE id = %s", (alert_id,)))[0][0]
        seen.append((alert_id, actor.role, inside, outside, disposition))

    alert = await api.insert_alert()
    headers, _ = await _officer(api)
    async with _client_with(api, on_confirmed=hook) as client:
        for action in ("acknowledge", "dispatch", "confirm"):
            if action == "confirm":
                await _deadline_passed(api, alert)
            r = await client.post(f"/api/v1/alerts/{alert}/transitions", headers=headers,
                                  json={"action": action})
            assert r.status_code == 200, r.text
    assert seen == [(alert, "officer", "confirmed", "dispatched", None)]


async def test_failing_confirm_hook_rolls_the_confirmation_back(api: ApiEnv) -> None:
    """When on_confirmed raises, the alert stays dispatched and no confirm event is kept."""

    async def hook(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor, *,
                   disposition: str | None = None) -> None:
        raise RuntimeError("ledger unavailable")

    alert = await api.insert_alert()
    headers, _ = await _officer(api)
    async with _client_with(api, on_confirmed=hook) as client:
        for action in ("acknowledge", "dispatch"):
            await client.post(f"/api/v1/alerts/{alert}/transitions", headers=headers,
                              json={"action": action})
        await _deadline_passed(api, alert)
        with pytest.raises(RuntimeError, match="ledger unavailable"):
            await client.post(f"/api/v1/alerts/{alert}/transitions", headers=headers,
                              json={"action": "confirm"})
    assert await api.execute("SELECT status FROM alerts WHERE id = %s", (alert,)) == [("dispatched",)]
    kinds = await api.execute("SELECT action FROM alert_events WHERE alert_id = %s ORDER BY id",
                              (alert,))
    assert kinds == [("acknowledge",), ("dispatch",)]


async def test_answer_deadline_follows_severity_and_rule_overrides(api: ApiEnv) -> None:
    """Dispatch sets due_at from the per-severity days, a per-rule override winning."""
    params = WorkflowParams(answer_deadline_days={"high": 3, "medium": 14},
                            answer_deadline_days_by_rule={"data_gap": 7})
    headers, _ = await _officer(api)
    high = await api.insert_alert()
    gap = await api.insert_alert(rule="data_gap")
    medium = await api.insert_alert()
    await api.execute("UPDATE alerts SET severity = 'medium' WHERE id = %s", (medium,))
    async with _client_with(api, workflow=params) as client:
        due = {}
        for alert in (high, gap, medium):
            for action in ("acknowledge", "dispatch"):
                r = await client.post(f"/api/v1/alerts/{alert}/transitions", headers=headers,
                                      json={"action": action})
            body = r.json()
            due[alert] = (datetime.fromisoformat(body["due_at"])
                          - datetime.fromisoformat(body["dispatched_at"])).days
    assert due == {high: 3, gap: 7, medium: 14}


async def test_comments_internal_and_public(api: ApiEnv) -> None:
    """Officers see every comment in the trail; the enterprise only the public ones, without officer identity."""
    alert = await api.insert_alert()
    headers, token_id = await _officer(api)
    r = await api.client.post(f"/api/v1/alerts/{alert}/comments", headers=headers,
                              json={"text": "check the SCR logbook"})
    assert r.status_code == 201 and r.json()["by"]["token_id"] == token_id
    r = await api.client.post(f"/api/v1/alerts/{alert}/comments", headers=headers,
                              json={"text": "请提供运维记录", "public": True})
    assert r.status_code == 201
    officer_view = (await api.client.get(f"/api/v1/alerts/{alert}/audit", headers=headers)).json()
    assert [e["data"]["text"] for e in officer_view["items"]] == ["check the SCR logbook",
                                                                   "请提供运维记录"]
    ent = await api.headers("enterprise", CEMENT)
    ent_view = (await api.client.get(f"/api/v1/alerts/{alert}/audit", headers=ent)).json()
    assert [e["data"]["text"] for e in ent_view["items"]] == ["请提供运维记录"]
    assert ent_view["items"][0]["actor"] == {"token_id": None, "role": "officer", "label": ""}
    detail = (await api.client.get(f"/api/v1/alerts/{alert}", headers=ent)).json()["workflow"]
    assert [c["text"] for c in detail["comments"]] == ["请提供运维记录"]
    assert "assignee" not in detail and "escalation_level" not in detail


async def test_assign_to_live_officer_token_only(api: ApiEnv) -> None:
    """Assignment names a live officer/admin token; others are 422; null releases; each is audited."""
    alert = await api.insert_alert()
    headers, _ = await _officer(api, "Li Na")
    _, other_id = await _officer(api, "Wang Qiang")
    r = await api.client.post(f"/api/v1/alerts/{alert}/assign", headers=headers,
                              json={"assignee_token_id": other_id, "reason": "her district"})
    assert r.status_code == 200, r.text
    assert r.json()["assignee"] == {"token_id": other_id, "label": "Wang Qiang"}
    ent_token = await api.token("enterprise", CEMENT)
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        ent_principal = await lookup_token(conn, ent_token)
    assert ent_principal is not None
    for bad in (ent_principal.token_id, 999_999):
        r = await api.client.post(f"/api/v1/alerts/{alert}/assign", headers=headers,
                                  json={"assignee_token_id": bad})
        assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.assignee_token_id"
    r = await api.client.post(f"/api/v1/alerts/{alert}/assign", headers=headers,
                              json={"assignee_token_id": None})
    assert r.status_code == 200 and r.json()["assignee"] is None
    events = await api.execute(
        "SELECT kind, reason, data FROM alert_events WHERE alert_id = %s ORDER BY id", (alert,))
    assert [(k, reason) for k, reason, _ in events] == [("assign", "her district"), ("assign", None)]
    assert events[0][2]["to"] == {"token_id": other_id, "label": "Wang Qiang"}
    assert events[1][2] == {"from": {"token_id": other_id, "label": "Wang Qiang"}, "to": None}


async def test_audit_trail_is_append_only(api: ApiEnv) -> None:
    """UPDATE, DELETE and TRUNCATE of alert_events are refused by the database."""
    alert = await api.insert_alert()
    headers, _ = await _officer(api)
    await _act(api, headers, alert, "acknowledge")
    for statement in ("UPDATE alert_events SET reason = 'rewritten'", "DELETE FROM alert_events",
                      "TRUNCATE alert_events"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            await api.execute(statement)
    assert len(await api.execute("SELECT 1 FROM alert_events")) == 1


async def test_unknown_alert_is_404_for_every_workflow_endpoint(api: ApiEnv) -> None:
    """Acting on an alert id that does not exist answers 404 not_found."""
    headers, _ = await _officer(api)
    for path, body in (("transitions", {"action": "acknowledge"}), ("comments", {"text": "x"}),
                       ("assign", {"assignee_token_id": None})):
        r = await api.client.post(f"/api/v1/alerts/424242/{path}", headers=headers, json=body)
        assert r.status_code == 404 and r.json()["error"] == "not_found", path
    assert (await api.client.get("/api/v1/alerts/424242/audit", headers=headers)).status_code == 404
    r = await api.client.post("/api/v1/queue/424242/claim", headers=headers)
    assert r.status_code == 404


async def test_concurrent_decisions_one_wins_the_other_is_told(api: ApiEnv) -> None:
    """Confirm and dismiss sent at once on a dispatched alert: one applies, the other is 409 from the new status."""
    alert = await api.insert_alert()
    (h1, _), (h2, _) = await _officer(api, "One"), await _officer(api, "Two")
    for action in ("acknowledge", "dispatch"):
        await _act(api, h1, alert, action)
    await _deadline_passed(api, alert)
    r1, r2 = await asyncio.gather(_act(api, h1, alert, "confirm"),
                                  _act(api, h2, alert, "dismiss", reason="explained"))
    assert sorted((r1.status_code, r2.status_code)) == [200, 409], (r1.text, r2.text)
    loser = r1 if r1.status_code == 409 else r2
    final = (await api.execute("SELECT status FROM alerts WHERE id = %s", (alert,)))[0][0]
    assert loser.json()["status"] == final and final in ("confirmed", "dismissed")
    assert loser.json()["allowed"] == ["close"]
    decisions = await api.execute("SELECT action FROM alert_events WHERE alert_id = %s"
                                  " AND action IN ('confirm', 'dismiss')", (alert,))
    assert len(decisions) == 1
