"""Supervision by credit level and positive list (CONTRACT section 9): periods, the plan of
routine inspections, reproducible weighted draws (双随机, 远程执法抽查), their CSV export and
scope, and the configuration file checked at start.

Sample registry: cement plant ``CEMENT`` in 130105, coking plant ``COKING`` in 130182 (both
city 1301), glass works ``GLASS`` in 130627 (city 1306).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_api_support import CEMENT, COKING, GLASS, T0, ApiEnv

from ecowarn.credit.chain import lock_chain, next_slot
from ecowarn.credit.ledger import append_entry
from ecowarn.credit.supervision import (
    Candidate,
    LevelRule,
    PeriodError,
    Standing,
    SupervisionConfigError,
    default_supervision_config,
    load_supervision_config,
    parse_period,
    parse_supervision_config,
    plan_item,
    rerun,
    select,
    supervision_plan,
    today_cst,
)
from ecowarn.credit.supervision.config import DEFAULT_SUPERVISION_PATH
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

ABSENT = 9_876_543
CONFIG = default_supervision_config()


async def _bearer(api: ApiEnv, role: str, *, region: str | None = None) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role=role, region=region, label=f"{role} {region or 'all'}")
    return {"Authorization": f"Bearer {token}"}


async def _deduct(api: ApiEnv, enterprise_id: str, points: int) -> None:
    """A credit ledger deduction written the way the ledger writes one (hash chain included)."""
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn, conn.transaction():
        await lock_chain(conn)
        await append_entry(conn, await next_slot(conn), enterprise_id=enterprise_id, entry_type="deduction",
                           points=-points, occurred_at=T0, reason="confirmed violation",
                           actor={"token_id": None, "role": "officer", "label": "officer"})


async def _list(api: ApiEnv, headers: dict[str, str], enterprise_id: str) -> int:
    today = today_cst()
    r = await api.client.post("/api/v1/positive-list", headers=headers, json={
        "enterprise_id": enterprise_id, "start": (today - timedelta(days=400)).isoformat(),
        "end": (today + timedelta(days=400)).isoformat(), "reason": "正面清单企业"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _world(api: ApiEnv) -> dict[str, str]:
    """Cement plant at level D (score 40), coking plant at A on the positive list, glass works
    at A; an unlimited officer's headers."""
    officer = await api.headers("officer")
    await _deduct(api, CEMENT, 60)
    await _list(api, officer, COKING)
    return officer


# --- periods ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, label, start, end", [
    ("2026-12", "2026-12", date(2026, 12, 1), date(2026, 12, 31)),
    ("2028-02", "2028-02", date(2028, 2, 1), date(2028, 2, 29)),
    ("2026-Q4", "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
    (" 2027-q1 ", "2027-Q1", date(2027, 1, 1), date(2027, 3, 31)),
    ("2026", "2026", date(2026, 1, 1), date(2026, 12, 31)),
])
def test_periods_are_months_quarters_or_years(text: str, label: str, start: date, end: date) -> None:
    """A month, a quarter and a year parse to their first and last day and a canonical label."""
    period = parse_period(text)
    assert (period.label, period.start, period.end) == (label, start, end)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-Q5", "Q4-2026", "2026-12-01", "26", "1999",
                                  "2100-01", "2026/12", "", "december"])
def test_anything_else_is_not_a_period(text: str) -> None:
    """Other forms, and years outside 2000..2099, are refused with the accepted forms named."""
    with pytest.raises(PeriodError, match=r"2026-12.*2026-Q4.*2026"):
        parse_period(text)


def test_reference_day_is_today_while_the_period_runs() -> None:
    """Listing status is read today during the period, else on its first (coming) or last
    (past) day."""
    period = parse_period("2026-Q4")
    assert period.reference_date(date(2026, 11, 15)) == date(2026, 11, 15)
    assert period.reference_date(date(2026, 7, 1)) == date(2026, 10, 1)
    assert period.reference_date(date(2027, 3, 1)) == date(2026, 12, 31)


# --- the plan rules -----------------------------------------------------------------------

@pytest.mark.parametrize("level, per_year", [("A", 1), ("B", 2), ("C", 4), ("D", 12), ("E", 12)])
def test_plan_frequency_per_level(level: str, per_year: int) -> None:
    """Each level's routine on-site inspections: the year counts its per_year, each quarter and
    each month counts the windows that close in it, and the months add up to the year."""
    year = plan_item("x", Standing(100, level), [], parse_period("2026"), CONFIG)
    assert (year.onsite_per_year, year.inspections, year.exempt, year.basis) == (per_year, per_year, False, "level")
    months = [plan_item("x", Standing(100, level), [], parse_period(f"2026-{m:02d}"), CONFIG).inspections
              for m in range(1, 13)]
    quarters = [plan_item("x", Standing(100, level), [], parse_period(f"2026-Q{q}"), CONFIG).inspections
                for q in range(1, 5)]
    assert sum(months) == sum(quarters) == per_year
    assert months == [1 if m % (12 // per_year) == 0 else 0 for m in range(1, 13)]
    december = plan_item("x", Standing(100, level), [], parse_period("2026-12"), CONFIG)
    assert [(w.start, w.end) for w in december.windows] == [
        (date(2026, 13 - 12 // per_year, 1), date(2026, 12, 31))]


def test_a_listed_firm_is_exempt_from_routine_onsite_inspection() -> None:
    """On a positive list, a level-C firm's four inspections a year become off-site checks
    (default), or none (skip), or stay (keep); its remote weight is the level's times the
    factor; it is left out of on-site draws (weight 0), or weighted by the factor with
    ``onsite_draws: weighted``."""
    year = parse_period("2026")
    listed = plan_item("x", Standing(60, "C"), ["positive"], year, CONFIG)
    assert (listed.inspections, listed.remote_inspections, listed.exempt, listed.basis) == (
        0, 4, True, "positive_list_remote")
    assert (listed.listed, listed.lists, listed.remote_weight, listed.onsite_weight) == (
        True, ("positive",), 1.5, 0.0)
    weighted = plan_item("x", Standing(60, "C"), ["positive"], year,
                         dataclasses.replace(CONFIG, onsite_draws="weighted"))
    assert (weighted.remote_weight, weighted.onsite_weight, weighted.inspections) == (1.5, 0.75, 0)
    skip = plan_item("x", Standing(60, "C"), ["positive"], year, dataclasses.replace(CONFIG, routine_onsite="skip"))
    assert (skip.inspections, skip.remote_inspections, skip.exempt) == (0, 0, True)
    keep = plan_item("x", Standing(60, "C"), ["positive"], year, dataclasses.replace(CONFIG, routine_onsite="keep"))
    assert (keep.inspections, keep.remote_inspections, keep.exempt) == (4, 0, False)
    unlisted = plan_item("x", Standing(60, "C"), [], year, CONFIG)
    assert (unlisted.remote_weight, unlisted.onsite_weight) == (3.0, 3.0)


def test_an_exempt_level_and_an_unknown_level() -> None:
    """A level with no routine inspection is exempt; a level the file does not list follows
    ``unknown_level`` (E: monthly)."""
    starred = dataclasses.replace(CONFIG, levels={**CONFIG.levels, "5": dataclasses.replace(
        CONFIG.levels["A"], onsite_per_year=0)})
    five = plan_item("x", Standing(100, "5"), [], parse_period("2026"), starred)
    assert (five.inspections, five.exempt, five.basis, five.windows) == (0, True, "level_exempt", ())
    odd = plan_item("x", Standing(100, "Z"), [], parse_period("2026-Q1"), CONFIG)
    assert (odd.inspections, odd.remote_weight) == (3, 8.0)


# --- sampling -----------------------------------------------------------------------------

def test_selection_is_a_function_of_candidates_count_and_seed() -> None:
    """The same candidates and seed give the same picks whatever order they come in; a count
    larger than the candidates selects all of positive weight; weight 0 is never drawn."""
    pool = [Candidate(f"E{i:03d}", w) for i, w in enumerate([1, 2, 3, 5, 8, 0.5, 0.25, 1, 2, 3] * 5)]
    first = select(pool, 7, 2026)
    assert first == select(list(reversed(pool)), 7, 2026) and len(set(first)) == 7
    assert select(pool, 7, 2027) != first
    assert sorted(select(pool, 500, 1)) == sorted(c.enterprise_id for c in pool)
    assert select([Candidate("a", 0), Candidate("b", 1)], 2, 5) == ["b"]
    assert select(pool, 3, 2026) == first[:3]
    # Pinned: a release that changed these picks would break the re-running of stored draws.
    assert select([Candidate("A", 1), Candidate("B", 2), Candidate("C", 3)], 3, 42) == ["C", "A", "B"]


def test_single_picks_follow_the_normalised_weights() -> None:
    """Over 40,000 seeds, a one-enterprise draw picks each candidate with the frequency of its
    weight share, within 4.5 standard deviations: the level weights (A 1 .. E 8) and listed
    firms at the list factor."""
    pool = [Candidate(f"{level}{'-listed' if listed else ''}", CONFIG.weight("remote", level, listed))
            for level in "ABCDE" for listed in (False, True)]
    total = sum(c.weight for c in pool)
    runs = 40_000
    seen = Counter(select(pool, 1, seed)[0] for seed in range(runs))
    for c in pool:
        p = c.weight / total
        sigma = math.sqrt(runs * p * (1 - p))
        assert abs(seen[c.enterprise_id] - runs * p) < 4.5 * sigma, (c, seen[c.enterprise_id], runs * p)
    assert seen["E"] > seen["D"] > seen["C"] > seen["B"] > seen["A"] > seen["A-listed"]


# --- the configuration --------------------------------------------------------------------

GOOD = DEFAULT_SUPERVISION_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize("old, new, where", [
    ("  D: {onsite_per_year: 12, remote_weight: 5, onsite_weight: 5}   # monthly\n", "", r":\d+: levels: levels D"),
    ("onsite_per_year: 4,", "onsite_per_year: 5,", r":21: levels\.C\.onsite_per_year: .*whole windows"),
    ("remote_weight: 8,", "remote_weight: 0,", r":23: levels\.E\.remote_weight: "),
    ("unknown_level: E", "unknown_level: Z", r":34: unknown_level: 'Z' is not one of the levels"),
    ("  default: positive", "  default: black", r":42: positive_list\.default: 'black'"),
    ("remote_weight_factor: 0.5", "remote_weight_factor: 1.5", r":55: positive_list\.remote_weight_factor: "),
    ("routine_onsite: remote", "routine_onsite: sometimes", r":48: positive_list\.routine_onsite: "),
    ("    enforcement: {zh: 监督执法正面清单", "    Enforcement: {zh: 正面清单",
     r":41: positive_list\.lists\.Enforcement: "),
    ("levels:\n", "levels: [\n", r":\d+: not valid YAML"),
])
def test_a_bad_file_is_refused_naming_file_line_and_key(old: str, new: str, where: str) -> None:
    """Each problem is reported as file:line: key: problem."""
    assert old in GOOD
    with pytest.raises(SupervisionConfigError) as info:
        parse_supervision_config(GOOD.replace(old, new), "sup.yaml")
    assert any(re.match(r"sup\.yaml" + where, p) for p in info.value.problems), info.value.problems


def test_the_shipped_file_loads_and_a_missing_one_is_named(tmp_path: Path) -> None:
    """The packaged file holds the documented defaults (Hebei levels and Daxing's stars); an
    unreadable path is an error naming it."""
    assert {k: v.onsite_per_year for k, v in CONFIG.levels.items()} == {
        "A": 1, "B": 2, "C": 4, "D": 12, "E": 12, "5-star": 0, "4-star": 1, "3-star": 2, "2-star": 4, "1-star": 12}
    assert {k: v.remote_weight for k, v in CONFIG.levels.items()} == {
        "A": 1, "B": 2, "C": 3, "D": 5, "E": 8, "5-star": 1, "4-star": 1, "3-star": 2, "2-star": 3, "1-star": 5}
    assert (CONFIG.remote_weight_factor, CONFIG.onsite_weight_factor, CONFIG.routine_onsite, CONFIG.onsite_draws) == (
        0.5, 0.25, "remote", "exclude")
    with pytest.raises(SupervisionConfigError, match=str(tmp_path / "none.yaml")):
        load_supervision_config(tmp_path / "none.yaml")


# --- the API ------------------------------------------------------------------------------

async def test_the_plan_lists_level_list_status_and_inspections_due(api: ApiEnv) -> None:
    """GET /supervision/plan: per enterprise of the region its level, list status, the routine
    on-site inspections due in the period, the off-site checks replacing them and why; CSV too."""
    officer = await _world(api)
    r = await api.client.get("/api/v1/supervision/plan", headers=officer, params={"region": "13", "period": "2026"})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert (plan["region"], plan["period"], plan["start"], plan["end"]) == ("13", "2026", "2026-01-01", "2026-12-31")
    items = {i["enterprise_id"]: i for i in plan["items"]}
    assert list(items) == sorted([CEMENT, COKING, GLASS])
    want = {CEMENT: (40, "D", False, 12, 0, False, "level"),
            COKING: (100, "A", True, 0, 1, True, "positive_list_remote"),
            GLASS: (100, "A", False, 1, 0, False, "level")}
    assert {k: (i["score"], i["level"], i["positive_list"], i["inspections"], i["remote_inspections"],
                i["exempt"], i["basis"]) for k, i in items.items()} == want
    assert items[COKING]["lists"] == ["positive"] and "正面清单" in items[COKING]["reason_zh"]
    assert items[CEMENT]["reason_zh"] == "信用等级 D：每年例行现场检查 12 次"
    assert plan["totals"] == {"enterprises": 3, "inspections": 13, "remote_inspections": 1, "exempt": 1,
                              "listed": 1, "on_complaint": 0}

    month = await api.client.get("/api/v1/supervision/plan", headers=officer,
                                 params={"region": "1301", "period": "2026-11"})
    assert {i["enterprise_id"]: i["inspections"] for i in month.json()["items"]} == {CEMENT: 1, COKING: 0}
    as_csv = await api.client.get("/api/v1/supervision/plan", headers={**officer, "Accept": "text/csv"},
                                  params={"region": "13", "period": "2026-Q4"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["enterprise_id"], r["level"], r["positive_list"], r["inspections"]) for r in rows] == [
        (CEMENT, "D", "false", "3"), (COKING, "A", "true", "0"), (GLASS, "A", "false", "1")]


async def test_a_draw_is_weighted_by_level_and_list_and_reproducible(api: ApiEnv) -> None:
    """POST /supervision/draws returns {id, seed, selected, weights}: weights from level (D 5,
    A 1) and list (x0.5 remote; left out of on-site draws, weight 0); the same inputs and seed select the same
    enterprises; GET returns the draw as made; it re-runs from its stored row to the same
    selection; a count above the candidates selects all; a draw without seed gets one."""
    officer = await _world(api)
    body = {"region": "13", "period": "2026-12", "kind": "remote", "count": 2, "seed": 20261207}
    first = await api.client.post("/api/v1/supervision/draws", headers=officer, json=body)
    assert first.status_code == 201, first.text
    draw = first.json()
    assert draw["weights"] == {CEMENT: 5.0, COKING: 0.5, GLASS: 1.0}
    assert draw["seed"] == 20261207 and len(draw["selected"]) == 2 and draw["seed_given"] is True
    again = await api.client.post("/api/v1/supervision/draws", headers=officer, json=body)
    assert again.json()["selected"] == draw["selected"] and again.json()["id"] != draw["id"]
    fetched = await api.client.get(f"/api/v1/supervision/draws/{draw['id']}", headers=officer)
    assert fetched.status_code == 200 and fetched.json() == draw

    rows = await api.execute("SELECT to_jsonb(d) FROM supervision_draws d WHERE id = %s", (draw["id"],))
    stored: dict[str, Any] = rows[0][0]
    assert rerun(stored) == draw["selected"] == stored["selected"]
    verified = await api.client.post(f"/api/v1/supervision/draws/{draw['id']}/verify", headers=officer)
    assert verified.json() | {"rerun": None} == {"id": draw["id"], "seed": 20261207, "count": 2,
                                                 "algorithm": draw["algorithm"], "selected": draw["selected"],
                                                 "rerun": None, "matches": True}
    assert verified.json()["rerun"] == draw["selected"]

    onsite = await api.client.post("/api/v1/supervision/draws", headers=officer,
                                   json={**body, "kind": "onsite", "count": 10})
    assert onsite.json()["weights"] == {CEMENT: 5.0, COKING: 0.0, GLASS: 1.0}
    assert sorted(onsite.json()["selected"]) == sorted([CEMENT, GLASS])
    assert {c["enterprise_id"]: c["basis"] for c in onsite.json()["candidates"]} == {
        CEMENT: "level", COKING: "positive_list", GLASS: "level"}

    unseeded = await api.client.post("/api/v1/supervision/draws", headers=officer,
                                     json={k: v for k, v in body.items() if k != "seed"})
    seed = unseeded.json()["seed"]
    assert unseeded.json()["seed_given"] is False and 0 <= seed < 2**53
    replay = await api.client.post("/api/v1/supervision/draws", headers=officer, json={**body, "seed": seed})
    assert replay.json()["selected"] == unseeded.json()["selected"]

    listed = await api.client.get("/api/v1/supervision/draws", headers=officer,
                                  params={"region": "1301", "period": "2026-12"})
    assert listed.status_code == 200 and listed.json()["items"] == []
    listed = await api.client.get("/api/v1/supervision/draws", headers=officer,
                                  params={"region": "13", "period": "2026-12", "kind": "onsite"})
    assert [d["id"] for d in listed.json()["items"]] == [onsite.json()["id"]]
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        await api.execute("UPDATE supervision_draws SET seed = 1")


async def test_a_draw_exports_as_csv_with_the_weights_drawn_with(api: ApiEnv) -> None:
    """GET /supervision/draws/{id} with Accept: text/csv: one row per candidate in id order with
    enterprise id, name, region, level, listed, weight (as in ``weights``) and selected."""
    officer = await _world(api)
    draw = (await api.client.post("/api/v1/supervision/draws", headers=officer, json={
        "region": "13", "period": "2026-Q4", "kind": "onsite", "count": 1, "seed": 7})).json()
    r = await api.client.get(f"/api/v1/supervision/draws/{draw['id']}", headers={**officer, "Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-draw-seed"] == "7"
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:7] == ["enterprise_id", "name", "region", "level", "listed", "weight", "selected"]
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(b["enterprise_id"], b["name"], b["region"], b["level"], b["listed"]) for b in body] == [
        (CEMENT, "石家庄某某水泥有限公司", "130105", "D", "false"),
        (COKING, "石家庄某某焦化有限公司", "130182", "A", "true"),
        (GLASS, "唐县某某玻璃制品有限公司", "130627", "A", "false")]
    assert {b["enterprise_id"]: b["weight"] for b in body} == {k: str(v) for k, v in draw["weights"].items()}
    assert [b["enterprise_id"] for b in body if b["selected"] == "true"] == draw["selected"]
    assert (await api.client.get(f"/api/v1/supervision/draws/{draw['id']}", headers=officer,
                                 params={"format": "csv"})).text == r.text


async def test_a_region_limited_officer_plans_and_draws_only_in_its_region(api: ApiEnv) -> None:
    """A 1306 officer: a plan or draw of 1301 (or of the whole province) is 404; its own draw
    holds only its region's enterprises; a 1301 draw is to it exactly an absent id, on GET and
    verify, and absent from its list of draws."""
    officer = await _world(api)
    glass_officer = await _bearer(api, "officer", region="1306")
    for region in ("1301", "13", "130105"):
        plan = await api.client.get("/api/v1/supervision/plan", headers=glass_officer,
                                    params={"region": region, "period": "2026-12"})
        draw = await api.client.post("/api/v1/supervision/draws", headers=glass_officer, json={
            "region": region, "period": "2026-12", "kind": "remote", "count": 1})
        assert plan.status_code == draw.status_code == 404, (region, plan.text, draw.text)
    own = await api.client.post("/api/v1/supervision/draws", headers=glass_officer, json={
        "period": "2026-12", "kind": "onsite", "count": 5, "seed": 3})
    assert own.status_code == 201 and own.json()["region"] == "1306"
    assert own.json()["weights"] == {GLASS: 1.0} and own.json()["selected"] == [GLASS]
    plan = await api.client.get("/api/v1/supervision/plan", headers=glass_officer, params={"period": "2026"})
    assert [i["enterprise_id"] for i in plan.json()["items"]] == [GLASS]

    foreign = (await api.client.post("/api/v1/supervision/draws", headers=officer, json={
        "region": "1301", "period": "2026-12", "kind": "remote", "count": 1})).json()
    digits = re.compile(r"\d+")
    for method, suffix in (("GET", ""), ("POST", "/verify")):
        theirs = await api.client.request(method, f"/api/v1/supervision/draws/{foreign['id']}{suffix}",
                                          headers=glass_officer)
        absent = await api.client.request(method, f"/api/v1/supervision/draws/{ABSENT}{suffix}",
                                          headers=glass_officer)
        assert theirs.status_code == absent.status_code == 404
        assert digits.sub("N", theirs.text) == digits.sub("N", absent.text)
    mine = await api.client.get("/api/v1/supervision/draws", headers=glass_officer)
    assert [d["id"] for d in mine.json()["items"]] == [own.json()["id"]]
    assert (await api.client.get("/api/v1/supervision/draws", headers=glass_officer,
                                 params={"region": "1301"})).json()["items"] == []
    everyone = await api.client.get("/api/v1/supervision/draws", headers=officer)
    assert [d["id"] for d in everyone.json()["items"]] == [foreign["id"], own.json()["id"]]


async def test_another_level_scheme_can_drive_the_plan(api: ApiEnv) -> None:
    """Given ``level_of`` (the level scheme the credit API reports, e.g. stars), the plan takes
    each score's level in that scheme and the file's rule for it; without it, the view's A-E."""
    await _deduct(api, CEMENT, 30)
    stars = dataclasses.replace(CONFIG, levels={**CONFIG.levels, "5": LevelRule(0, 1, 0.5), "3": LevelRule(4, 3, 3)})
    plants = [api.ctx.registry.enterprises[CEMENT], api.ctx.registry.enterprises[GLASS]]
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        _, starred = await supervision_plan(conn, stars, plants, parse_period("2026"), date(2026, 12, 7),
                                            level_of=lambda score: "5" if score >= 90 else "3")
        _, lettered = await supervision_plan(conn, stars, plants, parse_period("2026"), date(2026, 12, 7))
    assert [(i.enterprise_id, i.score, i.level, i.inspections, i.exempt) for i in starred] == [
        (CEMENT, 70, "3", 4, False), (GLASS, 100, "5", 0, True)]
    assert [(i.level, i.inspections) for i in lettered] == [("B", 2), ("A", 1)]


async def test_bad_periods_and_roles_are_refused(api: ApiEnv) -> None:
    """A period that is no month, quarter or year is 422 naming query.period or body.period;
    enterprise and credit tokens may neither plan nor draw (403)."""
    officer = await api.headers("officer")
    plan = await api.client.get("/api/v1/supervision/plan", headers=officer, params={"period": "Q4-2026"})
    assert plan.status_code == 422 and plan.json()["fields"][0]["path"] == "query.period"
    assert "detail_zh" in plan.json()
    draw = await api.client.post("/api/v1/supervision/draws", headers=officer,
                                 json={"period": "2026-13", "kind": "remote", "count": 1})
    assert draw.status_code == 422 and draw.json()["fields"][0]["path"] == "body.period"
    for body in ({"period": "2026", "kind": "random", "count": 1}, {"period": "2026", "kind": "remote", "count": 0},
                 {"period": "2026", "kind": "remote", "count": 1, "seed": -1}):
        assert (await api.client.post("/api/v1/supervision/draws", headers=officer, json=body)).status_code == 422
    for role in ("credit", "enterprise"):
        async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
            token = await create_token(conn, role=role, enterprise_id=CEMENT if role == "enterprise" else None)
        headers = {"Authorization": f"Bearer {token}"}
        assert (await api.client.get("/api/v1/supervision/plan", headers=headers,
                                     params={"period": "2026"})).status_code == 403
        assert (await api.client.post("/api/v1/supervision/draws", headers=headers, json={
            "period": "2026", "kind": "remote", "count": 1})).status_code == 403
    assert (await api.execute("SELECT count(*) FROM supervision_draws"))[0][0] == 0
