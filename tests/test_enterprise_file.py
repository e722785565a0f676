"""The enterprise file (一企一档, CONTRACT section 9): ``GET /enterprises/{id}`` gathers registry
data, devices with their links, limits and learned baselines, permit, contacts, positive-list
status, credit with level history, evaluations, alerts with dispositions, rectifications, ledger
entries and emergency orders; each list with its count; seen only by who may see the enterprise.
``GET /enterprises`` lists them with search, region, level and list filters."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import psycopg
from test_api_support import CEMENT, COKING, CST, GLASS, T0, ApiEnv

from ecowarn.credit import CreditService, load_credit_params
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

URL = "/api/v1/enterprises"
SECTIONS = {"enterprise", "permit", "contacts", "devices", "positive_list", "credit", "evaluations", "alerts",
            "rectifications", "ledger", "emergency_orders"}
# 82 points on the Hebei-style initial catalog: level B.
INITIAL_ITEMS = [{"item": "eia_approval", "points": -4, "note": "二期工程无环评批复"},
                 {"item": "completion_acceptance", "points": -3, "note": ""},
                 {"item": "discharge_permit", "points": -4, "note": ""},
                 {"item": "permit_reports", "points": -2, "note": ""},
                 {"item": "facility_operation", "points": -5, "note": "布袋除尘器停运"}]


class Officer:
    token_id = 1
    role = "officer"
    label = "Officer Sun"


async def _region_officer(api: ApiEnv, region: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        return {"Authorization": f"Bearer {await create_token(conn, role='officer', region=region)}"}


async def _file(api: ApiEnv, enterprise_id: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await api.client.get(f"{URL}/{enterprise_id}", headers=headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _baseline_days(api: ApiEnv, series: str, last_day: datetime, days: int, n: int, value: float) -> None:
    for k in range(days):
        await api.execute("INSERT INTO baselines (series, day_start, n, quantiles) VALUES (%s, %s, %s, %s)",
                          (series, last_day - timedelta(days=k), n, [value] * 64))


async def _populate(api: ApiEnv) -> dict[str, Any]:
    """Three cement alerts (one confirmed with a deduction, one dismissed as false alarm and
    closed, one rectifying with an overdue rectification), a coking alert, an evaluation, a
    positive-list entry, an emergency order, learned baselines."""
    officer = await api.headers("officer")
    confirmed = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=25))
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        await CreditService(api.ctx.registry, load_credit_params()).on_alert_confirmed(conn, confirmed, Officer())
    await api.execute("UPDATE alerts SET status = 'confirmed', disposition = NULL, decided_at = now(),"
                      " dispatched_at = %s WHERE id = %s", (T0 + timedelta(hours=1), confirmed))
    false_alarm = await api.insert_alert(rule="data_gap", start=T0 + timedelta(days=1))
    for action in ("acknowledge", "dismiss"):
        r = await api.client.post(f"/api/v1/alerts/{false_alarm}/transitions", headers=officer,
                                  json={"action": action, "reason": "通讯故障，数据已补传"})
        assert r.status_code == 200, r.text
    r = await api.client.post(f"/api/v1/alerts/{false_alarm}/transitions", headers=officer,
                              json={"action": "close", "disposition": "false_alarm", "reason": "数据已补传"})
    assert r.status_code == 200, r.text
    rectifying = await api.insert_alert(start=T0 + timedelta(days=2))
    for action in ("acknowledge", "dispatch"):
        r = await api.client.post(f"/api/v1/alerts/{rectifying}/transitions", headers=officer,
                                  json={"action": action})
        assert r.status_code == 200, r.text
    enterprise = await api.headers("enterprise", CEMENT)
    r = await api.client.post(f"/api/v1/alerts/{rectifying}/answers", headers=enterprise,
                              json={"kind": "explanation", "text": "滤袋破损，已停炉检修"})
    assert r.status_code == 201, r.text
    r = await api.client.post(f"/api/v1/alerts/{rectifying}/rectification", headers=officer,
                              json={"due": (datetime.now(CST) + timedelta(days=3)).isoformat(),
                                    "requirements": "更换布袋除尘器滤袋"})
    assert r.status_code == 201, r.text
    rectification = r.json()["id"]
    await api.execute("UPDATE rectifications SET due_at = now() - interval '1 hour' WHERE id = %s",
                      (rectification,))
    await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",), start=T0)
    r = await api.client.post("/api/v1/credit/evaluations", headers=officer, json={
        "enterprise_id": CEMENT, "kind": "initial", "catalog": "hebei_initial", "items": INITIAL_ITEMS})
    assert r.status_code == 201, r.text
    evaluation = r.json()
    r = await api.client.post("/api/v1/positive-list", headers=officer, json={
        "enterprise_id": CEMENT, "start": "2026-01-01", "reason": "超低排放改造完成，在线监测稳定"})
    assert r.status_code == 201, r.text
    listing = r.json()["id"]
    r = await api.client.post("/api/v1/emergency-orders", headers=officer, json={
        "enterprise_ids": [CEMENT, COKING], "measure": "limit", "limit_pct": 30,
        "start": (T0 - timedelta(days=1)).isoformat(), "end": (T0 + timedelta(days=1)).isoformat()})
    assert r.status_code == 201, r.text
    day = datetime(2026, 11, 19, tzinfo=CST)
    await _baseline_days(api, "load:PWR-BAG-1", day, 2, 800, 121.5)   # 1,600 running minutes: learned
    await _baseline_days(api, "prod:PWR-KILN-1", day, 1, 100, 500.0)  # too few: the rated 800 kW
    return {"confirmed": confirmed, "false_alarm": false_alarm, "rectifying": rectifying,
            "rectification": rectification, "evaluation": evaluation, "listing": listing}


async def test_the_file_gathers_every_section(api: ApiEnv) -> None:
    """An officer's file of the cement plant holds each section with what was recorded: its
    devices and their stages, links, limits and learned baselines; the evaluation that set level
    B in the level history; the positive list; alerts newest first with dispositions and answers;
    the overdue rectification; the ledger; the order naming it."""
    made = await _populate(api)
    body = await _file(api, CEMENT, await api.headers("officer"))
    assert SECTIONS <= body.keys() and body["enterprise_id"] == CEMENT
    assert body["enterprise"]["name"] == "石家庄某某水泥有限公司" and body["enterprise"]["region"] == "130105"
    assert body["enterprise"]["webhook_configured"] is True and body["permit"] is None
    devices = {d["id"]: d for d in body["devices"]}
    assert list(devices) == ["PWR-KILN-1", "PWR-BAG-1", "PWR-DS-1", "PWR-DS-2", "PWR-SCR-1", "13010500000001"]
    kiln, bag, cems = devices["PWR-KILN-1"], devices["PWR-BAG-1"], devices["13010500000001"]
    assert kiln["stages"] == [["PWR-BAG-1"], ["PWR-DS-1", "PWR-DS-2"], ["PWR-SCR-1"]]
    assert kiln["served_by"] == ["13010500000001"] and kiln["running_threshold_kw"] == 80
    assert bag["treats"] == ["PWR-KILN-1"] and bag["role"] == "treatment"
    assert cems["limits"] == {"pm": 10, "so2": 35, "nox": 50} and cems["ref_o2"] == 10
    assert cems["serves"] == ["PWR-KILN-1"] and cems["hj212_mn"] == "13010500000001"
    assert cems["limits_unit"] == "mg/m3" and "password" not in cems
    (load,) = bag["baselines"]
    assert (load["series"], load["source"], load["value"], load["n"], load["days"], load["as_of"]) == (
        "load:PWR-BAG-1", "learned", 121.5, 1600, 2, "2026-11-20")
    (prod,) = kiln["baselines"]
    assert (prod["source"], prod["value"], prod["n"]) == ("rated", 800.0, 100)

    credit = body["credit"]
    assert (credit["score"], credit["level"]) == (82, "B")
    change = credit["level_history"][-1]
    assert (change["level"], change["previous_level"], change["entry_type"]) == ("B", "A", "evaluation")
    assert change["entry_id"] == made["evaluation"]["entry_id"] and change["at"].endswith("+08:00")
    assert credit["evaluation"]["id"] == made["evaluation"]["id"]
    assert body["evaluations"]["count"] == 1 and body["evaluations"]["items"][0]["score"] == 82

    assert body["positive_list"]["listed"] is True and body["positive_list"]["count"] == 1
    assert body["positive_list"]["lists"][0]["id"] == made["listing"]

    alerts = body["alerts"]
    assert alerts["count"] == 3 and alerts["url"] == f"/api/v1/alerts?enterprise_id={CEMENT}"
    assert alerts["by_status"] == {"confirmed": 1, "closed": 1, "rectifying": 1}
    assert [a["id"] for a in alerts["items"]] == [made["rectifying"], made["false_alarm"], made["confirmed"]]
    rectifying, false_alarm = alerts["items"][0], alerts["items"][1]
    assert rectifying["answers"] == 1 and rectifying["first_answer_at"] is not None
    assert rectifying["escalation_level"] == 0
    assert (false_alarm["status"], false_alarm["disposition"], false_alarm["disposition_reason"]) == (
        "closed", "false_alarm", "数据已补传")

    assert body["rectifications"]["count"] == 1 and body["rectifications"]["overdue"] == 1
    assert body["rectifications"]["items"][0]["id"] == made["rectification"]
    assert body["rectifications"]["items"][0]["overdue"] is True

    ledger = body["ledger"]
    assert ledger["count"] == 2
    assert [e["type"] for e in ledger["items"]] == ["evaluation", "deduction"]
    assert ledger["items"][1]["alert_id"] == made["confirmed"]

    orders = body["emergency_orders"]
    assert orders["count"] == 1 and orders["items"][0]["measure"] == "limit"
    assert orders["items"][0]["limit_pct"] == 30 and orders["items"][0]["enterprises"] == 2
    assert body["console_url"] == f"/console/enterprises/{CEMENT}/file"


async def test_permit_contacts_and_water_outlet(api: ApiEnv) -> None:
    """The coking plant's file has its permit (valid, days left), contacts, address and a water
    outlet with daily and hourly limits and its pH range; no HJ 212 password anywhere."""
    r = await api.client.get(f"{URL}/{COKING}", headers=await api.headers("officer"))
    assert r.status_code == 200
    body = r.json()
    assert body["permit"]["number"] == "91130182MA0DEM001G001P"
    assert body["permit"]["valid_until"] == "2029-06-30" and body["permit"]["expired"] is False
    assert body["permit"]["days_left"] > 0
    assert [c["name"] for c in body["contacts"]] == ["王磊", "赵敏"]
    assert body["enterprise"]["address"] == "河北省石家庄市栾城区"
    water = next(d for d in body["devices"] if d["kind"] == "water")
    assert water["limits"] == {"cod": 50, "nh3n": 5, "tp": 0.5, "tn": 15} and water["limits_unit"] == "mg/L"
    assert water["limits_hourly"] == {"cod": 100} and water["ph_range"] == [6, 9]
    assert "654321" not in r.text and "password" not in r.text
    assert body["alerts"] == {"count": 0, "by_status": {}, "items": [],
                              "url": f"/api/v1/alerts?enterprise_id={COKING}"}
    assert body["credit"]["score"] == 100 and body["credit"]["level_history"] == []
    assert body["positive_list"]["listed"] is False


async def test_list_sections_keep_the_newest_with_the_count(api: ApiEnv) -> None:
    """``limit`` caps every list section at its newest items while ``count`` stays the total;
    out of range is 422."""
    for k in range(4):
        await api.insert_alert(start=T0 + timedelta(hours=k))
    body = await _file(api, CEMENT, await api.headers("officer"), limit=2)
    assert body["alerts"]["count"] == 4 and len(body["alerts"]["items"]) == 2
    assert body["alerts"]["items"][0]["start"] == (T0 + timedelta(hours=3)).isoformat()
    for bad in ("0", "201"):
        r = await api.client.get(f"{URL}/{CEMENT}", params={"limit": bad}, headers=await api.headers("officer"))
        assert r.status_code == 422


async def test_an_enterprise_sees_only_its_own_file_and_no_officer_tokens(api: ApiEnv) -> None:
    """The cement plant's token reads its own file, without the officers' token ids or the
    internal screening; another enterprise's file is the same 404 as an unregistered id."""
    await _populate(api)
    own = await api.headers("enterprise", CEMENT)
    body = await _file(api, CEMENT, own)
    assert "token_id" not in body["evaluations"]["items"][0]["officer"]
    assert body["positive_list"]["items"][0]["created_by"]["token_id"] is None
    assert "escalation_level" not in body["alerts"]["items"][0]
    assert body["rectifications"]["items"][0]["ordered_by"]["token_id"] is None
    foreign = await api.client.get(f"{URL}/{COKING}", headers=own)
    absent = await api.client.get(f"{URL}/91000000000000000X", headers=own)
    assert foreign.status_code == absent.status_code == 404
    assert re.sub(r"\w{18}", "ID", foreign.text) == re.sub(r"\w{18}", "ID", absent.text)


async def test_a_county_officer_sees_only_its_county(api: ApiEnv) -> None:
    """An officer limited to 130182 reads the coking plant's file; the cement plant's (130105)
    is 404 like an absent one; credit may read any file; ingest may not."""
    county = await _region_officer(api, "130182")
    assert (await _file(api, COKING, county))["enterprise_id"] == COKING
    assert (await api.client.get(f"{URL}/{CEMENT}", headers=county)).status_code == 404
    assert (await _file(api, GLASS, await api.headers("credit")))["enterprise"]["region"] == "130627"
    assert (await api.client.get(f"{URL}/{CEMENT}", headers=await api.headers("ingest"))).status_code == 403
    assert (await api.client.get(f"{URL}/{CEMENT}")).status_code == 401


async def test_list_of_enterprises_with_filters(api: ApiEnv) -> None:
    """``GET /enterprises`` lists the visible registered enterprises by id with score, level and
    list status; q searches name and id in any case; region, level and listed filter; pages
    follow the cursor; an unknown level is 422."""
    await _populate(api)
    officer = await api.headers("officer")

    async def ids(**params: Any) -> list[str]:
        r = await api.client.get(URL, headers=officer, params=params)
        assert r.status_code == 200, r.text
        return [i["enterprise_id"] for i in r.json()["items"]]

    assert await ids() == sorted([CEMENT, COKING, GLASS])
    assert await ids(q="焦化") == [COKING] and await ids(q="0cxxxx") == [CEMENT]
    assert await ids(region="1301") == [CEMENT, COKING]
    assert await ids(level="B") == [CEMENT] and await ids(level="A") == [COKING, GLASS]
    assert await ids(listed="true") == [CEMENT] and await ids(listed="false") == [COKING, GLASS]
    r = await api.client.get(URL, headers=officer, params={"limit": 2})
    first = r.json()
    assert first["count"] == 3 and len(first["items"]) == 2 and first["next_cursor"]
    cement = next(i for i in first["items"] if i["enterprise_id"] == CEMENT)
    assert (cement["score"], cement["level"], cement["positive_list"], cement["alerts_open"],
            cement["rectifications_overdue"]) == (82, "B", True, 2, 1)
    rest = (await api.client.get(URL, headers=officer, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [i["enterprise_id"] for i in rest["items"]] == [GLASS] and rest["next_cursor"] is None
    bad = await api.client.get(URL, headers=officer, params={"level": "Z"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["path"] == "query.level"
    own = (await api.client.get(URL, headers=await api.headers("enterprise", GLASS))).json()
    assert [i["enterprise_id"] for i in own["items"]] == [GLASS]
    county = (await api.client.get(URL, headers=await _region_officer(api, "1306"))).json()
    assert [i["enterprise_id"] for i in county["items"]] == [GLASS] and county["count"] == 1


async def test_the_file_reads_evaluations_and_lists_of_other_components(api: ApiEnv) -> None:
    """The file is built on the evaluation and positive-list tables (migrations 0012, 0013): both
    exist, and a removed listing shows as removed while the enterprise is no longer listed."""
    rows = await api.execute("SELECT to_regclass('evaluations') IS NOT NULL, to_regclass('positive_list') IS NOT NULL")
    assert rows == [(True, True)]
    made = await _populate(api)
    officer = await api.headers("officer")
    r = await api.client.delete(f"/api/v1/positive-list/{made['listing']}", headers=officer,
                                params={"reason": "发生超标排放"})
    assert r.status_code == 200, r.text
    body = await _file(api, CEMENT, officer)
    assert body["positive_list"]["listed"] is False and body["positive_list"]["lists"] == []
    assert body["positive_list"]["items"][0]["deleted"] is True


async def test_alert_answers_counted_per_alert(api: ApiEnv) -> None:
    """Each alert of the file says how many answers it has and when the first came."""
    alert = await api.insert_alert(start=T0)
    token = await api.token("enterprise", CEMENT)
    rows = await api.execute("SELECT id FROM api_tokens ORDER BY id DESC LIMIT 1")
    for k in range(2):
        await api.execute(
            "INSERT INTO alert_answers (alert_id, enterprise_id, kind, body, author_token, author_role, created_at)"
            " VALUES (%s, %s, 'explanation', 'x', %s, 'enterprise', %s)",
            (alert, CEMENT, rows[0][0], T0 + timedelta(hours=2 + k)))
    body = await _file(api, CEMENT, {"Authorization": f"Bearer {token}"})
    item = body["alerts"]["items"][0]
    assert item["answers"] == 2 and item["first_answer_at"] == (T0 + timedelta(hours=2)).isoformat()
