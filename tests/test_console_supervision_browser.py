"""The bureau's month in a real browser: evaluate a firm, put it on the positive list, draw
this month's remote spot checks and see who is due on-site, in headless Chromium against the
app served on 127.0.0.1.

The forms are posted over HTTP to the served app with the session's cookie and form token
(what the browser sends), and every page is then opened in the session's one Chromium
(tests/fix_browser.py), in Chinese and in English. Screenshots are kept under
test-artifacts/ (git-ignored) for a human to look at. Without a ``chromium`` binary the test
is skipped (``./dev test`` installs it).
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fix_browser import ARTIFACTS, CHROMIUM, NO_CHROMIUM, Browser, login_url
from test_api_support import CEMENT, COKING, GLASS, ApiEnv

# base_url is a fixture: imported for pytest to find, not used by name.
from test_console_browser import base_url  # noqa: F401

from ecowarn.credit.supervision import today_cst

pytest_plugins = ("test_api_support",)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)


def _form_token(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert m, "no form token on the page"
    return m.group(1)


async def _shots(browser: Browser, base: str, token: str, page: str, name: str, *, tall: bool = False) -> str:
    """The page's DOM in Chromium, and a screenshot of it in ``test-artifacts/<name>.png``."""
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    dom = await browser.dom_and_screenshot(login_url(base, token, page), shot,
                                           window="1280,2400" if tall else "1280,1000")
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return dom


async def test_bureau_month_in_headless_chromium(
        api: ApiEnv, base_url: str, browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    """An officer records a firm's initial evaluation with two problems, lists a firm on the
    positive list and draws this month's remote spot checks; Chromium shows the evaluation
    form, the saved evaluation with its level history and printable report, the positive list,
    the plan with the draws, and the draw with its seed and the check that re-runs it, in
    Chinese and English; screenshots are kept."""
    officer = await api.token("officer")
    await api.execute("UPDATE api_tokens SET label = '执法支队 王芳' WHERE role = 'officer'")
    ARTIFACTS.mkdir(exist_ok=True)
    month = today_cst().strftime("%Y-%m")
    async with httpx.AsyncClient(base_url=base_url) as http:
        assert (await http.get("/console/login", params={"token": officer})).status_code == 303
        csrf = _form_token((await http.get("/console/credit/evaluations/new")).text)
        r = await http.post("/console/credit/evaluations/new", data={
            "csrf": csrf, "enterprise_id": COKING, "catalog": "hebei_initial", "kind": "initial",
            "points.eia_approval": "4", "note.eia_approval": "焦炉煤气净化项目未办理环评手续",
            "evidence.eia_approval": "现场检查笔录 2026-047；项目立项文件",
            "points.emission_standard": "7", "note.emission_standard": "颗粒物小时均值超标 3 次",
            "points.noise": "0", "note.noise": "厂界噪声达标"})
        assert r.status_code == 303, r.text
        evaluation = int(re.search(r"/evaluations/(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
        r = await http.post("/console/positive-list", data={
            "csrf": csrf, "enterprise_id": CEMENT, "list": "positive", "start": today_cst().isoformat(),
            "reason": "连续三年无环境违法记录，在线监测数据稳定达标"})
        assert r.status_code == 303, r.text
        r = await http.post("/console/supervision/draws", data={
            "csrf": csrf, "region": "13", "period": month, "kind": "remote", "count": "2"})
        assert r.status_code == 303, r.text
        draw = int(r.headers["location"].rsplit("/", 1)[1])
        # Refusals come back as the page with the reasons beside the form (kept as files to look at).
        refused = {
            "evaluation-refused": await http.post("/console/credit/evaluations/new", data={
                "csrf": csrf, "enterprise_id": GLASS, "catalog": "hebei_initial", "kind": "initial",
                "points.eia_approval": "9", "note.eia_approval": "未批先建", "points.fugitive": "x"}),
            "evaluation-second-initial": await http.post("/console/credit/evaluations/new", data={
                "csrf": csrf, "enterprise_id": COKING, "catalog": "hebei_initial", "kind": "initial",
                "points.noise": "1"}),
            "evaluation-refused-en": await http.post("/console/credit/evaluations/new?lang=en", data={
                "csrf": csrf, "enterprise_id": GLASS, "catalog": "hebei_initial", "kind": "initial",
                "points.noise": "3", "points.fugitive": "x"}),
            "positive-list-refused": await http.post("/console/positive-list", data={
                "csrf": csrf, "enterprise_id": GLASS, "start": "2026-12-10", "end": "2026-12-01", "reason": "守法"}),
            "draw-refused-en": await http.post("/console/supervision/draws?lang=en", data={
                "csrf": csrf, "period": "2026-13", "kind": "remote", "count": "2"}),
        }
    assert [r.status_code for r in refused.values()] == [422, 409, 422, 422, 422]
    for name, response in refused.items():
        saved = tmp_path / f"{name}.html"
        saved.write_text(response.text, encoding="utf-8")
        shot = ARTIFACTS / f"console-{name}.png"
        await browser.screenshot(saved.as_uri(), shot, window="1280,1400")
        assert shot.stat().st_size > 10_000

    form = await _shots(browser, base_url, officer, f"/console/credit/evaluations/new?enterprise_id={GLASS}",
                        "console-evaluation-form", tall=True)
    assert "记录信用评价" in form and "环评与排污许可手续" in form and form.count('type="number"') == 37
    form_en = await _shots(browser, base_url, officer,
                           f"/console/credit/evaluations/new?enterprise_id={GLASS}&lang=en",
                           "console-evaluation-form-en", tall=True)
    assert "Permits and procedures" in form_en and "Save the evaluation" in form_en

    page = f"/console/credit/evaluations/{evaluation}"
    dom = await _shots(browser, base_url, officer, page, "console-evaluation", tall=True)
    assert "焦炉煤气净化项目未办理环评手续" in dom and "基础分 100，扣 11 分，加 0 分，得分 89" in dom
    assert "执法支队 王芳" in dom and 'id="level-history"' in dom
    dom = await _shots(browser, base_url, officer, page + "?lang=en", "console-evaluation-en", tall=True)
    assert "base 100, 11 deducted, 0 added: score 89" in dom and "Open the printable evaluation report" in dom
    dom = await _shots(browser, base_url, officer, page + "/report", "console-evaluation-report", tall=True)
    assert "企业生态环境信用初次评价报告" in dom and "颗粒物小时均值超标 3 次" in dom
    dom = await _shots(browser, base_url, officer, "/console/credit/evaluations", "console-evaluations")
    assert "尚未进行初次评价" in dom and f"#{evaluation}</a>" in dom
    await _shots(browser, base_url, officer, "/console/credit/evaluations?lang=en", "console-evaluations-en")

    dom = await _shots(browser, base_url, officer, "/console/positive-list", "console-positive-list")
    assert "连续三年无环境违法记录" in dom and ">有效<" in dom
    dom = await _shots(browser, base_url, officer, "/console/positive-list?lang=en",
                       "console-positive-list-en")
    assert "Put an enterprise on a list" in dom and ">active<" in dom

    dom = await _shots(browser, base_url, officer, f"/console/supervision?region=13&period={month}",
                       "console-supervision", tall=True)
    assert "监管计划" in dom and "已列入正面清单" in dom and f"/console/supervision/draws/{draw}" in dom
    dom = await _shots(browser, base_url, officer, f"/console/supervision?region=13&period={month}&lang=en",
                       "console-supervision-en", tall=True)
    assert "Routine on-site inspections due" in dom and "remote spot check" in dom

    dom = await _shots(browser, base_url, officer, f"/console/supervision/draws/{draw}", "console-draw",
                       tall=True)
    assert "远程执法抽查" in dom and "由系统随机生成" in dom and "重新抽取并核对" in dom
    assert dom.count('class="selected-row"') == 2
    dom = await _shots(browser, base_url, officer, f"/console/supervision/draws/{draw}?lang=en",
                       "console-draw-en", tall=True)
    assert "Re-run and check" in dom and "generated at random" in dom
