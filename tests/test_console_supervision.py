"""Console pages of supervision: the printable enterprise file (一企一档) and the statistics page,
in Chinese and English, scoped like the API; and both in headless Chromium, with screenshots kept
under test-artifacts/ (git-ignored) for a human to look at."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import psycopg
import pytest
from fix_browser import ARTIFACTS, CHROMIUM, NO_CHROMIUM, Browser, login_url, serve
from prometheus_client import CollectorRegistry
from test_api_support import CEMENT, COKING, GLASS, T0, ApiEnv
from test_stats import _answer, _insert, _rectification, _step, at

from ecowarn.api import create_app
from ecowarn.api._svg_bars import Series, bar_chart
from ecowarn.store.tokens import create_token, lookup_token

pytest_plugins = ("test_api_support",)


async def _page(api: ApiEnv, token: str, path: str, **params: str) -> httpx.Response:
    api.client.cookies.clear()
    return await api.client.get(path, params=params or None, headers={"Cookie": f"ecowarn_token={token}"})


def _text(r: httpx.Response) -> str:
    """The page's visible text, tags stripped, whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.text))


async def _november(api: ApiEnv) -> None:
    """A month of alerts over the three enterprises: treatment off answered and confirmed (one
    as a first offence), a false alarm, an exceedance with an overdue rectification, an open
    data gap, an answered but undecided one."""
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        officer = await lookup_token(conn, await create_token(conn, role="officer"))
        firm = await lookup_token(conn, await create_token(conn, role="enterprise", enterprise_id=CEMENT))
        assert officer is not None and firm is not None
        o, e = officer.token_id, firm.token_id
        for day, hours, first in (("2026-11-03", 2, False), ("2026-11-10", 20, True), ("2026-11-12", 5, False)):
            a = await _insert(conn, "treatment_off", CEMENT, at(day), status="confirmed", dispatched=at(day, "09:00"),
                              disposition="first_offence_no_penalty" if first else None)
            await _answer(conn, a, at(day, "09:00") + timedelta(hours=hours), e)
            for step in ("acknowledge", "dispatch", "confirm"):
                await _step(conn, a, step, o)
        a = await _insert(conn, "treatment_off", GLASS, at("2026-11-06"), status="closed",
                          dispatched=at("2026-11-06", "09:00"), disposition="false_alarm")
        for step in ("acknowledge", "dispatch", "dismiss", "close"):
            await _step(conn, a, step, o)
        a = await _insert(conn, "emission_exceedance", COKING, at("2026-11-18"), status="rectifying",
                          dispatched=at("2026-11-18", "10:00"), rectifying_from="dispatched")
        await _answer(conn, a, at("2026-11-19", "16:00"), e)
        await _rectification(conn, a, COKING, "ordered", "now() - interval '1 day'")
        await _insert(conn, "data_gap", COKING, at("2026-11-21"))
        a = await _insert(conn, "flatline", GLASS, at("2026-11-25"), status="dispatched", dispatched=at("2026-11-25"))
        await _answer(conn, a, at("2026-11-27"), e)


async def _file_data(api: ApiEnv) -> None:
    """The cement plant's file with an evaluation, a listing, an alert with an answer, an order
    and a learned baseline."""
    officer = await api.headers("officer")
    await api.insert_alert(start=T0, end=T0 + timedelta(minutes=25))
    r = await api.client.post("/api/v1/credit/evaluations", headers=officer, json={
        "enterprise_id": CEMENT, "kind": "initial", "catalog": "hebei_initial",
        "items": [{"item": "eia_approval", "points": -4, "note": "二期工程无环评批复"},
                  {"item": "facility_operation", "points": -5, "note": "布袋除尘器停运"},
                  {"item": "discharge_permit", "points": -4, "note": ""},
                  {"item": "completion_acceptance", "points": -3, "note": ""}]})
    assert r.status_code == 201, r.text
    r = await api.client.post("/api/v1/positive-list", headers=officer, json={
        "enterprise_id": CEMENT, "start": "2026-01-01", "end": "2026-12-31", "reason": "超低排放改造完成"})
    assert r.status_code == 201, r.text
    r = await api.client.post("/api/v1/emergency-orders", headers=officer, json={
        "enterprise_ids": [CEMENT], "measure": "limit", "limit_pct": 30,
        "start": (T0 - timedelta(days=1)).isoformat(), "end": (T0 + timedelta(days=1)).isoformat()})
    assert r.status_code == 201, r.text
    for k in range(3):
        await api.execute("INSERT INTO baselines (series, day_start, n, quantiles) VALUES (%s, %s, 600, %s)",
                          ("load:PWR-BAG-1", T0.replace(hour=0) - timedelta(days=k), [118.0 + k] * 64))


async def test_file_page_in_chinese_and_english(api: ApiEnv) -> None:
    """The file page shows the identity, the treatment stages with their alternatives, limits,
    the learned load, the order, the positive list, the evaluation's level and the alert, worded
    from the catalogs in Chinese and in English; it loads nothing from elsewhere."""
    await _file_data(api)
    officer = await api.token("officer")
    r = await _page(api, officer, f"/console/enterprises/{CEMENT}/file")
    assert r.status_code == 200, r.text
    text = _text(r)
    for expected in ("企业环境监管档案（一企一档）", "石家庄某某水泥有限公司", "统一社会信用代码", CEMENT,
                     "第 2 段：PWR-DS-1 或 PWR-DS-2", "颗粒物 10、二氧化硫 35、氮氧化物 50 mg/m³", "典型运行负荷",
                     "已学习，1800 个运行分钟，3 天", "限产 30%", "已列入：正面清单", "初次评价", "治污设施未运行",
                     "未登记排污许可证", "信用等级"):
        assert expected in text, expected
    assert re.search(r'id="file-level"><span class="big">B</span>', r.text)
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "<script" not in r.text and not re.search(r'(src|href)="https?://', r.text)
    en = _text(await _page(api, officer, f"/console/enterprises/{CEMENT}/file", lang="en"))
    for expected in ("Enterprise file", "Unified social credit code", "stage 2: PWR-DS-1 or PWR-DS-2",
                     "typical running load", "learned, 1800 running minutes over 3 days", "curtail by 30%",
                     "Listed: positive list", "initial", "Treatment off while production runs",
                     api.ctx.credit_model.catalogs["hebei_initial"].name.en,
                     "No discharge permit registered"):
        assert expected in en, expected


async def test_file_page_is_scoped_like_the_api(api: ApiEnv) -> None:
    """An enterprise session opens its own file and gets the same 404 for another's as for an
    unregistered id; a county officer only its county's; a credit session has no console; no
    session goes to the login page."""
    own = await api.token("enterprise", COKING)
    r = await _page(api, own, f"/console/enterprises/{COKING}/file")
    assert r.status_code == 200 and "91130182MA0DEM001G001P" in r.text and "王磊" in r.text
    foreign = await _page(api, own, f"/console/enterprises/{CEMENT}/file")
    absent = await _page(api, own, "/console/enterprises/91000000000000000X/file")
    assert foreign.status_code == absent.status_code == 404
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        county = await create_token(conn, role="officer", region="130627")
    assert (await _page(api, county, f"/console/enterprises/{GLASS}/file")).status_code == 200
    assert (await _page(api, county, f"/console/enterprises/{CEMENT}/file")).status_code == 404
    assert (await _page(api, await api.token("credit"), f"/console/enterprises/{CEMENT}/file")).status_code == 403
    api.client.cookies.clear()
    r = await api.client.get(f"/console/enterprises/{CEMENT}/file")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


async def test_stats_page_table_charts_and_csv(api: ApiEnv) -> None:
    """The statistics page for November by rule shows the hand-counted table (treatment off: 4
    alerts, 3 warned... 75% confirmed of the decided), five SVG charts, the rates-per-rule chart
    even when grouped otherwise, and a CSV link that downloads the same table with a BOM."""
    await _november(api)
    officer = await api.token("officer")
    r = await _page(api, officer, "/console/stats", period="2026-11", group_by="rule")
    assert r.status_code == 200, r.text
    row = re.search(r"<tr><td class=\"group\">治污设施未运行.*?</tr>", r.text, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(0))
    # alerts, warned, answered, answer rate, median h, confirmed, dismissed, conf. rate, false alarms,
    # false-alarm rate, first offences, rectifications, overdue
    assert cells == ["4", "4", "3", "75%", "5.0", "3", "1", "75%", "1", "25%", "1", "0", "0"]
    assert r.text.count("<svg") == 5 and "各规则的确认率与误报率" in r.text
    assert '<a href="/console/stats">统计分析</a>' in r.text  # the header's link
    total = re.search(r'<tr class="total">.*?</tr>', r.text, re.S)
    assert total is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', total.group(0))[:3] == ["7", "6", "5"]
    csv_link = re.search(r'href="(/console/stats\.csv[^"]*)"', r.text)
    assert csv_link is not None
    download = await _page(api, officer, csv_link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200 and download.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[1][:5] == ["rule", "treatment_off", "治污设施未运行", "Treatment off while production runs", "4"]

    by_enterprise = await _page(api, officer, "/console/stats", period="2026-11", group_by="enterprise", lang="en")
    assert by_enterprise.status_code == 200
    assert f'href="/console/enterprises/{CEMENT}/file?lang=en"' in by_enterprise.text
    assert by_enterprise.text.count("<svg") == 5 and "Confirmation and false-alarm rates per rule" in by_enterprise.text
    assert "Treatment off while production runs" in by_enterprise.text  # in the per-rule chart


async def test_stats_page_filters_and_scope(api: ApiEnv) -> None:
    """A filter that cannot be read is shown on the page (422) with the form; a county officer's
    page counts its county only; enterprise sessions have no statistics (403)."""
    await _november(api)
    officer = await api.token("officer")
    bad = await _page(api, officer, "/console/stats", since="2026-11-31", period="")
    assert bad.status_code == 422 and "筛选条件无效" in bad.text and 'id="stats-filters"' in bad.text
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        county = await create_token(conn, role="officer", region="130627")
    r = await _page(api, county, "/console/stats", period="2026-11", group_by="enterprise")
    assert r.status_code == 200
    assert "唐县某某玻璃制品有限公司" in r.text and "石家庄某某水泥有限公司" not in r.text
    assert (await _page(api, await api.token("enterprise", CEMENT), "/console/stats")).status_code == 403
    days = await _page(api, officer, "/console/stats", since="2026-11-01", until="2026-11-30", period="")
    assert days.status_code == 200 and "2026-11-01 00:00" in days.text and "2026-12-01 00:00" in days.text


# --- in a real browser ----------------------------------------------------------------------

@pytest.fixture
async def base_url(api: ApiEnv) -> AsyncIterator[str]:
    """The app of ``api`` served by uvicorn on a free loopback port."""
    async with serve(create_app(dataclasses.replace(api.ctx, metrics_registry=CollectorRegistry()))) as url:
        yield url


async def _shoot(browser: Browser, base: str, token: str, page: str, name: str, height: int) -> str:
    """The page's DOM as the browser built it; a full-page screenshot kept as ``name``."""
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    dom = await browser.dom_and_screenshot(login_url(base, token, page), shot, window=f"1280,{height}")
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return dom


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
async def test_file_and_stats_pages_in_headless_chromium(api: ApiEnv, base_url: str, browser: Browser) -> None:
    """Chromium renders the file page (its level, stages and the print layout's sections) and
    the statistics page (table and SVG bars) in both languages; screenshots are kept."""
    await _file_data(api)
    await _november(api)
    ARTIFACTS.mkdir(exist_ok=True)
    officer = await api.token("officer")
    page = f"/console/enterprises/{CEMENT}/file"
    dom = await _shoot(browser, base_url, officer, page, "console-enterprise-file.png", 3400)
    assert "企业环境监管档案" in dom and "第 2 段：PWR-DS-1 或 PWR-DS-2" in dom and 'id="level-history"' in dom
    dom = await _shoot(browser, base_url, officer, page + "?lang=en", "console-enterprise-file-en.png", 3400)
    assert "Enterprise file" in dom and "Level history" in dom
    stats = "/console/stats?period=2026-11&group_by=rule"
    dom = await _shoot(browser, base_url, officer, stats, "console-stats.png", 2600)
    assert "统计分析" in dom and dom.count("<svg") == 5 and "<rect" in dom and "答复率" in dom
    dom = await _shoot(browser, base_url, officer, stats + "&lang=en", "console-stats-en.png", 2600)
    assert "Answer rate" in dom and dom.count("<svg") == 5
    dom = await _shoot(browser, base_url, officer, "/console/stats?period=2026-11&group_by=enterprise",
                       "console-stats-enterprise.png", 2600)
    assert "石家庄某某水泥有限公司" in dom


def test_bar_chart_scales_bars_and_marks_missing_values() -> None:
    """Bars are proportional to their values on a round axis (whole-number ticks for counts),
    a missing value is a dash without a bar, and labels are escaped and shortened to fit."""
    svg = str(bar_chart(["<b>甲</b>", "乙" * 40], [Series("n", [5, None])], title="t", empty_label="e",
                        integer=True))
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)" height="12"', svg)]
    assert len(widths) == 1 and abs(widths[0] - 584 * 5 / 6) < 0.1  # plot 584 px wide, axis to 6
    assert ">–</text>" in svg and "&lt;b&gt;甲&lt;/b&gt;" in svg and "<b>" not in svg
    assert re.search(r">乙+…</text>", svg) and 'class="tick">2</text>' in svg and ">2.5<" not in svg
    empty = str(bar_chart([], [Series("n", [])], title="t", empty_label="无数据"))
    assert 'class="empty">无数据</text>' in empty
