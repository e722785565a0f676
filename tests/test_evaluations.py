"""Credit evaluations (CONTRACT section 9): catalogs and level schemes as configuration,
initial and periodic evaluations, score and level from the latest evaluation plus the
ledger since, the printable report, and who may see what.

Sample registry: cement plant ``CEMENT`` in 130105, coking plant ``COKING`` in 130182,
glass works ``GLASS`` in 130627.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from test_api_support import CEMENT, COKING, GLASS, T0, ApiEnv

from ecowarn.api import create_app
from ecowarn.credit import CreditService, ledger, load_credit_params
from ecowarn.credit.chain import lock_chain, next_slot
from ecowarn.credit.evaluation import (
    CatalogConfigError,
    CreditModel,
    ItemInput,
    check_evaluation,
    default_credit_model,
    load_credit_model,
)
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

ABSENT = 9_876_543
URL = "/api/v1/credit/evaluations"


# --- helpers -------------------------------------------------------------------------------


def deductions_for(model: CreditModel, catalog: str, points: int) -> list[dict[str, Any]]:
    """Deduction items of ``catalog`` adding up to ``-points``, largest first."""
    out, left = [], points
    for item in sorted(model.catalogs[catalog].ordered_items(), key=lambda i: -i.max_points):
        if left == 0:
            break
        if item.kind == "deduction":
            take = min(item.max_points, left)
            out.append({"item": item.id, "points": -take, "note": f"发现问题：{item.name.zh}"})
            left -= take
    assert left == 0
    return out


async def evaluate(api: ApiEnv, headers: dict[str, str], enterprise_id: str, score: int, *,
                   kind: str = "periodic", catalog: str = "hebei_initial") -> dict[str, Any]:
    """An evaluation of ``enterprise_id`` scoring ``score`` on a deduction catalog."""
    model = api.ctx.credit_model
    body = {"enterprise_id": enterprise_id, "kind": kind, "catalog": catalog,
            "items": deductions_for(model, catalog, model.catalogs[catalog].base - score)}
    r = await api.client.post(URL, json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["score"] == score
    return dict(r.json())


async def deduct(api: ApiEnv, enterprise_id: str, points: int) -> dict[str, Any]:
    """A deduction of ``points`` written the way every ledger writer does (chain lock, slot)."""
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        async with conn.transaction():
            await lock_chain(conn)
            slot = await next_slot(conn)
            return await ledger.append_entry(
                conn, slot, enterprise_id=enterprise_id, entry_type="deduction", points=-points,
                occurred_at=slot.now, reason="test deduction", actor={"role": "officer"})


async def standing(api: ApiEnv, headers: dict[str, str], enterprise_id: str) -> tuple[int, str]:
    r = await api.client.get(f"/api/v1/credit/enterprises/{enterprise_id}", headers=headers)
    assert r.status_code == 200, r.text
    scores = await api.client.get("/api/v1/credit/scores", headers=headers)
    listed = next(i for i in scores.json()["items"] if i["enterprise_id"] == enterprise_id)
    assert (listed["score"], listed["level"]) == (r.json()["score"], r.json()["level"])
    return r.json()["score"], r.json()["level"]


async def token(api: ApiEnv, role: str, *, region: str | None = None,
                enterprise_id: str | None = None) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        value = await create_token(conn, role=role, region=region, enterprise_id=enterprise_id,
                                   label=f"{role} {region or enterprise_id or 'all'}")
    return {"Authorization": f"Bearer {value}"}


# --- configuration ---------------------------------------------------------------------------


def test_packaged_catalogs_and_schemes() -> None:
    """The Hebei-style initial catalog has 12 categories and 37 deduction items whose maxima add
    up to 100; the Daxing-style green catalog 5 categories and 30 items, compliance by
    deduction and the rest by bonus (60 + 40); Hebei's A-E bands are the active scheme."""
    model = default_credit_model()
    hebei = model.catalogs["hebei_initial"]
    assert (len(hebei.categories), len(hebei.items), hebei.base) == (12, 37, 100)
    assert {i.kind for i in hebei.items.values()} == {"deduction"}
    assert sum(i.max_points for i in hebei.items.values()) == 100
    assert any(i.source == "published" for i in hebei.items.values())
    green = model.catalogs["daxing_green"]
    assert (len(green.categories), len(green.items), green.base) == (5, 30, 60)
    assert {c.id: {green.items[i].kind for i in c.items} for c in green.categories} == {
        "compliance": {"deduction"}, "reduction": {"bonus"}, "low_carbon": {"bonus"},
        "management": {"bonus"}, "contribution": {"bonus"}}
    assert sum(i.max_points for i in green.items.values() if i.kind == "deduction") == 60
    assert sum(i.max_points for i in green.items.values() if i.kind == "bonus") == 40
    assert model.active == "hebei"
    assert [(lv.id, low, high) for lv, low, high in model.scheme.bands()] == [
        ("A", 85, 100), ("B", 70, 84), ("C", 50, 69), ("D", 30, 49), ("E", 0, 29)]
    stars = model.schemes["daxing_stars"]
    assert [stars.level_for(s) for s in (100, 90, 89, 60, 59, 0)] == [
        "5-star", "5-star", "4-star", "2-star", "1-star", "1-star"]


GOOD_SCHEMES = Path(__file__).resolve().parent.parent / "src/ecowarn/config/credit_levels.yaml"


def test_catalog_structure_errors_name_file_and_line(tmp_path: Path) -> None:
    """A catalog that does not fit the schema is refused at load with every problem as
    file:line: path: message."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad_catalog\n"                            # 1
        "name: {zh: 坏, en: bad}\n"                    # 2
        "scheme: hebei\n"                              # 3
        "base: 100\n"                                  # 4
        "categories:\n"                                # 5
        "  - id: one\n"                                # 6
        "    name: {zh: 一, en: one}\n"                # 7
        "    items:\n"                                 # 8
        "      - id: a\n"                              # 9
        "        name: {zh: 甲, en: a}\n"              # 10
        "        kind: deduction\n"                    # 11
        "        max_points: 0\n"                      # 12
        "        source: placeholder\n"                # 13
        "      - id: b\n"                              # 14
        "        name: {zh: 乙, en: b}\n"              # 15
        "        kind: penalty\n"                      # 16
        "        max_points: 3\n"                      # 17
        "        source: placeholder\n", encoding="utf-8")
    with pytest.raises(CatalogConfigError) as err:
        load_credit_model([bad], GOOD_SCHEMES)
    problems = err.value.problems
    assert any(p.startswith(f"{bad}:12: categories[0].items[0].max_points:") for p in problems), problems
    assert any(p.startswith(f"{bad}:16: categories[0].items[1].kind:") for p in problems), problems
    assert len(problems) == 2


def test_catalog_cross_checks_name_file_and_line(tmp_path: Path) -> None:
    """Well-formed files are cross-checked: unknown scheme, duplicate category and item ids
    (naming the first), a published item without its basis, a catalog id defined twice, bad
    YAML; all reported together."""
    one = tmp_path / "one.yaml"
    one.write_text(
        "id: one\n"                                                                       # 1
        "name: {zh: 一, en: one}\n"                                                       # 2
        "scheme: nowhere\n"                                                               # 3
        "base: 100\n"                                                                     # 4
        "categories:\n"                                                                   # 5
        "  - id: cat\n"                                                                   # 6
        "    name: {zh: 类, en: cat}\n"                                                   # 7
        "    items:\n"                                                                    # 8
        "      - {id: a, name: {zh: 甲, en: a}, kind: bonus, max_points: 2, source: published}\n"    # 9
        "      - {id: a, name: {zh: 乙, en: b}, kind: bonus, max_points: 2, source: placeholder}\n"  # 10
        "  - id: cat\n"                                                                   # 11
        "    name: {zh: 类, en: cat}\n"                                                   # 12
        "    items:\n"                                                                    # 13
        "      - {id: Bad-Id, name: {zh: 丙, en: c}, kind: deduction, max_points: 2, source: placeholder}\n",
        encoding="utf-8")
    dup = tmp_path / "dup.yaml"
    dup.write_text("id: hebei_initial\nname: {zh: 重, en: dup}\nscheme: hebei\nbase: 100\ncategories:\n"
                   "  - id: c\n    name: {zh: 类, en: c}\n    items:\n"
                   "      - {id: x, name: {zh: 甲, en: x}, kind: deduction, max_points: 1, source: placeholder}\n",
                   encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\nname: {zh: 坏\n", encoding="utf-8")
    packaged = Path(GOOD_SCHEMES.parent / "credit_catalog_hebei_initial.yaml")
    with pytest.raises(CatalogConfigError) as err:
        load_credit_model([packaged, one, dup, broken], GOOD_SCHEMES)
    problems = err.value.problems
    expected = [
        f"{one}:3: scheme: no level scheme 'nowhere'",
        f"{one}:9: categories[0].items[0].basis: a published item names its publication",
        f"{one}:10: categories[0].items[1].id: duplicate item id 'a' (first at line 9)",
        f"{one}:11: categories[1].id: duplicate category id 'cat' (first at line 6)",
        f"{one}:14: categories[1].items[0].id: item id 'Bad-Id' must match",
        f"{dup}:1: id: catalog 'hebei_initial' is also defined in {packaged}",
        f"{broken}:3: not valid YAML",
    ]
    for want in expected:
        assert any(p.startswith(want) for p in problems), (want, problems)
    assert len(problems) == len(expected)


def test_scheme_errors_name_file_and_line(tmp_path: Path) -> None:
    """Levels must go down to 0, Hebei's bands are the ledger's and cannot be edited, the
    active scheme must exist; an unknown ECOWARN_CREDIT_LEVEL_SCHEME is refused too."""
    schemes = tmp_path / "levels.yaml"
    schemes.write_text(
        "active: missing\n"                                           # 1
        "schemes:\n"                                                  # 2
        "  - id: hebei\n"                                             # 3
        "    name: {zh: 河北, en: Hebei}\n"                           # 4
        "    source: published\n"                                     # 5
        "    basis: 河北 2024\n"                                      # 6
        "    levels:\n"                                               # 7
        "      - {id: A, min: 80, name: {zh: 甲, en: A}}\n"           # 8
        "      - {id: E, min: 0, name: {zh: 戊, en: E}}\n"            # 9
        "  - id: stars\n"                                             # 10
        "    name: {zh: 星, en: stars}\n"                             # 11
        "    source: placeholder\n"                                   # 12
        "    levels:\n"                                               # 13
        "      - {id: '5', min: 60, name: {zh: 五, en: five}}\n"      # 14
        "      - {id: '4', min: 70, name: {zh: 四, en: four}}\n"      # 15
        "      - {id: '3', min: 10, name: {zh: 三, en: three}}\n",    # 16
        encoding="utf-8")
    with pytest.raises(CatalogConfigError) as err:
        load_credit_model([], schemes)
    problems = err.value.problems
    expected = [
        f"{schemes}:7: schemes[0].levels: the hebei bands are those the ledger records",
        f"{schemes}:15: schemes[1].levels[1].min: levels go from the highest down",
        f"{schemes}:16: schemes[1].levels[2].min: the lowest level must start at 0",
        f"{schemes}:1: active: no scheme 'missing'",
        "no evaluation catalog configured",
    ]
    for want in expected:
        assert any(p.startswith(want) for p in problems), (want, problems)
    assert len(problems) == len(expected)
    with pytest.raises(CatalogConfigError, match="ECOWARN_CREDIT_LEVEL_SCHEME: no scheme 'gold'"):
        load_credit_model(None, None, "gold")
    assert load_credit_model(None, None, "daxing_stars").level_for(95) == "5-star"


# --- scoring (pure) --------------------------------------------------------------------------


def test_scoring_reports_every_problem_at_once() -> None:
    """Unknown item, a positive deduction, a negative bonus, points beyond the maximum and
    a duplicate are all reported in one go, each with its body path."""
    model = default_credit_model()
    _, problems = check_evaluation(model, "daxing_green", "initial", [
        ItemInput("no_such_item", -1),
        ItemInput("no_penalty", 3),            # deduction item, positive
        ItemInput("ultra_low", -1),            # bonus item, negative
        ItemInput("honours", 4),               # bonus beyond its maximum of 3
        ItemInput("data_genuine", -11),        # deduction beyond its maximum of 10
        ItemInput("iso14001", 2),
        ItemInput("iso14001", 1),              # listed twice
    ])
    assert [(p.path, p.key) for p in problems] == [
        ("body.items[0].item", "unknown_item"), ("body.items[1].points", "deduction_points"),
        ("body.items[2].points", "bonus_points"), ("body.items[3].points", "bonus_points"),
        ("body.items[4].points", "deduction_points"), ("body.items[6].item", "duplicate_item")]
    assert "-10 至 0" in problems[4].text("zh") and "from -10 to 0" in problems[4].text("en")
    _, problems = check_evaluation(model, "nowhere", "initial", [])
    assert [(p.path, p.key) for p in problems] == [("body.catalog", "unknown_catalog")]
    assert "daxing_green, hebei_initial" in problems[0].text("en")


def test_score_is_base_plus_points_clamped() -> None:
    """Deductions from 100, bonuses from the green base of 60; maxima are inclusive; an empty
    evaluation scores the base; the score is clamped to 0..100 and evidence may be required."""
    model = default_credit_model()
    scored, _ = check_evaluation(model, "hebei_initial", "initial",
                                 [ItemInput("emission_standard", -7), ItemInput("penalties", -6, "罚款")])
    assert scored is not None and (scored.deductions, scored.bonuses, scored.score) == (-13, 0, 87)
    scored, _ = check_evaluation(model, "daxing_green", "periodic",
                                 [ItemInput("ultra_low", 3), ItemInput("no_penalty", -6), ItemInput("iso14001", 0)])
    assert scored is not None and (scored.deductions, scored.bonuses, scored.score) == (-6, 3, 57)
    scored, _ = check_evaluation(model, "daxing_green", "initial", [])
    assert scored is not None and scored.score == 60
    every = [ItemInput(i.id, -i.max_points) for i in model.catalogs["hebei_initial"].ordered_items()]
    scored, _ = check_evaluation(model, "hebei_initial", "initial", every)
    assert scored is not None and scored.score == 0 and scored.deductions == -100
    strict = dataclasses.replace(model.catalogs["hebei_initial"], require_evidence=True)
    model2 = dataclasses.replace(model, catalogs={"hebei_initial": strict})
    _, problems = check_evaluation(model2, "hebei_initial", "initial",
                                   [ItemInput("noise", -1), ItemInput("fugitive", -1, evidence=("照片 3 张",)),
                                    ItemInput("training", 0)])
    assert [(p.path, p.key) for p in problems] == [("body.items[0].evidence", "evidence_required")]


# --- the API: recording, score and level -------------------------------------------------------


async def test_record_evaluation_sets_score_and_feed_entry(api: ApiEnv) -> None:
    """POST gives 201 with the evaluation; the enterprise's score becomes the evaluation's
    score exactly, whatever the ledger held before, and the feed carries an ``evaluation``
    entry whose points reset the base and whose reason names the document's SHA-256."""
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        officer = {"Authorization": "Bearer " + await create_token(
            conn, role="officer", label="王磊 · 石家庄市生态环境局")}
    await deduct(api, CEMENT, 40)
    await deduct(api, CEMENT, 70)   # 100 - 110: the score is 0, the raw sum -110
    assert await standing(api, officer, CEMENT) == (0, "E")
    r = await api.client.post(URL, headers=officer, json={
        "enterprise_id": CEMENT, "kind": "initial", "catalog": "hebei_initial",
        "evaluated_at": (T0 - timedelta(days=2)).isoformat(),
        "items": [{"item": "emission_standard", "points": -7, "note": "1号窑颗粒物小时均值超标"},
                  {"item": "hazardous_waste", "points": -3, "note": "危废贮存间未设标识",
                   "evidence": ["现场照片 IMG_0412"]},
                  {"item": "noise", "points": 0, "note": ""}]})
    assert r.status_code == 201, r.text
    ev = r.json()
    assert (ev["enterprise_id"], ev["kind"], ev["catalog"], ev["score"], ev["level"]) == (
        CEMENT, "initial", "hebei_initial", 90, "A")
    assert (ev["base"], ev["deductions"], ev["bonuses"]) == (100, -10, 0)
    assert ev["levels"] == {"hebei": "A", "daxing_stars": "5-star"}
    assert [(i["item"], i["points"], i["kind"], i["max_points"]) for i in ev["items"]] == [
        ("emission_standard", -7, "deduction", 7), ("hazardous_waste", -3, "deduction", 5),
        ("noise", 0, "deduction", 1)]
    assert ev["items"][1]["evidence"] == ["现场照片 IMG_0412"] and ev["items"][0]["name"] == "污染物稳定达标排放"
    assert ev["evaluated_at"] == (T0 - timedelta(days=2)).isoformat()
    assert ev["officer"]["token_id"] is not None and ev["reversed_by"] is None
    assert ev["officer"]["label"] == "王磊 · 石家庄市生态环境局", "the officer is named in the record"
    assert await standing(api, officer, CEMENT) == (90, "A")

    feed = (await api.client.get("/api/v1/credit/events", params={"enterprise_id": CEMENT},
                                 headers=officer)).json()["items"]
    entry = feed[-1]
    assert (entry["id"], entry["type"], entry["points"], entry["score_after"], entry["level_after"]) == (
        ev["entry_id"], "evaluation", 90 - (100 - 110), 90, "A")
    assert entry["ref_id"] is None and ev["sha256"] in entry["reason"]
    got = await api.client.get(f"{URL}/{ev['id']}", headers=officer)
    assert got.status_code == 200 and got.json() == ev


async def test_score_and_level_at_every_band_boundary(api: ApiEnv) -> None:
    """At each Hebei boundary (85/84, 70/69, 50/49, 30/29) an evaluation scoring the lower
    bound gives the upper level, a one-point deduction after it the lower one, and a new
    periodic evaluation sets the score again whatever came before."""
    officer = await api.headers("officer")
    first = True
    for bound, upper, lower in ((85, "A", "B"), (70, "B", "C"), (50, "C", "D"), (30, "D", "E")):
        ev = await evaluate(api, officer, CEMENT, bound, kind="initial" if first else "periodic")
        first = False
        assert ev["level"] == upper
        assert await standing(api, officer, CEMENT) == (bound, upper)
        entry = await deduct(api, CEMENT, 1)
        assert (entry["score_after"], entry["level_after"]) == (bound - 1, lower)
        assert await standing(api, officer, CEMENT) == (bound - 1, lower)
        ev = await evaluate(api, officer, CEMENT, bound - 1)
        assert ev["level"] == lower
        assert await standing(api, officer, CEMENT) == (bound - 1, lower)
        await deduct(api, CEMENT, 3)
        ev = await evaluate(api, officer, CEMENT, bound + 1)   # back up across the boundary
        assert ev["level"] == upper and await standing(api, officer, CEMENT) == (bound + 1, upper)


async def test_evaluation_then_deduction_then_repair(api: ApiEnv) -> None:
    """Initial evaluation 83 (B); a confirmed treatment_off (high, 10 points) gives 73 (B);
    its repair gives 83 again; reversing the evaluation takes its effect back (the ledger
    as before it: 90, A) and frees the enterprise for a new initial evaluation."""
    officer = await api.headers("officer")
    alert = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",),
                                   start=T0, end=T0 + timedelta(hours=1))
    earlier = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",),
                                     start=T0 - timedelta(days=30), end=T0 - timedelta(days=30, hours=-1))
    service = CreditService(api.ctx.registry, load_credit_params())
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        await service.on_alert_confirmed(conn, earlier, {"role": "officer", "token_id": None, "label": "x"})
    assert await standing(api, officer, COKING) == (90, "A")
    ev = await evaluate(api, officer, COKING, 83, kind="initial")
    assert await standing(api, officer, COKING) == (83, "B")
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        await service.on_alert_confirmed(conn, alert, {"role": "officer", "token_id": None, "label": "x"})
        deduction = await ledger.active_deduction(conn, alert)
        assert deduction is not None and deduction["points"] == -15   # the second treatment_off in a year
        assert await standing(api, officer, COKING) == (68, "C")
        repaired = await ledger.repair(conn, int(deduction["id"]), actor={"role": "officer"},
                                       reason="rectified", now=datetime.now(T0.tzinfo) + timedelta(days=400))
    assert repaired["score_after"] == 83
    assert await standing(api, officer, COKING) == (83, "B")

    second = await api.client.post(URL, headers=officer, json={
        "enterprise_id": COKING, "kind": "initial", "catalog": "hebei_initial", "items": []})
    assert second.status_code == 409, second.text
    body = second.json()
    assert body["error"] == "not_eligible" and body["evaluation_id"] == ev["id"]
    assert body["entry_id"] == ev["entry_id"] and "初次评价" in body["detail_zh"]

    rev = await api.client.post(f"/api/v1/credit/entries/{ev['entry_id']}/reversal", headers=officer,
                                json={"reason": "评价对象有误"})
    assert rev.status_code == 201, rev.text
    assert await standing(api, officer, COKING) == (90, "A")
    shown = (await api.client.get(f"{URL}/{ev['id']}", headers=officer)).json()
    assert shown["reversed_by"] == rev.json()["items"][0]["id"]
    again = await evaluate(api, officer, COKING, 75, kind="initial")
    assert again["id"] != ev["id"] and await standing(api, officer, COKING) == (75, "B")


async def test_invalid_evaluations_are_422_naming_each_field(api: ApiEnv) -> None:
    """An unknown enterprise, catalog item and out-of-range points are reported together
    (``problems``, English and Chinese); an unknown catalog, a kind outside the contract and
    a time in the future are 422 too; nothing reaches the ledger."""
    officer = await api.headers("officer")
    r = await api.client.post(URL, headers=officer, json={
        "enterprise_id": "91130000MA0NONE000", "kind": "initial", "catalog": "hebei_initial",
        "items": [{"item": "nothing_like_it", "points": -1, "note": ""},
                  {"item": "noise", "points": -2, "note": "超过上限"},
                  {"item": "penalties", "points": 2, "note": "正数"}]})
    assert r.status_code == 422, r.text
    body = r.json()
    assert [p["path"] for p in body["problems"]] == [
        "body.enterprise_id", "body.items[0].item", "body.items[1].points", "body.items[2].points"]
    assert body["fields"][0]["path"] == "body.enterprise_id" and "detail_zh" in body
    assert all(p["message"] and p["message_zh"] for p in body["problems"])
    r = await api.client.post(URL, headers=officer, json={
        "enterprise_id": CEMENT, "kind": "initial", "catalog": "nowhere", "items": []})
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.catalog"
    r = await api.client.post(URL, headers=officer, json={
        "enterprise_id": CEMENT, "kind": "annual", "catalog": "hebei_initial", "items": []})
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.kind"
    r = await api.client.post(URL, headers=officer, json={
        "enterprise_id": CEMENT, "kind": "initial", "catalog": "hebei_initial", "items": [],
        "evaluated_at": (datetime.now(T0.tzinfo) + timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.evaluated_at"
    rows = await api.execute("SELECT count(*) FROM credit_ledger")
    assert rows[0][0] == 0


async def test_star_scheme_reports_stars(api: ApiEnv) -> None:
    """With the star scheme active, a green-credit evaluation reports its star level in the
    evaluation and on the enterprise's credit page; the ledger still records Hebei's level."""
    ctx = dataclasses.replace(api.ctx, credit_model=load_credit_model(None, None, "daxing_stars"),
                              metrics_registry=CollectorRegistry())
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        officer = await api.headers("officer")
        r = await client.post(URL, headers=officer, json={
            "enterprise_id": GLASS, "kind": "initial", "catalog": "daxing_green",
            "items": [{"item": "ultra_low", "points": 3, "note": "已完成超低排放改造"},
                      {"item": "iso14001", "points": 2, "note": "ISO 14001 证书"},
                      {"item": "honours", "points": 3, "note": "市级表彰"},
                      {"item": "open_facilities", "points": 3, "note": "公众开放日"},
                      {"item": "renewable_energy", "points": 2, "note": "屋顶光伏"},
                      {"item": "performance_grade", "points": 3, "note": "绩效A级"},
                      {"item": "no_penalty", "points": -1, "note": "轻微违法一次"}]})
        assert r.status_code == 201, r.text
        ev = r.json()
        assert (ev["score"], ev["level"], ev["scheme"]) == (75, "3-star", "daxing_stars")
        assert ev["levels"] == {"hebei": "B", "daxing_stars": "3-star"}
        page = (await client.get(f"/api/v1/credit/enterprises/{GLASS}", headers=officer)).json()
        assert (page["score"], page["level"], page["level_scheme"]) == (75, "3-star", "daxing_stars")
        schemes = (await client.get("/api/v1/credit/level-schemes", headers=officer)).json()
        assert schemes["active"] == "daxing_stars"
    feed = (await api.client.get("/api/v1/credit/events", headers=officer)).json()["items"]
    assert (feed[-1]["score_after"], feed[-1]["level_after"]) == (75, "B")


# --- reading: catalogs, lists, scope -----------------------------------------------------------


async def test_catalogs_listing(api: ApiEnv) -> None:
    """GET /credit/catalogs lists each catalog with its items ({id, category, name, kind,
    max_points}) for officer, credit and enterprise tokens; not for ingest."""
    for role, enterprise in (("officer", None), ("credit", None), ("enterprise", CEMENT)):
        r = await api.client.get("/api/v1/credit/catalogs", headers=await api.headers(role, enterprise))
        assert r.status_code == 200, (role, r.text)
    catalogs = {c["id"]: c for c in r.json()["items"]}
    assert set(catalogs) == {"hebei_initial", "daxing_green"}
    hebei = catalogs["hebei_initial"]
    assert hebei["name"] == "企业生态环境信用初次评价（河北式体检评价）" and len(hebei["items"]) == 37
    first = hebei["items"][0]
    assert {k: first[k] for k in ("id", "category", "name", "kind", "max_points")} == {
        "id": "eia_approval", "category": "permits", "name": "建设项目环境影响评价审批（备案）手续齐全",
        "kind": "deduction", "max_points": 4}
    assert len(hebei["categories"]) == 12 and hebei["base"] == 100
    assert {i["kind"] for i in catalogs["daxing_green"]["items"]} == {"deduction", "bonus"}
    r = await api.client.get("/api/v1/credit/catalogs", headers=await api.headers("ingest"))
    assert r.status_code == 403
    schemes = (await api.client.get("/api/v1/credit/level-schemes", headers=await api.headers("credit"))).json()
    assert schemes["active"] == "hebei"
    hebei_levels = next(s for s in schemes["items"] if s["id"] == "hebei")["levels"]
    assert [(lv["id"], lv["min"], lv["max"]) for lv in hebei_levels] == [
        ("A", 85, 100), ("B", 70, 84), ("C", 50, 69), ("D", 30, 49), ("E", 0, 29)]


async def test_scope_of_evaluations(api: ApiEnv) -> None:
    """A region-limited officer sees and evaluates its region's enterprises only (another's
    evaluation is 404 like an absent one; evaluating it is the 422 of an unknown
    enterprise); an enterprise sees its own evaluations without the officer's token; the
    credit role sees all; lists are filtered in the query."""
    officer = await api.headers("officer")
    cement = await evaluate(api, officer, CEMENT, 88, kind="initial")
    glass = await evaluate(api, officer, GLASS, 72, kind="initial")
    glass_officer = await token(api, "officer", region="1306")
    cement_ent = await token(api, "enterprise", enterprise_id=CEMENT)
    coking_ent = await token(api, "enterprise", enterprise_id=COKING)
    credit = await token(api, "credit")

    absent = await api.client.get(f"{URL}/{ABSENT}", headers=glass_officer)
    foreign = await api.client.get(f"{URL}/{cement['id']}", headers=glass_officer)
    assert absent.status_code == foreign.status_code == 404
    assert foreign.json()["detail"] == absent.json()["detail"].replace(str(ABSENT), str(cement["id"]))
    assert (await api.client.get(f"{URL}/{glass['id']}", headers=glass_officer)).status_code == 200
    listed = (await api.client.get(URL, headers=glass_officer)).json()["items"]
    assert [e["id"] for e in listed] == [glass["id"]]
    r = await api.client.post(URL, headers=glass_officer, json={
        "enterprise_id": CEMENT, "kind": "periodic", "catalog": "hebei_initial", "items": []})
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.enterprise_id"
    r = await api.client.post(URL, headers=glass_officer, json={
        "enterprise_id": GLASS, "kind": "periodic", "catalog": "hebei_initial", "items": []})
    assert r.status_code == 201
    for path in (f"{URL}/{cement['id']}.html", f"/api/v1/credit/enterprises/{CEMENT}/initial-evaluation.html"):
        assert (await api.client.get(path, headers=glass_officer)).status_code == 404, path

    own = await api.client.get(f"{URL}/{cement['id']}", headers=cement_ent)
    assert own.status_code == 200 and own.json()["officer"] == {"label": cement["officer"]["label"]}
    assert (await api.client.get(f"{URL}/{cement['id']}", headers=coking_ent)).status_code == 404
    assert (await api.client.get(f"{URL}/{cement['id']}.html", headers=coking_ent)).status_code == 404
    assert (await api.client.get(URL, headers=coking_ent)).json()["items"] == []
    mine = (await api.client.get(URL, params={"enterprise_id": GLASS}, headers=cement_ent)).json()
    assert mine["items"] == []
    all_seen = (await api.client.get(URL, headers=credit)).json()["items"]
    assert {e["enterprise_id"] for e in all_seen} == {CEMENT, GLASS}
    assert (await api.client.post(URL, headers=credit, json={
        "enterprise_id": GLASS, "kind": "periodic", "catalog": "hebei_initial", "items": []})).status_code == 403
    assert (await api.client.post(URL, headers=cement_ent, json={
        "enterprise_id": CEMENT, "kind": "periodic", "catalog": "hebei_initial", "items": []})).status_code == 403


async def test_list_pages_newest_first(api: ApiEnv) -> None:
    """GET /credit/evaluations pages newest first with an opaque cursor and filters by
    enterprise and kind."""
    officer = await api.headers("officer")
    made = [await evaluate(api, officer, CEMENT, 90, kind="initial")]
    for score in (80, 70, 60):
        made.append(await evaluate(api, officer, CEMENT, score))
    made.append(await evaluate(api, officer, COKING, 95, kind="initial"))
    seen, cursor = [], None
    while True:
        page = (await api.client.get(URL, headers=officer, params={
            "enterprise_id": CEMENT, "limit": 3, **({"cursor": cursor} if cursor else {})})).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in reversed(made[:4])]
    initial = (await api.client.get(URL, headers=officer, params={"kind": "initial"})).json()["items"]
    assert [e["id"] for e in initial] == [made[4]["id"], made[0]["id"]]


# --- the printable report ----------------------------------------------------------------------


async def test_initial_evaluation_report_page(api: ApiEnv) -> None:
    """The report prints every problem found in one go (grouped by category, with points,
    notes and evidence), the whole checklist, the score and level, the SHA-256 of the
    document and lines to sign; Chinese comes first; the page loads nothing from elsewhere.
    The enterprise's initial-evaluation page is 404 until there is one and after its reversal."""
    officer = await api.headers("officer")
    own = await token(api, "enterprise", enterprise_id=CEMENT)
    page = f"/api/v1/credit/enterprises/{CEMENT}/initial-evaluation.html"
    assert (await api.client.get(page, headers=own)).status_code == 404
    r = await api.client.post(URL, headers=officer, json={
        "enterprise_id": CEMENT, "kind": "initial", "catalog": "hebei_initial", "items": [
            {"item": "facility_operation", "points": -5, "note": "脱硝设施停运未报告", "evidence": ["检查笔录 第12号"]},
            {"item": "hazardous_waste", "points": -2, "note": "危废台账缺 3 月记录"},
            {"item": "annual_disclosure", "points": -2, "note": "年度报告逾期 20 天"},
            {"item": "noise", "points": 0, "note": "厂界噪声达标"}]})
    assert r.status_code == 201
    ev = r.json()
    for url in (page, f"{URL}/{ev['id']}.html"):
        html = await api.client.get(url, headers=own)
        assert html.status_code == 200, html.text
        assert html.headers["content-type"].startswith("text/html")
        assert html.headers["content-security-policy"].startswith("default-src 'none'")
        text = html.text
        assert "企业生态环境信用初次评价报告" in text and "共发现 3 项问题，合计扣 9 分。" in text
        for note in ("脱硝设施停运未报告", "危废台账缺 3 月记录", "年度报告逾期 20 天", "检查笔录 第12号"):
            assert note in text
        assert text.count('class="problem" data-item=') == 3
        for item in api.ctx.credit_model.catalogs["hebei_initial"].items.values():
            assert item.name.zh in text
        assert ev["sha256"] in text and 'id="score">91<' in text and 'id="level">A<' in text
        assert text.index("发现的问题") < text.index("Problems found")
        assert "评价人员（签字）" in text and "http" not in text.split("<body>")[1].replace("https://", "")
        assert "<script" not in text and "<link" not in text
    rev = await api.client.post(f"/api/v1/credit/entries/{ev['entry_id']}/reversal", headers=officer,
                                json={"reason": "录入错误"})
    assert rev.status_code == 201
    assert (await api.client.get(page, headers=own)).status_code == 404
    reversed_page = await api.client.get(f"{URL}/{ev['id']}.html", headers=own)
    assert reversed_page.status_code == 200 and 'id="reversed"' in reversed_page.text
