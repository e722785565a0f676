"""An external credit platform rebuilds every score and level from the credit feed alone.

The feed (``GET /api/v1/credit/events``) carries every ledger entry: deductions, zero-point
first offences, repairs, reversals and evaluations (whose points reset the base). Summing
each enterprise's points in feed order, 100 + sum clamped to 0..100 read on Hebei's bands,
must give exactly what ``GET /api/v1/credit/scores`` reports, entry by entry (``score_after``,
``level_after``), and the level changes the enterprise page lists.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import psycopg
from test_api_support import CEMENT, COKING, GLASS, T0, ApiEnv

from ecowarn.credit import CreditService, ledger, load_credit_params, verify_chain

pytest_plugins = ("test_api_support",)

ACTOR = {"token_id": None, "role": "officer", "label": "Officer Li"}
# Hebei (2024), as published: lower bound of each level.
BANDS = (("A", 85), ("B", 70), ("C", 50), ("D", 30), ("E", 0))
DEVICES = {CEMENT: ("PWR-KILN-1", "PWR-BAG-1"), COKING: ("PWR-COKE-1",), GLASS: ("PWR-FURN-1",)}


def level(score: int) -> str:
    return next(name for name, low in BANDS if score >= low)


class Plant:
    """Confirms alerts of one enterprise through the credit service the service uses."""

    def __init__(self, api: ApiEnv, enterprise_id: str) -> None:
        self.api = api
        self.enterprise_id = enterprise_id
        self.service = CreditService(api.ctx.registry, load_credit_params())
        self.n = 0

    async def confirm(self, rule: str = "treatment_off", *, first_offence: bool = False) -> dict[str, Any]:
        self.n += 1
        start = T0 + timedelta(hours=self.n)
        alert = await self.api.insert_alert(rule=rule, enterprise_id=self.enterprise_id,
                                            device_ids=DEVICES[self.enterprise_id], start=start,
                                            end=start + timedelta(minutes=30))
        async with await psycopg.AsyncConnection.connect(self.api.dsn, autocommit=True) as conn:
            await self.service.on_alert_confirmed(
                conn, alert, ACTOR, disposition="first_offence_no_penalty" if first_offence else None)
            entry = await ledger.active_confirmation(conn, alert)
        assert entry is not None
        return entry

    async def repair(self, entry: dict[str, Any]) -> None:
        async with await psycopg.AsyncConnection.connect(self.api.dsn, autocommit=True) as conn:
            await ledger.repair(conn, int(entry["id"]), actor=ACTOR, reason="整改到位",
                                now=datetime.now(T0.tzinfo) + timedelta(days=400))

    async def evaluate(self, kind: str, items: list[dict[str, Any]], catalog: str = "hebei_initial") -> dict[str, Any]:
        r = await self.api.client.post("/api/v1/credit/evaluations", headers=await self.api.headers("officer"),
                                       json={"enterprise_id": self.enterprise_id, "kind": kind,
                                             "catalog": catalog, "items": items})
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def reverse(self, entry_id: int) -> None:
        r = await self.api.client.post(f"/api/v1/credit/entries/{entry_id}/reversal",
                                       headers=await self.api.headers("officer"), json={"reason": "录入有误"})
        assert r.status_code == 201, r.text


async def history_of_every_kind(api: ApiEnv) -> dict[str, dict[str, Any]]:
    """Ledger histories with deductions, first offences, repairs, reversals and evaluations,
    including scores pushed below 0 and evaluations that reset them; returns the evaluations."""
    cement, coking, glass = Plant(api, CEMENT), Plant(api, COKING), Plant(api, GLASS)
    evaluations = {}
    # Cement: deductions, a first offence, an initial evaluation, a repair of a deduction made
    # before it, a reversal, a periodic evaluation, a deduction after it.
    d1 = await cement.confirm()                                 # -10
    d2 = await cement.confirm()                                 # -15 (repeat)
    await cement.confirm("data_gap", first_offence=True)        # 0
    evaluations["cement_initial"] = await cement.evaluate("initial", [
        {"item": "emission_standard", "points": -7, "note": "超标"},
        {"item": "penalties", "points": -6, "note": "处罚"}])   # 87
    await cement.repair(d1)                                     # +10 -> 97
    await cement.reverse(int(d2["id"]))                         # +15 -> 100 (112 raw)
    await cement.confirm("flatline")                            # -20
    evaluations["cement_periodic"] = await cement.evaluate("periodic", [
        {"item": "data_genuine", "points": -5, "note": "恒值"}])  # 95
    await cement.confirm("bypass_suspected")                    # -20 -> 75
    # Coking: far below zero, then an evaluation resets it; a deduction; then that evaluation
    # is reversed (the raw sum takes over again) and a green-credit evaluation follows.
    for rule in ("flatline", "flatline", "flatline", "o2_dilution"):
        await coking.confirm(rule)                              # -20 -30 -40 -20 = -110 -> 0
    evaluations["coking_initial"] = await coking.evaluate("initial", [
        {"item": "data_genuine", "points": -5, "note": "历史恒值"},
        {"item": "penalties", "points": -6, "note": "处罚"}])   # 89
    await coking.confirm("data_gap")                            # -2 -> 87
    await coking.reverse(int(evaluations["coking_initial"]["entry_id"]))   # back to 0 (-112 raw)
    evaluations["coking_green"] = await coking.evaluate("periodic", [
        {"item": "ultra_low", "points": 3, "note": "超低排放"}], catalog="daxing_green")   # 63
    # Glass: zero-point entries only, then a deduction and its repair.
    await glass.confirm("treatment_underload", first_offence=True)
    d3 = await glass.confirm("treatment_underload")             # -5
    await glass.repair(d3)
    return evaluations


async def read_feed(api: ApiEnv, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every event, page by page (small pages, so paging is exercised)."""
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/api/v1/credit/events", params=params, headers=headers)).json()
        events += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return events


def rebuild(events: list[tuple[int, str, str, int]]) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """(id, enterprise, type, points) in feed order -> {enterprise: (score, level)} and, per
    event, "enterprise score level" right after it."""
    raw: dict[str, int] = {}
    after = []
    for _, enterprise, _, points in events:
        raw[enterprise] = raw.get(enterprise, 0) + points
        score = max(0, min(100, 100 + raw[enterprise]))
        after.append(f"{enterprise} {score} {level(score)}")
    scores = {e: (max(0, min(100, 100 + r)), level(max(0, min(100, 100 + r)))) for e, r in raw.items()}
    return scores, after


async def test_scores_rebuilt_from_the_feed_match_the_service(api: ApiEnv) -> None:
    """Summing the feed's points per enterprise (JSON pages, and the CSV export alike) gives
    every enterprise's score and level as /credit/scores reports them, and each event's
    score_after and level_after; every kind of entry is in the feed, and the hash chain
    holding the evaluations verifies."""
    await history_of_every_kind(api)
    credit = await api.headers("credit")
    events = await read_feed(api, credit)
    assert {e["type"] for e in events} == {"deduction", "first_offence", "repair", "reversal", "evaluation"}
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    rebuilt, after = rebuild([(e["id"], e["enterprise_id"], e["type"], e["points"]) for e in events])
    assert after == [f"{e['enterprise_id']} {e['score_after']} {e['level_after']}" for e in events]

    scores = (await api.client.get("/api/v1/credit/scores", headers=credit)).json()["items"]
    reported = {s["enterprise_id"]: (s["score"], s["level"]) for s in scores}
    assert reported == {CEMENT: (75, "B"), COKING: (63, "C"), GLASS: (100, "A")}
    assert rebuilt == reported

    exported = await api.client.get("/api/v1/credit/events", params={"format": "csv", "limit": 1000},
                                    headers=credit)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    from_csv, _ = rebuild([(int(r["id"]), r["enterprise_id"], r["type"], int(r["points"])) for r in rows])
    assert from_csv == reported
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        checked = await verify_chain(conn)
    assert checked.ok and checked.ledger == len(events), checked


async def test_latest_evaluation_plus_ledger_since_is_the_score(api: ApiEnv) -> None:
    """For every enterprise, the evaluation its page names (the newest one not reversed) plus
    the points of the feed's entries after it, clamped, is its score; a reversed evaluation
    no longer counts."""
    evaluations = await history_of_every_kind(api)
    credit = await api.headers("credit")
    events = await read_feed(api, credit)
    for enterprise, expected in ((CEMENT, "cement_periodic"), (COKING, "coking_green")):
        page = (await api.client.get(f"/api/v1/credit/enterprises/{enterprise}", headers=credit)).json()
        base = page["evaluation"]
        assert base["id"] == evaluations[expected]["id"] and base["reversed_by"] is None
        since = sum(e["points"] for e in events if e["enterprise_id"] == enterprise and e["id"] > base["entry_id"])
        assert page["score"] == max(0, min(100, base["score"] + since))
    reversed_one = (await api.client.get(f"/api/v1/credit/evaluations/{evaluations['coking_initial']['id']}",
                                         headers=credit)).json()
    assert reversed_one["reversed_by"] is not None
    glass = (await api.client.get(f"/api/v1/credit/enterprises/{GLASS}", headers=credit)).json()
    assert glass["evaluation"] is None and glass["score"] == 100


async def test_level_history_is_derivable_from_the_feed(api: ApiEnv) -> None:
    """The level history on the enterprise page (each entry that changed the level, and every
    evaluation, with its time and the score after it) is what the feed gives a consumer who
    follows level_after from A."""
    await history_of_every_kind(api)
    credit = await api.headers("credit")
    events = await read_feed(api, credit)
    for enterprise in (CEMENT, COKING, GLASS):
        derived, previous = [], "A"
        for e in (e for e in events if e["enterprise_id"] == enterprise):
            if e["level_after"] != previous or e["type"] == "evaluation":
                derived.append({"at": e["recorded_at"], "level": e["level_after"], "previous_level": previous,
                                "score": e["score_after"], "entry_id": e["id"], "entry_type": e["type"]})
            previous = e["level_after"]
        page = (await api.client.get(f"/api/v1/credit/enterprises/{enterprise}", headers=credit)).json()
        assert page["level_scheme"] == "hebei"
        assert page["level_history"] == derived, enterprise
    cement = (await api.client.get(f"/api/v1/credit/enterprises/{CEMENT}", headers=credit)).json()
    assert [(h["level"], h["entry_type"]) for h in cement["level_history"]] == [
        ("B", "deduction"), ("A", "evaluation"), ("A", "evaluation"), ("B", "deduction")]
