"""The right to be heard (CONTRACT section 9): no confirmation of a warned alert until the
enterprise answered and an officer read the answer, or the answer deadline passed."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import psycopg
import pytest
from test_api_support import CEMENT, ApiEnv

from ecowarn.alerts import HearingPending, WorkflowParams, assess, fetch_state, transition
from ecowarn.alerts.hearing import explain
from ecowarn.alerts.model import Actor
from ecowarn.api import create_app
from ecowarn.credit import CreditService, load_credit_params
from ecowarn.store.tokens import create_token, lookup_token

pytest_plugins = ("test_api_support",)

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=CST)
DUE = NOW + timedelta(days=3)
_CHINESE = re.compile(r"[\u4e00-\u9fff]")


# --- the decision itself (pure) -----------------------------------------------------------


def test_not_dispatched_is_not_heard() -> None:
    """Without an answer deadline (never dispatched) the enterprise has not been warned."""
    h = assess(None, [], NOW)
    assert (h.satisfied, h.reason, h.allowed_at) == (False, "not_warned", None)


def test_waiting_for_the_answer_until_the_deadline() -> None:
    """No answer before the deadline: not heard yet, allowed from the deadline on."""
    h = assess(DUE, [], NOW)
    assert (h.satisfied, h.reason, h.allowed_at, h.answers, h.unread) == (
        False, "awaiting_answer", DUE, 0, 0)
    assert assess(DUE, [], DUE - timedelta(seconds=1)).reason == "awaiting_answer"


def test_deadline_passed_without_answer_is_heard() -> None:
    """From the deadline on, an enterprise that did not answer has been heard."""
    for now in (DUE, DUE + timedelta(days=30)):
        h = assess(DUE, [], now)
        assert (h.satisfied, h.reason, h.allowed_at) == (True, "deadline_passed", None)


def test_unread_answer_blocks_before_and_after_the_deadline() -> None:
    """An answer no officer has read blocks confirmation at any time, with no date to wait for."""
    answered = NOW - timedelta(hours=1)
    for now in (NOW, DUE + timedelta(days=1)):
        h = assess(DUE, [(answered, None)], now)
        assert (h.satisfied, h.reason, h.allowed_at, h.answers, h.unread) == (
            False, "answer_unread", None, 1, 1)


def test_every_answer_must_be_read() -> None:
    """Two answers of which one was read: still not heard; both read: heard before the deadline."""
    first, second = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    read = NOW - timedelta(minutes=90)
    h = assess(DUE, [(first, read), (second, None)], NOW)
    assert (h.satisfied, h.reason, h.unread) == (False, "answer_unread", 1)
    h = assess(DUE, [(first, read), (second, NOW)], NOW)
    assert (h.satisfied, h.reason, h.answers, h.unread) == (True, "answers_read", 2, 0)


def test_the_clock_decides_what_has_happened_yet() -> None:
    """Answers given, and readings made, after ``now`` do not count at ``now``."""
    answered, read = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
    assert assess(DUE, [(answered, read)], NOW).reason == "awaiting_answer"
    assert assess(DUE, [(answered, read)], answered).reason == "answer_unread"
    assert assess(DUE, [(answered, read)], read).reason == "answers_read"


def test_reasons_are_worded_in_both_languages() -> None:
    """Each reason reads in English and Chinese, naming the deadline in China Standard Time."""
    for h in (assess(None, [], NOW), assess(DUE, [], NOW), assess(DUE, [(NOW, None)], NOW),
              assess(DUE, [(NOW, NOW)], NOW), assess(DUE, [], DUE)):
        assert explain(h, "en") and _CHINESE.search(explain(h, "zh")), h.reason
    waiting = assess(DUE.astimezone(UTC), [], NOW)
    assert "2026-12-04 10:00" in explain(waiting, "en") and "2026-12-04 10:00" in explain(waiting, "zh")


# --- over HTTP ------------------------------------------------------------------------------


@asynccontextmanager
async def _client(api: ApiEnv, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the credit service as its confirmation hook (and other changes)."""
    service = CreditService(api.ctx.registry, load_credit_params())
    ctx = dataclasses.replace(api.ctx, metrics_registry=type(api.ctx.metrics_registry)(),
                              on_confirmed=service.on_alert_confirmed, **changes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)),
                                 base_url="http://test") as client:
        yield client


async def _officer(api: ApiEnv) -> dict[str, str]:
    return {"Authorization": f"Bearer {await api.token('officer')}"}


async def _dispatched(api: ApiEnv, client: httpx.AsyncClient, officer: dict[str, str]) -> tuple[int, dict[str, Any]]:
    alert = await api.insert_alert()
    body: dict[str, Any] = {}
    for action in ("acknowledge", "dispatch"):
        r = await client.post(f"/api/v1/alerts/{alert}/transitions", headers=officer, json={"action": action})
        assert r.status_code == 200, r.text
        body = r.json()
    return alert, body


async def _confirm(client: httpx.AsyncClient, officer: dict[str, str], alert: int) -> httpx.Response:
    return await client.post(f"/api/v1/alerts/{alert}/transitions", headers=officer, json={"action": "confirm"})


async def _answer(api: ApiEnv, client: httpx.AsyncClient, alert: int, text: str = "滤袋更换，已报备") -> int:
    r = await client.post(f"/api/v1/alerts/{alert}/answers", headers=await api.headers("enterprise", CEMENT),
                          json={"kind": "explanation", "text": text})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _ledger(api: ApiEnv) -> list[tuple[Any, ...]]:
    return await api.execute("SELECT alert_id, entry_type, points FROM credit_ledger ORDER BY id")


async def test_confirm_before_any_answer_is_409_with_the_deadline(api: ApiEnv) -> None:
    """Right after dispatch, confirm is 409 awaiting_answer, in English and Chinese, with
    allowed_at = the answer deadline; nothing changes and nothing is deducted."""
    officer = await _officer(api)
    async with _client(api) as client:
        alert, dispatched = await _dispatched(api, client, officer)
        assert dispatched["hearing"]["reason"] == "awaiting_answer"
        assert dispatched["hearing"]["allowed_at"] == dispatched["due_at"]
        r = await _confirm(client, officer, alert)
    assert r.status_code == 409, r.text
    body = r.json()
    assert (body["error"], body["reason"], body["status"]) == ("conflict", "awaiting_answer", "dispatched")
    assert body["allowed_at"] == dispatched["due_at"]
    assert datetime.fromisoformat(body["allowed_at"]).utcoffset() == timedelta(hours=8)
    assert "right to be heard" in body["detail"] and _CHINESE.search(body["detail_zh"])
    assert "陈述" in body["detail_zh"]
    assert body["hearing"]["satisfied"] is False and body["hearing"]["answers"] == 0
    assert await api.execute("SELECT status, decided_at FROM alerts WHERE id = %s", (alert,)) == [
        ("dispatched", None)]
    assert await api.execute("SELECT count(*) FROM alert_events WHERE action = 'confirm'") == [(0,)]
    assert await _ledger(api) == []


async def test_answered_but_unread_is_409_until_an_officer_reads(api: ApiEnv) -> None:
    """An answer no officer has read: 409 answer_unread (no allowed_at); the enterprise reading
    its own answers changes nothing; an officer's GET of the answers allows confirmation, and
    the deduction is written then."""
    officer = await _officer(api)
    async with _client(api) as client:
        alert, _ = await _dispatched(api, client, officer)
        answer = await _answer(api, client, alert)
        r = await _confirm(client, officer, alert)
        assert r.status_code == 409, r.text
        body = r.json()
        assert (body["reason"], body["allowed_at"]) == ("answer_unread", None)
        assert (body["hearing"]["answers"], body["hearing"]["unread"]) == (1, 1)
        assert "1 of the enterprise's 1 answers" in body["detail"] and "1条" in body["detail_zh"]
        own = await client.get(f"/api/v1/alerts/{alert}/answers", headers=await api.headers("enterprise", CEMENT))
        assert own.status_code == 200 and own.json()["items"][0]["read_at"] is None
        assert (await _confirm(client, officer, alert)).json()["reason"] == "answer_unread"
        assert await _ledger(api) == []

        read = await client.get(f"/api/v1/alerts/{alert}/answers", headers=officer)
        assert read.status_code == 200 and read.json()["items"][0]["read_at"] is not None
        r = await _confirm(client, officer, alert)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"
    assert r.json()["hearing"] | {"as_of": None} == {
        "satisfied": True, "reason": "answers_read", "allowed_at": None, "due_at": r.json()["due_at"],
        "answers": 1, "unread": 0, "as_of": None}
    assert await _ledger(api) == [(alert, "deduction", -10)]
    events = await api.execute("SELECT kind, actor_role, data FROM alert_events WHERE alert_id = %s"
                               " AND kind = 'answers_read'", (alert,))
    assert events == [("answers_read", "officer", {"answer_ids": [answer]})]


async def test_reading_is_recorded_once(api: ApiEnv) -> None:
    """Reading the answers again records nothing more: one answers_read event per answer."""
    officer = await _officer(api)
    async with _client(api) as client:
        alert, _ = await _dispatched(api, client, officer)
        await _answer(api, client, alert)
        for _ in range(3):
            assert (await client.get(f"/api/v1/alerts/{alert}/answers", headers=officer)).status_code == 200
    rows = await api.execute("SELECT count(*) FROM alert_events WHERE alert_id = %s AND kind = 'answers_read'",
                             (alert,))
    assert rows == [(1,)]
    assert await api.execute("SELECT count(*) FROM alert_answers WHERE first_read_at IS NULL") == [(0,)]


async def test_a_new_answer_after_reading_blocks_again(api: ApiEnv) -> None:
    """An answer given after the officer read the earlier ones must be read too."""
    officer = await _officer(api)
    async with _client(api) as client:
        alert, _ = await _dispatched(api, client, officer)
        await _answer(api, client, alert)
        await client.get(f"/api/v1/alerts/{alert}/answers", headers=officer)
        await _answer(api, client, alert, "补充说明：附运维记录")
        r = await _confirm(client, officer, alert)
        assert r.status_code == 409 and r.json()["hearing"]["unread"] == 1
        await client.get(f"/api/v1/alerts/{alert}/answers", headers=officer)
        assert (await _confirm(client, officer, alert)).status_code == 200
    events = await api.execute("SELECT data FROM alert_events WHERE alert_id = %s AND kind = 'answers_read'"
                               " ORDER BY id", (alert,))
    assert [len(e[0]["answer_ids"]) for e in events] == [1, 1]


async def test_deadline_passed_without_answer_allows_confirmation(api: ApiEnv) -> None:
    """Once the answer deadline has passed with no answer, confirmation goes through."""
    officer = await _officer(api)
    async with _client(api) as client:
        alert, _ = await _dispatched(api, client, officer)
        await api.execute("UPDATE alerts SET due_at = now() - interval '1 second' WHERE id = %s", (alert,))
        r = await _confirm(client, officer, alert)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["hearing"]["reason"]) == ("confirmed", "deadline_passed")
    assert await _ledger(api) == [(alert, "deduction", -10)]


async def test_unread_answer_after_the_deadline_is_still_409(api: ApiEnv) -> None:
    """An answer nobody read still blocks after the deadline has passed."""
    officer = await _officer(api)
    async with _client(api) as client:
        alert, _ = await _dispatched(api, client, officer)
        await _answer(api, client, alert)
        await api.execute("UPDATE alerts SET due_at = now() - interval '1 day' WHERE id = %s", (alert,))
        r = await _confirm(client, officer, alert)
    assert r.status_code == 409, r.text
    assert (r.json()["reason"], r.json()["allowed_at"]) == ("answer_unread", None)
    assert await _ledger(api) == []


async def test_deadline_per_rule_sets_allowed_at(api: ApiEnv) -> None:
    """The deadline (configurable per severity and rule) is when confirmation becomes possible."""
    officer = await _officer(api)
    params = WorkflowParams(answer_deadline_days_by_rule={"treatment_off": 1})
    async with _client(api, workflow=params) as client:
        alert, body = await _dispatched(api, client, officer)
        r = await _confirm(client, officer, alert)
    allowed = datetime.fromisoformat(r.json()["allowed_at"])
    assert allowed - datetime.fromisoformat(body["dispatched_at"]) == timedelta(days=1)


async def test_enterprise_view_has_no_hearing_state(api: ApiEnv) -> None:
    """The hearing state is the officers' (the enterprise's alert detail leaves it out)."""
    officer = await _officer(api)
    async with _client(api) as client:
        alert, _ = await _dispatched(api, client, officer)
        ent = await client.get(f"/api/v1/alerts/{alert}", headers=await api.headers("enterprise", CEMENT))
    assert ent.status_code == 200 and "hearing" not in ent.json()["workflow"]


# --- the domain function, with the clock injected -------------------------------------------


async def test_transition_judges_the_hearing_at_the_injected_clock(api: ApiEnv) -> None:
    """transition(now=...) decides by that clock: a second before the deadline 409, at it 200."""
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        principal = await lookup_token(conn, await create_token(conn, role="officer", label="Officer Wu"))
        assert principal is not None
        officer = Actor(token_id=principal.token_id, role="officer", label="Officer Wu")
        alert = await api.insert_alert()
        for action in ("acknowledge", "dispatch"):
            await transition(conn, alert, action, officer)
        due = (await fetch_state(conn, alert)).due_at
        assert due is not None
        with pytest.raises(HearingPending) as refused:
            await transition(conn, alert, "confirm", officer, now=due - timedelta(seconds=1))
        assert refused.value.hearing.allowed_at == due
        assert refused.value.extra["reason"] == "awaiting_answer"
        state = await transition(conn, alert, "confirm", officer, now=due)
    assert state.status == "confirmed"
