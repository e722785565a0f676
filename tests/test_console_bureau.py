"""The bureau's overview, map, search and CSV exports in the console, over a hand-counted
set of alerts, rectifications, credit deductions and today's readings."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from test_api_support import CEMENT, COKING, GLASS, ApiEnv

from ecowarn.api._console_bureau_db import local_midnight
from ecowarn.credit.chain import lock_chain, next_slot
from ecowarn.credit.ledger import append_entry
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

PAST = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


async def _as(api: ApiEnv, role: str = "officer", *, region: str | None = None,
              enterprise_id: str | None = None) -> None:
    """Log the client in with a new token (a region-limited officer with ``region``)."""
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role=role, region=region, enterprise_id=enterprise_id)
    api.client.cookies.clear()
    assert (await api.client.get("/console/login", params={"token": token})).status_code == 303


async def _alert(api: ApiEnv, rule: str, enterprise_id: str | None, severity: str, status: str, *,
                 device_ids: tuple[str, ...] = ("PWR-KILN-1",), due_ago_h: float | None = None,
                 answered: bool = False) -> int:
    alert_id = await api.insert_alert(rule=rule, enterprise_id=enterprise_id, device_ids=device_ids,
                                      summary=f"{rule} {severity} {status}", summary_zh=f"{rule}·{severity}·{status}")
    due = None if due_ago_h is None else datetime.now(UTC) - timedelta(hours=due_ago_h)
    await api.execute("UPDATE alerts SET severity = %s, status = %s, due_at = %s, disposition = %s WHERE id = %s",
                      (severity, status, due, "explanation_accepted" if status == "closed" else None, alert_id))
    if answered:
        await api.token("enterprise", enterprise_id)
        await api.execute(
            "INSERT INTO alert_answers (alert_id, enterprise_id, kind, body, author_token, author_role)"
            " SELECT %s, %s, 'explanation', 'we explain', max(id), 'enterprise' FROM api_tokens",
            (alert_id, enterprise_id))
    return alert_id


async def _rectification(api: ApiEnv, alert_id: int, enterprise_id: str, *, due_in_h: float,
                         status: str = "ordered") -> int:
    decided = datetime.now(UTC) if status in ("verified", "rejected") else None
    rows = await api.execute(
        "INSERT INTO rectifications (alert_id, enterprise_id, rule, status, requirements, due_at, decided_at)"
        " VALUES (%s, %s, 'treatment_off', %s, 'fix it', %s, %s) RETURNING id",
        (alert_id, enterprise_id, status, datetime.now(UTC) + timedelta(hours=due_in_h), decided))
    return int(rows[0][0])


async def _deduct(api: ApiEnv, enterprise_id: str, points: int) -> None:
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn, conn.transaction():
        await lock_chain(conn)
        slot = await next_slot(conn)
        await append_entry(conn, slot, enterprise_id=enterprise_id, entry_type="deduction", points=-points,
                           occurred_at=slot.now, reason="test", actor={"role": "test"})


class World:
    """What the fixture below inserted, counted by hand:

    open alerts (any status but closed/superseded), by (rule, severity):
      treatment_off/high: cement 2 (open) + coking 2 (dispatched) = 4
      flatline/medium: cement 1 (acknowledged); emission_exceedance/low: glass 1 (open);
      air_hotspot/medium: 1 (no enterprise, station AQ-0001) -> 7 open in all
      not counted: cement treatment_off/high closed, cement superseded
    answers overdue: coking dispatched, due 2 h ago, no answer = 1 (the other is answered,
      the glass alert is due in the future)
    rectifications overdue: cement (due 1 h ago, ordered) and coking (due 3 h ago, submitted)
      = 2; not: cement verified past due, glass due tomorrow
    credit (Hebei A-E): cement 100 A, coking 100 - 20 = 80 B, glass 100 - 55 = 45 D
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}


async def _world(api: ApiEnv) -> World:
    w = World()
    w.ids["cement_open_1"] = await _alert(api, "treatment_off", CEMENT, "high", "open")
    w.ids["cement_open_2"] = await _alert(api, "treatment_off", CEMENT, "high", "open")
    w.ids["cement_flat"] = await _alert(api, "flatline", CEMENT, "medium", "acknowledged",
                                        device_ids=("13010500000001",))
    w.ids["cement_closed"] = await _alert(api, "treatment_off", CEMENT, "high", "closed")
    w.ids["cement_superseded"] = await _alert(api, "flatline", CEMENT, "low", "superseded",
                                              device_ids=("13010500000001",))
    w.ids["coking_late"] = await _alert(api, "treatment_off", COKING, "high", "dispatched",
                                        device_ids=("PWR-COKE-1",), due_ago_h=2)
    w.ids["coking_answered"] = await _alert(api, "treatment_off", COKING, "high", "dispatched",
                                            device_ids=("PWR-COKE-1",), due_ago_h=2, answered=True)
    w.ids["glass_open"] = await _alert(api, "emission_exceedance", GLASS, "low", "dispatched",
                                       device_ids=("13062700000001",), due_ago_h=-24)
    w.ids["station"] = await _alert(api, "air_hotspot", None, "medium", "open", device_ids=("AQ-0001",))
    w.ids["rect_cement_late"] = await _rectification(api, w.ids["cement_open_1"], CEMENT, due_in_h=-1)
    w.ids["rect_coking_late"] = await _rectification(api, w.ids["coking_late"], COKING, due_in_h=-3,
                                                     status="submitted")
    w.ids["rect_cement_done"] = await _rectification(api, w.ids["cement_closed"], CEMENT, due_in_h=-5,
                                                     status="verified")
    w.ids["rect_glass"] = await _rectification(api, w.ids["glass_open"], GLASS, due_in_h=24)
    await _deduct(api, COKING, 20)
    await _deduct(api, GLASS, 55)
    return w


def _links(html: str, section: str) -> dict[str, str]:
    """href -> text of the links inside the overview's ``<section id=...>``."""
    m = re.search(rf'<section[^>]*id="{section}".*?</section>', html, re.S)
    assert m, f"no section {section}"
    return {href.replace("&amp;", "&"): text for href, text in re.findall(r'<a[^>]*href="([^"]+)"[^>]*>([^<]*)</a>',
                                                                           m.group(0))}


def _alert_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'href="/console/alerts/(\d+)', html)}


async def test_overview_counts_match_the_hand_count_and_each_number_links_to_its_items(api: ApiEnv) -> None:
    """The overview's open alerts by rule and severity, overdue answers and rectifications and
    enterprises by level equal the hand count of :class:`World`; following each link lists
    exactly the alerts (or rectifications, enterprises) that the number counts."""
    w = await _world(api)
    await _as(api)
    page = await api.client.get("/console/overview")
    assert page.status_code == 200 and "辖区总览" in page.text
    opened = _links(page.text, "open-alerts")
    cell = "/console?rule=treatment_off&severity=high&status=active"
    assert opened[cell] == "4"
    assert opened["/console?rule=flatline&severity=medium&status=active"] == "1"
    assert opened["/console?rule=emission_exceedance&severity=low&status=active"] == "1"
    assert opened["/console?rule=air_hotspot&severity=medium&status=active"] == "1"
    assert opened["/console?status=active"] == "7"
    assert opened["/console?severity=high&status=active"] == "4"
    listed = await api.client.get(cell)
    assert _alert_ids(listed.text) == {w.ids[k] for k in ("cement_open_1", "cement_open_2", "coking_late",
                                                          "coking_answered")}
    every = await api.client.get("/console?status=active")
    assert len(_alert_ids(every.text)) == 7 and w.ids["cement_closed"] not in _alert_ids(every.text)

    late = _links(page.text, "overdue")
    assert late["/console?answer=overdue"] == "1"
    assert late["/console/rectifications?overdue=true"] == "2"
    answers = await api.client.get("/console?answer=overdue")
    assert _alert_ids(answers.text) == {w.ids["coking_late"]}
    rects = await api.client.get("/console/rectifications?overdue=true")
    found = {int(i) for i in re.findall(r"#rectification-(\d+)", rects.text)}
    assert found == {w.ids["rect_cement_late"], w.ids["rect_coking_late"]}

    levels = _links(page.text, "credit-levels")
    assert [levels[f"/console/enterprises?level={lv}"] for lv in "ABCDE"] == ["1", "1", "0", "1", "0"]
    b_list = await api.client.get("/console/enterprises?level=B")
    assert COKING in b_list.text and CEMENT not in b_list.text and GLASS not in b_list.text

    english = await api.client.get("/console/overview", params={"lang": "en"})
    assert "Jurisdiction overview" in english.text and "Answers overdue" in english.text
    assert _links(english.text, "open-alerts")["/console?rule=treatment_off&severity=high&status=active&lang=en"] == "4"


async def test_a_county_officer_counts_only_its_county(api: ApiEnv) -> None:
    """An officer limited to 130105 (the cement works) counts the cement works' open alerts
    (2 treatment_off/high, 1 flatline/medium), its one overdue rectification, one enterprise
    at level A, and neither the coking plant's overdue answer nor the station."""
    await _world(api)
    await _as(api, region="130105")
    page = await api.client.get("/console/overview")
    assert "130105" in page.text
    opened = _links(page.text, "open-alerts")
    assert opened["/console?rule=treatment_off&severity=high&status=active"] == "2"
    assert opened["/console?status=active"] == "3"
    assert not any("air_hotspot" in href for href in opened)
    late = _links(page.text, "overdue")
    assert late["/console?answer=overdue"] == "0" and late["/console/rectifications?overdue=true"] == "1"
    levels = _links(page.text, "credit-levels")
    assert [levels[f"/console/enterprises?level={lv}"] for lv in "ABCDE"] == ["1", "0", "0", "0", "0"]
    assert "空气质量微站" not in page.text  # stations are not the county's


async def test_todays_completeness_counts_distinct_minutes_per_device_kind(api: ApiEnv) -> None:
    """Readings of today: the cement CEMS in 30 distinct minutes (two metrics each minute count
    once), the coking CEMS in 10, one reading of yesterday not at all; the overview's CEMS row
    says 40 device-minutes received of 3 devices x elapsed minutes, and its page lists the
    devices with their minutes, worst first."""
    def elapsed() -> int:
        now = datetime.now(UTC)
        return int((now - local_midnight(now)) // timedelta(minutes=1))

    before = elapsed()
    if before < 32:
        pytest.skip("the first half hour after midnight (China time) has too few minutes for this fixture")
    midnight = local_midnight(datetime.now(UTC))
    await api.insert_readings("13010500000001", "so2", midnight, [1.0] * 30)
    await api.insert_readings("13010500000001", "nox", midnight + timedelta(seconds=20), [2.0] * 30)
    await api.insert_readings("13018200000001", "so2", midnight + timedelta(minutes=5), [1.0] * 10)
    await api.insert_readings("13018200000001", "so2", midnight - timedelta(minutes=3), [1.0])
    await _as(api)
    page = await api.client.get("/console/overview")
    after = elapsed()
    section = re.search(r'<section[^>]*id="completeness".*?</section>', page.text, re.S)
    assert section
    row = re.search(r"<td>烟气排放口（CEMS）</td><td class=\"n\">(\d+)</td><td class=\"n\">(\d+)</td>\s*"
                    r"<td class=\"n\">(\d+)</td>", section.group(0))
    assert row, section.group(0)
    devices, expected, received = (int(g) for g in row.groups())
    minutes = expected // 3
    assert devices == 3 and expected == 3 * minutes and before <= minutes <= after and received == 40
    detail = await api.client.get("/console/overview/completeness", params={"kind": "cems"})
    ids = re.findall(r'<td><a href="[^"]+">([^<]+)</a></td>', detail.text)
    assert ids == ["13062700000001", "13018200000001", "13010500000001"]
    shown = re.findall(r"<td>(\d+) / (\d+)</td>", detail.text)
    assert [int(n) for n, _ in shown] == [0, 10, 30]
    assert all(before <= int(of) <= elapsed() for _, of in shown)
    assert (await api.client.get("/console/overview/completeness", params={"kind": "nope"})).status_code == 404


async def test_search_finds_by_name_code_device_and_mn_within_scope(api: ApiEnv) -> None:
    """The header's search finds an enterprise by name and by credit code, a device by id and
    a CEMS by its MN; a county officer of 130105 does not find the coking plant or its
    devices, nor the air stations; what was typed is shown escaped; enterprises cannot search."""
    await _as(api)
    page = await api.client.get("/console/overview")
    assert 'action="/console/search"' in page.text
    by_name = await api.client.get("/console/search", params={"q": "焦化"})
    assert "石家庄某某焦化有限公司" in by_name.text and f"/console/enterprises/{COKING}/file" in by_name.text
    by_code = await api.client.get("/console/search", params={"q": CEMENT[:10].lower()})
    assert "石家庄某某水泥有限公司" in by_code.text and "统一社会信用代码" in by_code.text
    by_device = await api.client.get("/console/search", params={"q": "PWR-DESOX"})
    assert "脱硫塔" in by_device.text and "石家庄某某焦化有限公司" in by_device.text
    by_mn = await api.client.get("/console/search", params={"q": "13018200000002"})
    assert "DW001" in by_mn.text
    station = await api.client.get("/console/search", params={"q": "AQ-000"})
    assert "AQ-0001" in station.text

    await _as(api, region="130105")
    for q in ("焦化", COKING, "PWR-DESOX", "13018200000002", "AQ-000"):
        r = await api.client.get("/console/search", params={"q": q})
        assert r.status_code == 200 and "石家庄某某焦化有限公司" not in r.text and "AQ-0001" not in r.text
        assert "没有与" in r.text, q
    mine = await api.client.get("/console/search", params={"q": "水泥", "lang": "en"})
    assert "石家庄某某水泥有限公司" in mine.text and "Results for" in mine.text
    short = await api.client.get("/console/search", params={"q": "c"})
    assert "至少 2 个字符" in short.text
    markup = await api.client.get("/console/search", params={"q": "<b>cement"})
    assert "&lt;b&gt;cement" in markup.text and "<b>cement" not in markup.text

    await _as(api, "enterprise", enterprise_id=CEMENT)
    assert (await api.client.get("/console/search", params={"q": "cement"})).status_code == 403
    assert 'action="/console/search"' not in (await api.client.get("/console")).text


def _csv(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 byte order mark, for Excel
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))


async def test_csv_exports_honour_the_filters_and_the_language(api: ApiEnv) -> None:
    """The alert list, the queue, the enterprise list and the rectification ledger download as
    CSV with a BOM, Chinese headers and values in zh and English in en, with exactly the rows
    of the filtered list; text that would run as a formula is kept as text."""
    w = await _world(api)
    await _as(api)
    listing = await api.client.get("/console", params={"rule": "treatment_off", "status": "active"})
    assert 'href="/console?rule=treatment_off&amp;status=active&amp;format=csv"' in listing.text
    rows = _csv(await api.client.get("/console", params={"rule": "treatment_off", "status": "active",
                                                         "format": "csv"}))
    assert rows[0] == ["编号", "规则", "企业", "统一社会信用代码", "行政区划", "设备", "开始时间（北京时间）",
                       "结束时间（北京时间）", "级别", "状态", "摘要"]
    assert {int(r[0]) for r in rows[1:]} == {w.ids[k] for k in ("cement_open_1", "cement_open_2", "coking_late",
                                                               "coking_answered")}
    first = next(r for r in rows[1:] if int(r[0]) == w.ids["coking_late"])
    assert first[1:5] == ["治污设施未运行", "石家庄某某焦化有限公司", COKING, "130182"] and first[8] == "高"
    english = _csv(await api.client.get("/console", params={"answer": "overdue", "format": "csv", "lang": "en"}))
    assert english[0][:3] == ["ID", "Rule", "Enterprise"]
    assert [int(r[0]) for r in english[1:]] == [w.ids["coking_late"]]

    page = await api.client.get("/console/queue", params={"region": "130182"})
    assert 'href="/console/queue?region=130182&amp;format=csv"' in page.text
    queue = _csv(await api.client.get("/console/queue", params={"region": "130182", "format": "csv"}))
    assert queue[0][:3] == ["编号", "风险分", "规则"]
    assert {int(r[0]) for r in queue[1:]} == {w.ids["coking_late"], w.ids["coking_answered"]}
    late = next(r for r in queue[1:] if int(r[0]) == w.ids["coking_late"])
    assert late[queue[0].index("是否逾期")] == "是" and late[queue[0].index("企业答复数")] == "0"

    ents = _csv(await api.client.get("/console/enterprises", params={"level": "D", "format": "csv", "lang": "en"}))
    assert ents == [["Enterprise", "Credit code", "Division code", "Industry", "Credit score", "Credit level"],
                    ["唐县某某玻璃制品有限公司", GLASS, "130627", "glass", "45", "D"]]

    rects = _csv(await api.client.get("/console/rectifications", params={"overdue": "true", "format": "csv"}))
    assert rects[0][:3] == ["编号", "预警编号", "规则"]
    assert {int(r[0]) for r in rects[1:]} == {w.ids["rect_cement_late"], w.ids["rect_coking_late"]}
    assert {r[rects[0].index("是否逾期")] for r in rects[1:]} == {"是"}

    await api.execute("UPDATE rectifications SET requirements = '=HYPERLINK(\"http://x\")' WHERE id = %s",
                      (w.ids["rect_glass"],))
    glass = _csv(await api.client.get("/console/rectifications", params={"enterprise_id": GLASS, "format": "csv"}))
    assert glass[1][glass[0].index("整改要求")] == "'=HYPERLINK(\"http://x\")"  # text, not a formula

    await _as(api, region="130105")
    scoped = _csv(await api.client.get("/console", params={"status": "active", "format": "csv"}))
    assert {r[3] for r in scoped[1:]} == {CEMENT}


async def test_map_draws_every_visible_point_with_links_and_no_external_asset(api: ApiEnv) -> None:
    """The map is one inline SVG: a square per enterprise linking to its file (coloured by its
    level, ringed by its worst open alert), a triangle per outlet with coordinates, a dot per
    air station linking to its alerts, a scale bar and a north arrow; nothing is loaded from
    elsewhere; a county officer's map has its county's firm only, no stations."""
    w = await _world(api)
    await _as(api)
    page = await api.client.get("/console/map")
    assert page.status_code == 200 and page.text.count("<svg") >= 1
    svg = re.search(r'<svg[^>]*class="map".*?</svg>', page.text, re.S)
    assert svg
    body = svg.group(0)
    assert body.count('class="marker marker-square"') == 3
    assert body.count('class="marker marker-triangle"') == 4
    assert body.count('class="marker marker-circle"') == 5
    assert f'href="/console/enterprises/{COKING}/file"' in body
    assert 'href="/console?device_id=AQ-0001"' in body
    assert 'class="scale"' in body and 'class="north"' in body and "千米" in body
    assert "行政区划边界" in page.text  # says that boundaries are not drawn
    station = await api.client.get("/console?device_id=AQ-0001")  # where the station's dot leads
    assert _alert_ids(station.text) == {w.ids["station"]}
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page.text and "<script" not in page.text
    # the cement works: level A (green) with a high open alert (red ring)
    cement = re.search(rf'href="/console/enterprises/{CEMENT}/file" class="marker marker-square">'
                       r'<title>([^<]*)</title><rect [^>]*stroke="([^"]+)"[^>]*class="ring"/>'
                       r'<rect [^>]*fill="([^"]+)"', body)
    assert cement and cement.group(2) == "#c62828" and cement.group(3) == "#1b5e20"
    assert "信用等级 A" in cement.group(1) and "未办结预警最高级别：高" in cement.group(1)
    # every firm has an open alert (a ring); outlets and stations are filled by their worst one
    assert body.count('class="ring"') == 3
    outlets = dict(re.findall(r'<title>[^<]*\((\d{14})\)[^<]*</title><path [^>]*fill="([^"]+)"', body))
    assert outlets == {"13010500000001": "#ef6c00", "13018200000001": "#ffffff", "13018200000002": "#ffffff",
                       "13062700000001": "#f9a825"}
    stations = dict(re.findall(r'<title>[^<]*\((AQ-\d{4})\)[^<]*</title><circle [^>]*fill="([^"]+)"', body))
    assert stations["AQ-0001"] == "#ef6c00" and stations["AQ-0002"] == "#64b5f6"

    await _as(api, region="130105")
    county = await api.client.get("/console/map", params={"lang": "en"})
    assert county.text.count('class="marker marker-square"') == 1
    assert 'marker-circle' not in county.text and "石家庄某某焦化有限公司" not in county.text
    assert "No administrative boundaries" in county.text
