"""Statistics (CONTRACT section 9, ``GET /stats``) against a hand-counted set of alerts.

The fixture is written by SQL: alerts with the columns the workflow sets, their audit steps,
answers and rectifications. Every expected number below was counted by hand from it:

======  ==========  ===================  =======================  =========================================
alert   enterprise  rule                 start (China time)       what happened
======  ==========  ===================  =======================  =========================================
A1      cement      treatment_off        2026-11-03 10:00         notice 12:00, answer 14:00 (2 h), confirmed,
                                                                  closed case_filed; rectification verified
A2      cement      treatment_off        2026-11-10 08:00         notice 09:00, answers 11-11 09:00 (24 h) and
                                                                  later; confirmed as first offence;
                                                                  rectification verified
A3      cement      data_gap             2026-11-15 08:00         notice, no answer, dismissed, closed
                                                                  false_alarm; rectification withdrawn (due past)
A4      coking      emission_exceedance  2026-11-30 23:30         notice 12-01 08:00, answer 14:00 (6 h);
                                                                  rectifying: one rejected, one ordered and
                                                                  overdue
A5      coking      emission_exceedance  2026-12-01 00:30         open (December in China time, November in UTC)
A6      glass       treatment_off        2026-11-05 08:00         answer 09:00 before the notice at 10:00 (0 h),
                                                                  dismissed (not closed)
A7      glass       treatment_off        2026-11-06 08:00         superseded: never counted
A8      (none)      air_hotspot          2026-11-07 08:00         open
A9      cement      treatment_off        2026-10-31 23:00         open (October)
A10     coking      data_gap             2026-11-20 08:00         notice, a rectification submitted, due ahead
======  ==========  ===================  =======================  =========================================
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from test_api_support import CEMENT, COKING, CST, GLASS, ApiEnv

from ecowarn.alerts.stats import CSV_BOM, MEASURES, GroupStats, StatsQuery, alert_stats
from ecowarn.store.tokens import create_token, lookup_token

pytest_plugins = ("test_api_support",)

NOVEMBER = {"since": "2026-11-01T00:00:00+08:00", "until": "2026-12-01T00:00:00+08:00"}


def at(day: str, hm: str = "08:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{hm}:00+08:00")


@dataclass
class Fixture:
    alerts: dict[str, int]
    officer: str


async def _insert(conn: psycopg.AsyncConnection[Any], rule: str, enterprise: str | None, start: datetime, *,
                  status: str = "open", dispatched: datetime | None = None, disposition: str | None = None,
                  rectifying_from: str | None = None) -> int:
    decided = status in ("confirmed", "dismissed", "closed") or rectifying_from == "confirmed"
    cur = await conn.execute(
        "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity, status,"
        " summary, summary_zh, params, evidence, dispatched_at, due_at, decided_at, closed_at, disposition,"
        " rectifying_from)"
        " VALUES (%s, 'S', %s, ARRAY['D'], %s, %s, 'high', %s, 's', '摘要', %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (rule, enterprise, start, start + timedelta(minutes=30), status, Jsonb({}), Jsonb({}), dispatched,
         None if dispatched is None else dispatched + timedelta(days=3),
         start + timedelta(days=2) if decided else None,
         start + timedelta(days=3) if status == "closed" else None, disposition, rectifying_from))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _step(conn: psycopg.AsyncConnection[Any], alert: int, action: str, officer: int) -> None:
    await conn.execute(
        "INSERT INTO alert_events (alert_id, kind, action, actor_token, actor_role, public)"
        " VALUES (%s, 'transition', %s, %s, 'officer', true)", (alert, action, officer))


async def _answer(conn: psycopg.AsyncConnection[Any], alert: int, when: datetime, token: int) -> None:
    await conn.execute(
        "INSERT INTO alert_answers (alert_id, kind, body, author_token, author_role, created_at)"
        " VALUES (%s, 'explanation', '说明', %s, 'enterprise', %s)", (alert, token, when))


async def _rectification(conn: psycopg.AsyncConnection[Any], alert: int, enterprise: str, status: str,
                         due: str) -> None:
    decided = status in ("verified", "rejected", "withdrawn")
    await conn.execute(
        "INSERT INTO rectifications (alert_id, enterprise_id, rule, status, requirements, due_at, decided_at)"
        f" SELECT id, %s, rule, %s, '整改', {due}, %s FROM alerts WHERE id = %s",
        (enterprise, status, at("2026-11-25") if decided else None, alert))


@pytest.fixture
async def fixture(api: ApiEnv) -> Fixture:
    past, ahead = "now() - interval '1 day'", "now() + interval '5 days'"
    officer = await api.token("officer", None)
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        op = await lookup_token(conn, officer)
        assert op is not None
        o = op.token_id
        answerer = await create_token(conn, role="enterprise", enterprise_id=CEMENT)
        ap = await lookup_token(conn, answerer)
        assert ap is not None
        e = ap.token_id
        a: dict[str, int] = {}
        a["A1"] = await _insert(conn, "treatment_off", CEMENT, at("2026-11-03", "10:00"), status="closed",
                                dispatched=at("2026-11-03", "12:00"), disposition="case_filed")
        await _answer(conn, a["A1"], at("2026-11-03", "14:00"), e)
        for step in ("acknowledge", "dispatch", "confirm", "close"):
            await _step(conn, a["A1"], step, o)
        await _rectification(conn, a["A1"], CEMENT, "verified", past)
        a["A2"] = await _insert(conn, "treatment_off", CEMENT, at("2026-11-10"), status="confirmed",
                                dispatched=at("2026-11-10", "09:00"), disposition="first_offence_no_penalty")
        await _answer(conn, a["A2"], at("2026-11-11", "09:00"), e)
        await _answer(conn, a["A2"], at("2026-11-12", "09:00"), e)
        for step in ("acknowledge", "dispatch", "confirm"):
            await _step(conn, a["A2"], step, o)
        await _rectification(conn, a["A2"], CEMENT, "verified", past)
        a["A3"] = await _insert(conn, "data_gap", CEMENT, at("2026-11-15"), status="closed",
                                dispatched=at("2026-11-15", "09:00"), disposition="false_alarm")
        for step in ("acknowledge", "dispatch", "dismiss", "close"):
            await _step(conn, a["A3"], step, o)
        await _rectification(conn, a["A3"], CEMENT, "withdrawn", past)
        a["A4"] = await _insert(conn, "emission_exceedance", COKING, at("2026-11-30", "23:30"), status="rectifying",
                                dispatched=at("2026-12-01", "08:00"), rectifying_from="dispatched")
        await _answer(conn, a["A4"], at("2026-12-01", "14:00"), e)
        await _rectification(conn, a["A4"], COKING, "rejected", past)
        await _rectification(conn, a["A4"], COKING, "ordered", past)
        a["A5"] = await _insert(conn, "emission_exceedance", COKING, at("2026-12-01", "00:30"))
        a["A6"] = await _insert(conn, "treatment_off", GLASS, at("2026-11-05"), status="dismissed",
                                dispatched=at("2026-11-05", "10:00"))
        await _answer(conn, a["A6"], at("2026-11-05", "09:00"), e)
        for step in ("acknowledge", "dispatch", "dismiss"):
            await _step(conn, a["A6"], step, o)
        a["A7"] = await _insert(conn, "treatment_off", GLASS, at("2026-11-06"), status="superseded",
                                dispatched=at("2026-11-06", "09:00"))
        await _answer(conn, a["A7"], at("2026-11-06", "10:00"), e)
        a["A8"] = await _insert(conn, "air_hotspot", None, at("2026-11-07"))
        a["A9"] = await _insert(conn, "treatment_off", CEMENT, at("2026-10-31", "23:00"))
        a["A10"] = await _insert(conn, "data_gap", COKING, at("2026-11-20"), status="rectifying",
                                 dispatched=at("2026-11-20", "09:00"), rectifying_from="dispatched")
        await _rectification(conn, a["A10"], COKING, "submitted", ahead)
    return Fixture(a, officer)


def _by(body: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {i["group"]: i for i in body["items"]}


def _pick(item: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(item[n] for n in names)


COUNTS = ("alerts", "warned", "answered", "confirmed", "dismissed", "decided", "false_alarms", "first_offences",
          "rectifications", "rectifications_overdue")
RATES = ("answer_rate", "median_hours_to_answer", "confirmation_rate", "false_alarm_rate")


async def test_by_rule_for_november_matches_the_hand_count(api: ApiEnv, fixture: Fixture) -> None:
    """Per rule and in total, every measure of the November cohort (alerts started in November,
    China time; superseded ones left out) equals the hand count; rules are ordered by alerts."""
    r = await api.client.get("/api/v1/stats", params={"group_by": "rule", **NOVEMBER},
                             headers={"Authorization": f"Bearer {fixture.officer}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["group_by"] == "rule" and body["since"] == NOVEMBER["since"] and body["until"] == NOVEMBER["until"]
    assert [i["group"] for i in body["items"]] == ["treatment_off", "data_gap", "air_hotspot", "emission_exceedance"]
    g = _by(body)
    # A1, A2, A6
    assert _pick(g["treatment_off"], *COUNTS) == (3, 3, 3, 2, 1, 3, 0, 1, 2, 0)
    assert _pick(g["treatment_off"], *RATES) == (1.0, 2.0, 0.6667, 0.0)
    # A3, A10
    assert _pick(g["data_gap"], *COUNTS) == (2, 2, 0, 0, 1, 1, 1, 0, 2, 0)
    assert _pick(g["data_gap"], *RATES) == (0.0, None, 0.0, 1.0)
    # A4 (23:30 on 30 November in China is November)
    assert _pick(g["emission_exceedance"], *COUNTS) == (1, 1, 1, 0, 0, 0, 0, 0, 2, 1)
    assert _pick(g["emission_exceedance"], *RATES) == (1.0, 6.0, None, None)
    # A8, of no enterprise
    assert _pick(g["air_hotspot"], *COUNTS) == (1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert _pick(g["air_hotspot"], *RATES) == (None, None, None, None)
    assert g["treatment_off"]["rule"] == "treatment_off" and g["treatment_off"]["name"] == "治污设施未运行"
    # hours to answer 2, 24, 0, 6: median 4
    assert _pick(body["total"], *COUNTS) == (7, 6, 4, 2, 2, 4, 1, 1, 6, 1)
    assert _pick(body["total"], *RATES) == (0.6667, 4.0, 0.5, 0.25)
    assert list(body["items"][0])[:6] == ["group", "rule", "name", "name_en", "alerts", "warned"]


async def test_by_month_uses_the_calendar_month_in_china_time(api: ApiEnv, fixture: Fixture) -> None:
    """Without a period every alert but the superseded one counts; an alert starting at 00:30
    on 1 December in China (16:30 UTC on 30 November) is December's, one at 23:30 on
    30 November is November's."""
    r = await api.client.get("/api/v1/stats", params={"group_by": "month"},
                             headers={"Authorization": f"Bearer {fixture.officer}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(i["month"], i["alerts"]) for i in body["items"]] == [("2026-10", 1), ("2026-11", 7), ("2026-12", 1)]
    assert body["total"]["alerts"] == 9
    dec = _by(body)["2026-12"]
    assert _pick(dec, "warned", "answered", "rectifications") == (0, 0, 0)


async def test_period_is_the_same_as_since_and_until(api: ApiEnv, fixture: Fixture) -> None:
    """``period=2026-11`` counts exactly what since/until over November count; days stand for
    00:00 China time."""
    h = {"Authorization": f"Bearer {fixture.officer}"}
    by_period = (await api.client.get("/api/v1/stats", params={"group_by": "enterprise", "period": "2026-11"},
                                      headers=h)).json()
    by_days = (await api.client.get("/api/v1/stats", params={"group_by": "enterprise", "since": "2026-11-01",
                                                            "until": "2026-12-01"}, headers=h)).json()
    assert by_period["items"] == by_days["items"] and by_period["total"] == by_days["total"]
    assert by_period["period"] == "2026-11" and by_period["since"] == NOVEMBER["since"]
    g = _by(by_period)
    assert {k: v["alerts"] for k, v in g.items()} == {CEMENT: 3, COKING: 2, GLASS: 1, None: 1}
    assert g[CEMENT]["name"] == "石家庄某某水泥有限公司" and g[CEMENT]["enterprise_id"] == CEMENT
    assert g[None]["name_en"] == "no enterprise"
    assert _pick(g[COKING], *COUNTS) == (2, 2, 1, 0, 0, 0, 0, 0, 3, 1)


async def test_by_region_at_county_and_city_level(api: ApiEnv, fixture: Fixture) -> None:
    """Regions are the enterprises' division codes (county), or their first 4 digits (city);
    the air hotspot's alert has no region."""
    h = {"Authorization": f"Bearer {fixture.officer}"}
    county = (await api.client.get("/api/v1/stats", params={"group_by": "region", "period": "2026-11"},
                                   headers=h)).json()
    assert [(i["region"], i["alerts"]) for i in county["items"]] == [
        ("130105", 3), ("130182", 2), ("130627", 1), (None, 1)]
    city = (await api.client.get("/api/v1/stats", params={"group_by": "region", "period": "2026-11",
                                                          "region_digits": "4"}, headers=h)).json()
    assert [(i["region"], i["alerts"], i["confirmed"]) for i in city["items"]] == [
        ("1301", 5, 2), ("1306", 1, 0), (None, 1, 0)]


async def test_a_region_limited_officer_counts_only_its_region(api: ApiEnv, fixture: Fixture) -> None:
    """An officer limited to 1301 counts the cement plant's and the coking plant's alerts only:
    neither the glass works' (1306) nor the air hotspot's; a region filter narrows further and
    one outside the jurisdiction gives nothing."""
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role="officer", region="1301")
    h = {"Authorization": f"Bearer {token}"}
    body = (await api.client.get("/api/v1/stats", params={"group_by": "rule", "period": "2026-11"},
                                 headers=h)).json()
    assert {i["group"]: i["alerts"] for i in body["items"]} == {
        "treatment_off": 2, "data_gap": 2, "emission_exceedance": 1}
    assert body["total"]["alerts"] == 5
    coking = (await api.client.get("/api/v1/stats", params={"group_by": "rule", "period": "2026-11",
                                                            "region": "130182"}, headers=h)).json()
    assert coking["total"]["alerts"] == 2 and coking["region"] == "130182"
    outside = (await api.client.get("/api/v1/stats", params={"group_by": "rule", "region": "1306"},
                                    headers=h)).json()
    assert outside["items"] == [] and outside["total"]["alerts"] == 0
    assert outside["total"]["answer_rate"] is None


async def test_rule_filter(api: ApiEnv, fixture: Fixture) -> None:
    """``rule=`` keeps one rule's alerts (grouped by enterprise here)."""
    body = (await api.client.get("/api/v1/stats", params={"group_by": "enterprise", "period": "2026-11",
                                                          "rule": "treatment_off"},
                                 headers={"Authorization": f"Bearer {fixture.officer}"})).json()
    assert {i["group"]: i["alerts"] for i in body["items"]} == {CEMENT: 2, GLASS: 1}


async def test_csv_has_a_bom_a_header_and_one_row_per_group(api: ApiEnv, fixture: Fixture) -> None:
    """``Accept: text/csv`` (or ``format=csv``) answers CSV: a UTF-8 byte order mark (Excel),
    a header of every measure, one row per group with the same numbers as the JSON."""
    h = {"Authorization": f"Bearer {fixture.officer}"}
    r = await api.client.get("/api/v1/stats", params={"group_by": "rule", **NOVEMBER},
                             headers={**h, "Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("utf-8")
    assert text.startswith(CSV_BOM) and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["group_by", "group", "name", "name_en", *MEASURES]
    assert len(rows) == 5
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["group"] == "treatment_off" and row["name"] == "治污设施未运行"
    assert (row["alerts"], row["answer_rate"], row["median_hours_to_answer"], row["confirmation_rate"]) == (
        "3", "1.0", "2.0", "0.6667")
    air = dict(zip(rows[0], rows[3], strict=True))
    assert air["group"] == "air_hotspot" and air["answer_rate"] == "" and air["median_hours_to_answer"] == ""
    same = await api.client.get("/api/v1/stats", params={"group_by": "rule", "format": "csv", **NOVEMBER}, headers=h)
    assert same.content == r.content


@pytest.mark.parametrize(("params", "field"), [
    ({"since": "2026-12-01", "until": "2026-11-01"}, "query.until"),
    ({"period": "2026-11", "since": "2026-11-01"}, "query.period"),
    ({"period": "2026-13"}, "query.period"),
    ({"region_digits": "3"}, "query.region_digits"),
    ({"group_by": "week"}, "query.group_by"),
    ({"since": "2026-11-01T00:00:00"}, "query.since"),
    ({"region": "13x"}, "query.region"),
])
async def test_bad_filters_are_422_naming_the_field(api: ApiEnv, params: dict[str, str], field: str) -> None:
    """A filter that cannot be read is 422 naming it: until not after since, period with
    dates, an unknown period or region level or grouping, a time without offset, a bad region."""
    r = await api.client.get("/api/v1/stats", params=params, headers=await api.headers("officer"))
    assert r.status_code == 422, r.text
    assert field in [f["path"] for f in r.json()["fields"]]


async def test_only_officers_read_statistics(api: ApiEnv) -> None:
    """Statistics are the bureau's: enterprise, credit and ingest tokens are 403, no token 401."""
    for role, enterprise in (("enterprise", CEMENT), ("credit", None), ("ingest", None)):
        r = await api.client.get("/api/v1/stats", headers=await api.headers(role, enterprise))
        assert r.status_code == 403, role
    assert (await api.client.get("/api/v1/stats")).status_code == 401
    r = await api.client.get("/api/v1/stats", headers=await api.headers("officer"))
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"]["alerts"] == 0


async def test_overdue_is_judged_at_now(api: ApiEnv, fixture: Fixture) -> None:
    """The function counts a rectification overdue once its due time has passed at ``now``: the
    coking plant's ordered one (due yesterday) is not overdue two days ago, and the submitted one
    (due in five days) is overdue a week from now."""
    regions = {e.id: e.region for e in api.ctx.registry.enterprises.values()}
    q = StatsQuery(group_by="enterprise", enterprise_ids=[COKING])
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        now = datetime.now(CST)
        before = await alert_stats(conn, q, regions, now=now - timedelta(days=2))
        later = await alert_stats(conn, q, regions, now=now + timedelta(days=7))
        today = await alert_stats(conn, q, regions, now=now)
    assert (before.total.rectifications_overdue, today.total.rectifications_overdue,
            later.total.rectifications_overdue) == (0, 1, 2)
    assert before.total.rectifications == 3


def test_rates_have_no_value_without_a_denominator() -> None:
    """Rates are None with nothing to divide by, and rounded to 4 places otherwise; decided is
    confirmed plus dismissed."""
    g = GroupStats(key="x", alerts=3, warned=0, confirmed=1, dismissed=2, false_alarms=1)
    assert (g.answer_rate, g.decided, g.confirmation_rate, g.false_alarm_rate) == (None, 3, 0.3333, 0.3333)
    assert GroupStats(key=None).confirmation_rate is None
    with pytest.raises(ValueError):
        StatsQuery(group_by="rule", since=at("2026-11-02"), until=at("2026-11-01"))
