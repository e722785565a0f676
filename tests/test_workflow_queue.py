"""The officers' queue: risk score, credit levels, filters, paging, atomic claims, labels."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from test_api_support import CEMENT, COKING, GLASS, T0, ApiEnv

from ecowarn.alerts import (
    Actor,
    AlreadyClaimed,
    QueueFilter,
    claim,
    credit_level_of,
    queue_page,
    risk_score,
)
from ecowarn.store.tokens import create_token, lookup_token

pytest_plugins = ("test_api_support",)

NOW = T0 + timedelta(hours=10)


async def _officer(api: ApiEnv, label: str) -> tuple[dict[str, str], int]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role="officer", label=label)
        principal = await lookup_token(conn, token)
    assert principal is not None
    return {"Authorization": f"Bearer {token}"}, principal.token_id


async def _severity(api: ApiEnv, alert: int, severity: str) -> None:
    await api.execute("UPDATE alerts SET severity = %s WHERE id = %s", (severity, alert))


def test_risk_score_follows_the_documented_formula() -> None:
    """Severity, log-duration, capped repetition and credit points add up as docs/enforcement.md says."""
    assert risk_score("high", 1.0, 0, None).parts() == {
        "severity": 40.0, "duration": 5.0, "repetition": 0.0, "credit": 10.0}
    assert risk_score("high", 1.0, 0, None).total == 55.0
    assert risk_score("medium", 3.0, 2, "E").total == 25 + 10 + 10 + 20
    assert risk_score("low", 0.0, 0, "A").total == 10.0
    capped = risk_score("high", 10_000.0, 50, "E")
    assert (capped.duration, capped.repetition, capped.total) == (20.0, 20.0, 100.0)
    assert risk_score("high", 0.5, 0, "B").duration == pytest.approx(2.92, abs=0.01)


async def test_credit_level_none_without_ledger_else_from_view(api: ApiEnv) -> None:
    """credit_level_of is None without credit_ledger; with it, the view's level, and A when unlisted."""
    await api.execute("DROP VIEW IF EXISTS credit_scores")
    await api.execute("DROP TABLE IF EXISTS credit_ledger CASCADE")
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        assert await credit_level_of(conn, CEMENT) is None
        await conn.execute("CREATE TABLE credit_ledger (enterprise_id text, points int)")
        assert await credit_level_of(conn, CEMENT) is None  # no view yet
        await conn.execute(
            "CREATE VIEW credit_scores AS SELECT enterprise_id, 100 + sum(points) AS score,"
            " CASE WHEN 100 + sum(points) >= 85 THEN 'A' ELSE 'D' END AS level"
            " FROM credit_ledger GROUP BY enterprise_id")
        await conn.execute("INSERT INTO credit_ledger VALUES (%s, -60)", (COKING,))
        assert await credit_level_of(conn, COKING) == "D"
        assert await credit_level_of(conn, CEMENT) == "A"


async def test_queue_orders_by_score_and_explains_it(api: ApiEnv) -> None:
    """A high, long, repeated alert outranks a short medium one; each item carries its score parts."""
    short = await api.insert_alert(start=NOW - timedelta(minutes=30), end=NOW)
    await _severity(api, short, "medium")
    long_ = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",),
                                   start=NOW - timedelta(hours=7), end=None)
    earlier = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",),
                                     start=NOW - timedelta(days=30), end=NOW - timedelta(days=30))
    await api.execute("UPDATE alerts SET status = 'closed', disposition = 'case_filed'"
                      " WHERE id = %s", (earlier,))
    headers, _ = await _officer(api, "Zhang")
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        rows, last = await queue_page(conn, QueueFilter(), as_of=NOW, limit=10)
    assert last is None
    assert [r["id"] for r in rows] == [long_, short]
    top = rows[0]
    assert top["earlier"] == 1  # the closed case 30 days ago counts
    assert top["score"].parts() == {"severity": 40.0, "duration": 15.0, "repetition": 5.0,
                                    "credit": 0.0}  # credit ledger present, no entries: A
    r = await api.client.get("/api/v1/queue", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"][0]["id"] == long_
    assert body["items"][0]["enterprise_name"] and body["items"][0]["region"] == "130182"
    assert set(body["items"][0]["score_parts"]) == {"severity", "duration", "repetition", "credit"}


async def test_false_alarms_and_superseded_do_not_count_as_repetition(api: ApiEnv) -> None:
    """Only real earlier alerts of the same enterprise and rule in 90 days raise the repetition part."""
    current = await api.insert_alert(start=NOW - timedelta(hours=1), end=NOW)
    for days, status, disposition in ((10, "closed", "false_alarm"), (20, "superseded", None),
                                      (120, "closed", "case_filed"), (40, "closed", "case_filed")):
        other = await api.insert_alert(start=NOW - timedelta(days=days),
                                       end=NOW - timedelta(days=days))
        await api.execute("UPDATE alerts SET status = %s, disposition = %s WHERE id = %s",
                          (status, disposition, other))
    await api.insert_alert(rule="data_gap", start=NOW - timedelta(days=5))  # other rule
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        rows, _ = await queue_page(conn, QueueFilter(rule="treatment_off"), as_of=NOW, limit=10)
    assert [(r["id"], r["earlier"]) for r in rows] == [(current, 1)]


async def test_queue_filters(api: ApiEnv) -> None:
    """region (prefix), rule, status and assignee=me|none|id narrow the queue; closed items are left out."""
    cement = await api.insert_alert()
    coking = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",))
    glass = await api.insert_alert(enterprise_id=GLASS, rule="data_gap", device_ids=("PWR-GLASS-1",))
    closed = await api.insert_alert()
    await api.execute("UPDATE alerts SET status = 'closed', disposition = 'false_alarm'"
                      " WHERE id = %s", (closed,))
    headers, me = await _officer(api, "Zhang")
    await api.client.post(f"/api/v1/queue/{coking}/claim", headers=headers)

    async def ids(**params: str) -> set[int]:
        r = await api.client.get("/api/v1/queue", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    assert await ids() == {cement, coking, glass}
    assert await ids(region="130105") == {cement}
    assert await ids(region="1301") == {cement, coking}
    assert await ids(region="99") == set()
    assert await ids(rule="data_gap") == {glass}
    assert await ids(status="acknowledged") == {coking}  # claiming acknowledged it
    assert await ids(status="closed") == {closed}
    assert await ids(assignee="me") == {coking}
    assert await ids(assignee=str(me)) == {coking}
    assert await ids(assignee="none") == {cement, glass}
    assert await ids(enterprise_id=GLASS, region="1301") == set()
    for bad in ({"status": "pending"}, {"assignee": "someone"}, {"region": "13a"}):
        r = await api.client.get("/api/v1/queue", headers=headers, params=bad)
        assert r.status_code == 422, bad


async def test_queue_pages_neither_skip_nor_repeat(api: ApiEnv) -> None:
    """Paging with next_cursor walks every active alert once, in score order, even as time passes."""
    created = []
    for i in range(7):
        created.append(await api.insert_alert(start=T0 + timedelta(minutes=i), end=None))
    headers, _ = await _officer(api, "Zhang")
    seen: list[int] = []
    scores: list[float] = []
    cursor = None
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        body = (await api.client.get("/api/v1/queue", headers=headers, params=params)).json()
        seen += [i["id"] for i in body["items"]]
        scores += [i["score"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        await asyncio.sleep(0.01)
    assert sorted(seen) == sorted(created) and len(seen) == len(set(seen))
    assert scores == sorted(scores, reverse=True)
    r = await api.client.get("/api/v1/queue", headers=headers, params={"cursor": "bm9wZQ"})
    assert r.status_code == 422


async def test_claim_is_atomic_across_two_connections(api: ApiEnv) -> None:
    """A second claim waits for the first's transaction and then fails with AlreadyClaimed."""
    alert = await api.insert_alert()
    _, first = await _officer(api, "First")
    _, second = await _officer(api, "Second")
    async with await psycopg.AsyncConnection.connect(api.dsn) as c1, \
            await psycopg.AsyncConnection.connect(api.dsn) as c2:
        await c1.execute("SELECT 1")  # an open transaction: claim() works in a savepoint of it
        await claim(c1, alert, Actor(first, "officer", "First"))
        racer = asyncio.create_task(claim(c2, alert, Actor(second, "officer", "Second")))
        done, _ = await asyncio.wait({racer}, timeout=0.5)
        assert not done, "the second claim must wait for the first transaction"
        await c1.commit()
        with pytest.raises(AlreadyClaimed) as info:
            await racer
        assert (info.value.assignee_token, info.value.assignee_label) == (first, "First")
        await c2.rollback()
    rows = await api.execute("SELECT assignee_token, status FROM alerts WHERE id = %s", (alert,))
    assert rows == [(first, "acknowledged")]


async def test_concurrent_claims_over_http_one_wins(api: ApiEnv) -> None:
    """Two officers claiming the same item at once: one 200, one 409 already_claimed naming the winner."""
    alert = await api.insert_alert()
    (h1, t1), (h2, t2) = await _officer(api, "One"), await _officer(api, "Two")
    r1, r2 = await asyncio.gather(api.client.post(f"/api/v1/queue/{alert}/claim", headers=h1),
                                  api.client.post(f"/api/v1/queue/{alert}/claim", headers=h2))
    codes = sorted((r1.status_code, r2.status_code))
    assert codes == [200, 409], (r1.text, r2.text)
    winner = r1 if r1.status_code == 200 else r2
    loser = r2 if winner is r1 else r1
    assert loser.json()["error"] == "already_claimed"
    assert loser.json()["assignee"]["token_id"] == winner.json()["assignee"]["token_id"]
    assert winner.json()["assignee"]["token_id"] in (t1, t2)
    again = await api.client.post(f"/api/v1/queue/{alert}/claim",
                                  headers=h1 if winner is r1 else h2)
    assert again.status_code == 200  # claiming what you hold is a no-op
    events = await api.execute("SELECT kind, action FROM alert_events WHERE alert_id = %s"
                               " ORDER BY id", (alert,))
    assert events == [("claim", None), ("transition", "acknowledge")]


async def test_overdue_items_are_flagged(api: ApiEnv) -> None:
    """An item whose answer deadline passed is overdue in the queue."""
    alert = await api.insert_alert()
    await api.execute("UPDATE alerts SET status = 'dispatched', dispatched_at = %s, due_at = %s"
                      " WHERE id = %s", (NOW - timedelta(days=4), NOW - timedelta(days=1), alert))
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        rows, _ = await queue_page(conn, QueueFilter(), as_of=NOW, limit=5)
        assert rows[0]["overdue"] is True
        rows, _ = await queue_page(conn, QueueFilter(), as_of=NOW - timedelta(days=2), limit=5)
        assert rows[0]["overdue"] is False


async def test_false_alarm_reasons_become_labels(api: ApiEnv) -> None:
    """Closed alerts are listed with their disposition and reason; disposition filters them."""
    headers, _ = await _officer(api, "Zhang")
    fa = await api.insert_alert()
    filed = await api.insert_alert()
    await api.insert_alert()  # still open: not a label
    steps = {fa: [{"action": "dismiss", "reason": "meter replaced"},
                  {"action": "close", "disposition": "false_alarm", "reason": "CT ratio wrong"}],
             filed: [{"action": "acknowledge"}, {"action": "dispatch"}, {"action": "confirm"},
                     {"action": "close", "disposition": "case_filed"}]}
    for alert, bodies in steps.items():
        for body in bodies:
            if body["action"] == "confirm":  # no answer and the deadline passed: heard
                await api.execute("UPDATE alerts SET due_at = now() - interval '1 minute'"
                                  " WHERE id = %s", (alert,))
            r = await api.client.post(f"/api/v1/alerts/{alert}/transitions", headers=headers,
                                      json=body)
            assert r.status_code == 200, r.text
    r = await api.client.get("/api/v1/labels", headers=headers)
    assert [(i["alert_id"], i["label"]) for i in r.json()["items"]] == [
        (filed, "case_filed"), (fa, "false_alarm")]
    r = await api.client.get("/api/v1/labels", headers=headers,
                             params={"disposition": "false_alarm"})
    item = r.json()["items"][0]
    assert (item["alert_id"], item["reason"], item["rule"]) == (fa, "CT ratio wrong", "treatment_off")
    assert item["params"] == {"min_duration_min": 10}
    page = (await api.client.get("/api/v1/labels", headers=headers, params={"limit": 1})).json()
    nxt = await api.client.get("/api/v1/labels", headers=headers,
                               params={"limit": 1, "cursor": page["next_cursor"]})
    assert [i["alert_id"] for i in nxt.json()["items"]] == [fa]


async def test_queue_as_of_defaults_to_now(api: ApiEnv) -> None:
    """Without a cursor the queue is computed at the current time and says so."""
    headers, _ = await _officer(api, "Zhang")
    before = datetime.now(UTC)
    body = (await api.client.get("/api/v1/queue", headers=headers)).json()
    as_of = datetime.fromisoformat(body["as_of"])
    assert before <= as_of <= datetime.now(UTC) and as_of.utcoffset() == timedelta(hours=8)
