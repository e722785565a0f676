"""The bureau's overview and map in headless Chromium (tests/fix_browser.py), against the app
served on 127.0.0.1, over the hand-counted world of tests/test_console_bureau.py.
Screenshots are kept under test-artifacts/ (console-overview.png, console-overview-en.png,
console-map.png) for a human to look at. Without a ``chromium`` binary the test is skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fix_browser import ARTIFACTS, CHROMIUM, NO_CHROMIUM, Browser, login_url
from test_api_support import CEMENT, ApiEnv

# base_url is a fixture: imported for pytest to find, not used by name.
from test_console_browser import base_url  # noqa: F401
from test_console_bureau import _world

from ecowarn.api._console_bureau_db import local_midnight

pytest_plugins = ("test_api_support",)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)


async def test_overview_in_chromium_and_its_links_lead_to_the_counted_items(
        api: ApiEnv, base_url: str, browser: Browser) -> None:  # noqa: F811
    """Chromium shows the overview in Chinese and English with the hand-counted numbers (4
    treatment_off/high, 7 open, 1 answer overdue, 2 rectifications overdue, levels A1 B1 D1),
    following the 4 opens the alert list with exactly 4 rows, and the screenshots are kept."""
    await _world(api)
    midnight = local_midnight(datetime.now(UTC))
    await api.insert_readings("13010500000001", "so2", midnight, [1.0] * 30)
    officer = await api.token("officer")
    ARTIFACTS.mkdir(exist_ok=True)
    async with browser.context(1280, 1000) as tab:
        await tab.goto(login_url(base_url, officer, "/console/overview"))
        text = await tab.text("main")
        assert "辖区总览" in text and "企业逾期未答复" in text and "今日数据完整率" in text
        cells = await tab.js("JSON.stringify([...document.querySelectorAll('#open-alerts tbody a')]"
                             ".map(a => a.textContent))")
        assert sorted(json.loads(cells), key=int)[-1] == "4"
        assert await tab.text("#answers-overdue") == "1" and await tab.text("#rectifications-overdue") == "2"
        nav = await tab.js("document.querySelector('header a').textContent")
        assert nav == "总览"  # the officers' first link
        await tab.full_shot("console-overview.png")
        href = await tab.js("document.querySelector('#open-alerts a[href*=\"severity=high\"]').href")
        await tab.goto(str(href))
        rows = await tab.js("document.querySelectorAll('#alerts tbody tr').length")
        assert rows == 4
        await tab.goto(f"{base_url}/console/overview?lang=en")
        text = await tab.text("main")
        assert "Jurisdiction overview" in text and "Answers overdue" in text and "Stack outlets (CEMS)" in text
        await tab.full_shot("console-overview-en.png")


async def test_map_in_chromium_keeps_every_marker_inside_the_drawing(
        api: ApiEnv, base_url: str, browser: Browser) -> None:  # noqa: F811
    """The map draws 3 enterprises, 4 outlets and 5 stations, every marker's box inside the
    SVG's, with a legend, a scale bar and a north arrow; a click on the cement works opens its
    file. The screenshot is kept."""
    await _world(api)
    officer = await api.token("officer")
    ARTIFACTS.mkdir(exist_ok=True)
    async with browser.context(1280, 1100) as tab:
        await tab.goto(login_url(base_url, officer, "/console/map"))
        boxes = json.loads(str(await tab.js(
            "JSON.stringify((() => { const svg = document.querySelector('svg.map').getBoundingClientRect();"
            " return [...document.querySelectorAll('svg.map a.marker')].map(a => {"
            " const m = a.querySelector('rect,path,circle').getBoundingClientRect();"
            " return [a.getAttribute('class'), m.left >= svg.left && m.right <= svg.right &&"
            " m.top >= svg.top && m.bottom <= svg.bottom]; }); })())")))
        kinds = [k for k, _ in boxes]
        assert (kinds.count("marker marker-square"), kinds.count("marker marker-triangle"),
                kinds.count("marker marker-circle")) == (3, 4, 5)
        assert all(inside for _, inside in boxes)
        assert await tab.js("!!document.querySelector('svg.map .scale') && !!document.querySelector('svg.map .north')")
        assert "图例" in await tab.text("main")
        await tab.full_shot("console-map.png")
        href = await tab.js(f"document.querySelector('svg.map a[href*=\"{CEMENT}\"]').getAttribute('href')")
        await tab.goto(f"{base_url}{href}")
        assert "石家庄某某水泥有限公司" in await tab.text("main")
