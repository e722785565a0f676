"""首违不罚 (CONTRACT section 9): a first offence with a verified rectification is confirmed
without penalty; a zero-point ``first_offence`` entry enters the hash chain and counts in
later repeat and first-offence checks."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from test_api_support import CEMENT, T0, ApiEnv

from ecowarn.alerts import WorkflowParams
from ecowarn.alerts.first_offence import judge_first_offence, shift_months
from ecowarn.api import create_app
from ecowarn.credit import CreditService, load_credit_params, verify_chain

pytest_plugins = ("test_api_support",)

FIRST = "first_offence_no_penalty"
_CHINESE = re.compile(r"[\u4e00-\u9fff]")


@dataclasses.dataclass
class Env:
    api: ApiEnv
    client: httpx.AsyncClient
    officer: dict[str, str]

    async def act(self, alert: int, action: str, **extra: Any) -> httpx.Response:
        return await self.client.post(f"/api/v1/alerts/{alert}/transitions", headers=self.officer,
                                      json={"action": action, **extra})

    async def heard_alert(self, *, rule: str = "treatment_off", start: datetime = T0,
                          verified: bool = True) -> int:
        """A dispatched alert whose enterprise was heard (deadline passed without an answer),
        with a verified rectification unless ``verified`` is false."""
        alert = await self.api.insert_alert(rule=rule, start=start, end=start + timedelta(hours=1))
        for action in ("acknowledge", "dispatch"):
            assert (await self.act(alert, action)).status_code == 200
        await self.api.execute("UPDATE alerts SET due_at = now() - interval '1 minute' WHERE id = %s",
                               (alert,))
        if verified:
            await rectification(self.api, alert, "verified")
        return alert

    async def ledger(self) -> list[tuple[Any, ...]]:
        return await self.api.execute(
            "SELECT alert_id, entry_type, points, repeat_count, ref_id FROM credit_ledger ORDER BY id")


async def rectification(api: ApiEnv, alert: int, status: str) -> None:
    """A rectification of the alert in ``status`` (rows as migration 0008 keeps them)."""
    decided = status in ("verified", "rejected")
    await api.execute(
        "INSERT INTO rectifications (alert_id, enterprise_id, rule, status, requirements, due_at,"
        " decided_at) SELECT id, enterprise_id, rule, %s, '更换破损滤袋并提交运行记录',"
        " now() + interval '10 days', CASE WHEN %s THEN now() END FROM alerts WHERE id = %s",
        (status, decided, alert))


@asynccontextmanager
async def _env(api: ApiEnv, **changes: Any) -> AsyncIterator[Env]:
    service = CreditService(api.ctx.registry, load_credit_params())
    ctx = dataclasses.replace(api.ctx, metrics_registry=type(api.ctx.metrics_registry)(),
                              on_confirmed=service.on_alert_confirmed, **changes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)),
                                 base_url="http://test") as client:
        yield Env(api, client, {"Authorization": f"Bearer {await api.token('officer')}"})


@pytest.fixture
async def env(api: ApiEnv) -> AsyncIterator[Env]:
    async with _env(api) as e:
        yield e


# --- pure parts -----------------------------------------------------------------------------


def test_months_shift_on_the_calendar() -> None:
    """Windows are calendar months; a day the target month lacks is clamped to its last day."""
    assert shift_months(datetime(2026, 11, 20, 8, 0), -12) == datetime(2025, 11, 20, 8, 0)
    assert shift_months(datetime(2026, 3, 31), -1) == datetime(2026, 2, 28)
    assert shift_months(datetime(2028, 3, 31), -1) == datetime(2028, 2, 29)
    assert shift_months(datetime(2026, 1, 15), -13) == datetime(2024, 12, 15)
    assert shift_months(datetime(2026, 12, 31), 2) == datetime(2027, 2, 28)


def test_verdict_lists_every_failed_check() -> None:
    """Each missing condition is named; all met is eligible."""
    params = WorkflowParams(first_offence_rules={"data_gap"})
    check = judge_first_offence("treatment_off", params=params, rectification_verified=False,
                                prior_entries=(4,))
    assert check.failed == ("rule_not_allowed", "no_verified_rectification", "prior_violation")
    assert not check.eligible
    check = judge_first_offence("data_gap", params=params, rectification_verified=True, prior_entries=())
    assert check.eligible and check.failed == ()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"first_offence_window_months": 0}, "first_offence_window_months"),
    ({"first_offence_window_months": 121}, "first_offence_window_months"),
    ({"first_offence_rules": "data_gap"}, "first_offence_rules"),
    ({"first_offence_rules": ["data_gap", " "]}, "first_offence_rules"),
])
def test_bad_first_offence_parameters_are_refused(kwargs: dict[str, Any], match: str) -> None:
    """A window outside 1..120 months or rules that are not a collection of ids are refused."""
    with pytest.raises(ValueError, match=match):
        WorkflowParams(**kwargs)


def test_first_offence_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ECOWARN_FIRST_OFFENCE_WINDOW_MONTHS and ECOWARN_FIRST_OFFENCE_RULES (JSON) are read and
    checked at boot, naming the key; unset, every rule allows it within 12 months."""
    from ecowarn.config.settings import SettingsError, load_settings

    monkeypatch.delenv("ECOWARN_FIRST_OFFENCE_RULES", raising=False)
    monkeypatch.delenv("ECOWARN_FIRST_OFFENCE_WINDOW_MONTHS", raising=False)
    settings = load_settings()
    assert (settings.first_offence_window_months, settings.first_offence_rules) == (12, None)
    assert WorkflowParams().first_offence_allowed("anything")
    monkeypatch.setenv("ECOWARN_FIRST_OFFENCE_RULES", '["data_gap", "treatment_underload"]')
    monkeypatch.setenv("ECOWARN_FIRST_OFFENCE_WINDOW_MONTHS", "24")
    settings = load_settings()
    params = WorkflowParams(first_offence_window_months=settings.first_offence_window_months,
                            first_offence_rules=settings.first_offence_rules)
    assert params.first_offence_allowed("data_gap") and not params.first_offence_allowed("treatment_off")
    assert params.first_offence_window_months == 24
    for key, value in (("FIRST_OFFENCE_WINDOW_MONTHS", "0"), ("FIRST_OFFENCE_RULES", '["a b"]')):
        monkeypatch.setenv(f"ECOWARN_{key}", value)
        with pytest.raises(SettingsError, match=f"ECOWARN_{key}"):
            load_settings()
        monkeypatch.delenv(f"ECOWARN_{key}")


# --- over HTTP ------------------------------------------------------------------------------


async def test_refused_without_a_verified_rectification(env: Env) -> None:
    """No rectification, or one ordered, submitted or rejected: 409 not_eligible naming
    no_verified_rectification, in both languages; the alert stays dispatched, no ledger entry."""
    alert = await env.heard_alert(verified=False)
    for status in (None, "rejected", "submitted"):
        if status is not None:
            await rectification(env.api, alert, status)
        r = await env.act(alert, "confirm", disposition=FIRST)
        assert r.status_code == 409, r.text
        body = r.json()
        assert (body["reason"], body["failed"], body["status"]) == (
            "not_eligible", ["no_verified_rectification"], "dispatched")
        assert "first offence" in body["detail"] and "整改" in body["detail_zh"]
    assert await env.api.execute("SELECT status, disposition FROM alerts WHERE id = %s", (alert,)) == [
        ("dispatched", None)]
    assert await env.ledger() == []


async def test_first_offence_confirms_without_deduction(env: Env) -> None:
    """Confirmed as a first offence: status confirmed with the disposition, the event records
    it, evidence is frozen, a zero-point first_offence entry (no ref_id) enters the chain,
    the score stays 100, and the entry shows in the credit history and the feed."""
    alert = await env.heard_alert()
    r = await env.act(alert, "confirm", disposition=FIRST, reason="首次违法且已按期整改")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["disposition"]) == ("confirmed", FIRST)
    assert r.json()["allowed_actions"] == ["close"]
    events = await env.api.execute("SELECT action, disposition, reason FROM alert_events"
                                   " WHERE alert_id = %s AND action = 'confirm'", (alert,))
    assert events == [("confirm", FIRST, "首次违法且已按期整改")]
    assert await env.ledger() == [(alert, "first_offence", 0, 0, None)]
    rows = await env.api.execute("SELECT l.evidence_id, e.alert_id, l.score_after, l.level_after"
                                 " FROM credit_ledger l JOIN evidence_packages e ON e.id = l.evidence_id")
    assert [r[1:] for r in rows] == [(alert, 100, "A")]

    credit = await env.api.headers("credit")
    standing = (await env.client.get(f"/api/v1/credit/enterprises/{CEMENT}", headers=credit)).json()
    assert (standing["score"], standing["level"]) == (100, "A")
    assert [(h["type"], h["points"], h["alert_id"]) for h in standing["history"]] == [
        ("first_offence", 0, alert)]
    own = await env.client.get(f"/api/v1/credit/enterprises/{CEMENT}",
                               headers=await env.api.headers("enterprise", CEMENT))
    assert [h["type"] for h in own.json()["history"]] == ["first_offence"]
    feed = (await env.client.get("/api/v1/credit/events", headers=credit)).json()["items"]
    assert [(e["type"], e["points"], e["alert_id"], e["ref_id"]) for e in feed] == [
        ("first_offence", 0, alert, None)]
    assert feed[0]["evidence_sha256"] is not None
    async with await psycopg.AsyncConnection.connect(env.api.dsn) as conn:
        result = await verify_chain(conn)
    assert result.ok and (result.evidence, result.ledger) == (1, 1)


async def test_second_offence_of_the_same_rule_within_the_window_is_refused(env: Env) -> None:
    """After a first offence of treatment_off, another treatment_off starting 3 months later is
    refused (prior_violation, naming the entry); a different rule still qualifies."""
    first = await env.heard_alert()
    assert (await env.act(first, "confirm", disposition=FIRST)).status_code == 200
    entry = (await env.api.execute("SELECT id FROM credit_ledger"))[0][0]
    second = await env.heard_alert(start=T0 + timedelta(days=90))
    r = await env.act(second, "confirm", disposition=FIRST)
    assert r.status_code == 409, r.text
    assert (r.json()["failed"], r.json()["prior_entries"], r.json()["window_months"]) == (
        ["prior_violation"], [entry], 12)
    assert f"entries {entry}" in r.json()["detail"] and "12个月" in r.json()["detail_zh"]
    other = await env.heard_alert(rule="emission_exceedance", start=T0 + timedelta(days=90))
    assert (await env.act(other, "confirm", disposition=FIRST)).status_code == 200
    assert [(a, t) for a, t, *_ in await env.ledger()] == [(first, "first_offence"), (other, "first_offence")]


async def test_a_deduction_in_the_window_also_stands_in_the_way(env: Env) -> None:
    """An earlier ordinary confirmation (deduction) of the same rule makes it no first offence."""
    earlier = await env.heard_alert(verified=False)
    assert (await env.act(earlier, "confirm")).status_code == 200
    later = await env.heard_alert(start=T0 + timedelta(days=200))
    r = await env.act(later, "confirm", disposition=FIRST)
    assert r.status_code == 409 and r.json()["failed"] == ["prior_violation"]


async def test_outside_the_window_it_is_a_first_offence_again(api: ApiEnv) -> None:
    """A violation 13 months after a first offence qualifies with the 12-month window, not
    with a 24-month one; confirming out of order cannot give two first offences in a window."""
    async with _env(api) as env:
        first = await env.heard_alert()
        assert (await env.act(first, "confirm", disposition=FIRST)).status_code == 200
        late = await env.heard_alert(start=T0 + timedelta(days=400))
        earlier = await env.heard_alert(start=T0 - timedelta(days=60))
        r = await env.act(earlier, "confirm", disposition=FIRST)
        assert r.status_code == 409 and r.json()["failed"] == ["prior_violation"]
    async with _env(api, workflow=WorkflowParams(first_offence_window_months=24)) as wide:
        r = await wide.act(late, "confirm", disposition=FIRST)
        assert r.status_code == 409 and r.json()["window_months"] == 24
    async with _env(api) as env:
        assert (await env.act(late, "confirm", disposition=FIRST)).status_code == 200


async def test_only_the_configured_rules_allow_it(api: ApiEnv) -> None:
    """With first_offence_rules = {data_gap}, treatment_off is refused (rule_not_allowed) and
    data_gap qualifies."""
    async with _env(api, workflow=WorkflowParams(first_offence_rules={"data_gap"})) as env:
        alert = await env.heard_alert()
        r = await env.act(alert, "confirm", disposition=FIRST)
        assert r.status_code == 409 and r.json()["failed"] == ["rule_not_allowed"]
        assert _CHINESE.search(r.json()["detail_zh"])
        gap = await env.heard_alert(rule="data_gap")
        assert (await env.act(gap, "confirm", disposition=FIRST)).status_code == 200


async def test_the_hearing_applies_to_a_first_offence_too(env: Env) -> None:
    """A first offence before the enterprise was heard is refused for the hearing."""
    alert = await env.api.insert_alert()
    for action in ("acknowledge", "dispatch"):
        await env.act(alert, action)
    await rectification(env.api, alert, "verified")
    r = await env.act(alert, "confirm", disposition=FIRST)
    assert r.status_code == 409 and r.json()["reason"] == "awaiting_answer"


async def test_later_ordinary_confirmation_counts_the_first_offence_as_a_repeat(env: Env) -> None:
    """A treatment_off confirmed after a first offence of it is the second violation: repeat
    count 1 and 15 points (credit.yaml treatment_off high: 10, 15, 20)."""
    first = await env.heard_alert()
    assert (await env.act(first, "confirm", disposition=FIRST)).status_code == 200
    second = await env.heard_alert(start=T0 + timedelta(days=30), verified=False)
    assert (await env.act(second, "confirm")).status_code == 200
    assert await env.ledger() == [(first, "first_offence", 0, 0, None), (second, "deduction", -15, 1, None)]


async def test_dispositions_of_confirm_and_of_closing_a_first_offence(env: Env) -> None:
    """confirm takes no other disposition (422) and other actions none; a first-offence
    alert closes as first_offence_no_penalty only; an ordinary one cannot close as one."""
    alert = await env.heard_alert()
    for action, disposition in (("confirm", "case_filed"), ("confirm", "rectification_ordered"),
                                ("dismiss", FIRST)):
        r = await env.act(alert, action, disposition=disposition, reason="x")
        assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.disposition", r.text
    assert (await env.act(alert, "confirm", disposition=FIRST)).status_code == 200
    r = await env.act(alert, "close", disposition="case_filed")
    assert r.status_code == 422 and "first_offence_no_penalty" in r.json()["detail"]
    r = await env.act(alert, "close", disposition=FIRST, reason="整改到位")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["disposition"], r.json()["disposition_reason"]) == (
        "closed", FIRST, "整改到位")
    labels = await env.client.get("/api/v1/labels", headers=env.officer, params={"disposition": FIRST})
    assert [i["alert_id"] for i in labels.json()["items"]] == [alert]

    ordinary = await env.heard_alert(rule="data_gap", verified=False)
    assert (await env.act(ordinary, "confirm")).status_code == 200
    r = await env.act(ordinary, "close", disposition=FIRST)
    assert r.status_code == 422 and "given with the confirmation" in r.json()["detail"]


async def test_a_reversed_first_offence_no_longer_counts(env: Env) -> None:
    """Reversing the first_offence entry (a mistake corrected) frees the rule again."""
    first = await env.heard_alert()
    assert (await env.act(first, "confirm", disposition=FIRST)).status_code == 200
    entry = (await env.api.execute("SELECT id FROM credit_ledger"))[0][0]
    r = await env.client.post(f"/api/v1/credit/entries/{entry}/reversal", headers=env.officer,
                              json={"reason": "confirmed in error"})
    assert r.status_code == 201 and r.json()["items"][0]["type"] == "reversal", r.text
    second = await env.heard_alert(start=T0 + timedelta(days=30))
    assert (await env.act(second, "confirm", disposition=FIRST)).status_code == 200


async def test_hearing_rectification_then_first_offence_through_the_api(env: Env) -> None:
    """The whole path over HTTP: dispatch, the enterprise answers and an officer reads it, a
    rectification is ordered, submitted and verified (the alert returns to dispatched), then
    the confirmation as a first offence goes through and the alert closes as one."""
    api, officer = env.api, env.officer
    ent = await api.headers("enterprise", CEMENT)
    alert = await api.insert_alert()
    for action in ("acknowledge", "dispatch"):
        assert (await env.act(alert, action)).status_code == 200
    r = await env.client.post(f"/api/v1/alerts/{alert}/answers", headers=ent,
                              json={"kind": "rectification_done", "text": "已更换滤袋"})
    assert r.status_code == 201, r.text
    r = await env.client.post(f"/api/v1/alerts/{alert}/rectification", headers=officer,
                              json={"due": (datetime.now(T0.tzinfo) + timedelta(days=7)).isoformat(),
                                    "requirements": "更换破损滤袋并提交运行记录"})
    assert r.status_code == 201, r.text
    rect = r.json()["id"]
    r = await env.client.post(f"/api/v1/rectifications/{rect}/submissions", headers=ent,
                              json={"text": "滤袋已更换，附运行记录", "attachments": ["doc:2026-201"]})
    assert r.status_code == 201, r.text
    r = await env.client.post(f"/api/v1/rectifications/{rect}/verify", headers=officer,
                              json={"reason": "现场核查到位"})
    assert r.status_code == 200, r.text
    r = await env.act(alert, "confirm", disposition=FIRST)
    assert r.status_code == 409 and r.json()["reason"] == "answer_unread"
    assert (await env.client.get(f"/api/v1/alerts/{alert}/answers", headers=officer)).status_code == 200
    r = await env.act(alert, "confirm", disposition=FIRST)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["disposition"]) == ("confirmed", FIRST)
    assert await env.ledger() == [(alert, "first_offence", 0, 0, None)]
    r = await env.act(alert, "close", disposition=FIRST)
    assert (r.status_code, r.json()["status"]) == (200, "closed")
