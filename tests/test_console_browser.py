"""The console in a real browser: headless Chromium against the app served on 127.0.0.1.

Screenshots are kept under test-artifacts/ (git-ignored) for a human to look at.
Without a ``chromium`` binary the test is skipped (``./dev test`` installs it).

All run in the session's one Chromium (tests/fix_browser.py), driven over the DevTools
protocol on a pipe (``--remote-debugging-pipe``: no extra package). Pages are read as the
browser built them and screenshotted at a given window size, each in a fresh browser context;
the due-process paths (the right to be heard, rectification with files, 首违不罚) are walked
by clicking the console's own forms, an officer and an enterprise each in their own browser
context (their own cookies), with a screenshot in Chinese and English at each step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fix_browser import ARTIFACTS, CHROMIUM, NO_CHROMIUM, Browser, Tab, login_url, serve
from prometheus_client import CollectorRegistry
from test_api_support import CEMENT, CST, T0, ApiEnv

from ecowarn.api import create_app
from ecowarn.credit import CreditService, load_credit_params

pytest_plugins = ("test_api_support",)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)


class Officer:
    token_id = 1
    role = "officer"
    label = "Officer Sun"


@pytest.fixture
async def base_url(api: ApiEnv) -> AsyncIterator[str]:
    """The app of ``api`` served by uvicorn on a free loopback port."""
    # api's app has its own metrics registry; confirmations write the credit ledger as in service.
    ctx = dataclasses.replace(api.ctx, metrics_registry=CollectorRegistry(), on_confirmed=CreditService(
        api.ctx.registry, load_credit_params()).on_alert_confirmed)
    async with serve(create_app(ctx)) as url:
        yield url


async def test_console_in_headless_chromium(api: ApiEnv, base_url: str, browser: Browser) -> None:
    """The browser lists a seeded alert, its page draws the chart as <svg>, the enterprise
    page shows the credit level after confirmation and the printable evidence page its
    SHA-256; screenshots are kept."""
    alert = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=25))
    await api.insert_readings("PWR-KILN-1", "p", T0 - timedelta(minutes=20), [480.0 + (i % 7) for i in range(70)])
    await api.insert_readings("PWR-BAG-1", "p", T0 - timedelta(minutes=20), [120.0] * 20 + [0.0] * 25 + [118.0] * 25)
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        await CreditService(api.ctx.registry, load_credit_params()).on_alert_confirmed(conn, alert, Officer())
    officer = await api.token("officer")
    ARTIFACTS.mkdir(exist_ok=True)

    listing = await browser.dump_dom(login_url(base_url, officer, "/console"))
    assert "1号窑运行期间治污设施未运行" in listing and f"/console/alerts/{alert}" in listing

    page = f"/console/alerts/{alert}"
    dom = await browser.dump_dom(login_url(base_url, officer, page))
    assert "<svg" in dom and "<path d=\"M" in dom and "治污设施未运行" in dom
    shot = ARTIFACTS / "console-alert.png"
    shot.unlink(missing_ok=True)
    await browser.screenshot(login_url(base_url, officer, page), shot)
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The whole page, chart included, for a human to look at.
    await browser.screenshot(login_url(base_url, officer, page), ARTIFACTS / "console-alert-full.png",
                             window="1280,2600")

    # The same page in English, from the one catalog per language.
    en_page = f"/console/alerts/{alert}?lang=en"
    dom = await browser.dump_dom(login_url(base_url, officer, en_page))
    assert "Treatment off while production runs" in dom and "Back to the list" in dom
    await browser.screenshot(login_url(base_url, officer, en_page), ARTIFACTS / "console-alert-en.png")

    enterprise = await api.token("enterprise", CEMENT)
    credit_page = f"/console/enterprises/{CEMENT}"
    dom = await browser.dump_dom(login_url(base_url, enterprise, credit_page))
    assert 'id="credit-level"><strong>A</strong>' in dom and "<strong>90</strong>" in dom
    await browser.screenshot(login_url(base_url, enterprise, credit_page), ARTIFACTS / "console-enterprise.png")
    assert (ARTIFACTS / "console-enterprise.png").stat().st_size > 10_000
    dom = await browser.dump_dom(login_url(base_url, enterprise, credit_page + "?lang=en"))
    assert "Credit score" in dom and 'id="credit-level"><strong>A</strong>' in dom
    await browser.screenshot(login_url(base_url, enterprise, credit_page + "?lang=en"),
                             ARTIFACTS / "console-enterprise-en.png")

    (evidence_id, sha256), = await api.execute("SELECT id, sha256 FROM evidence_packages")
    printable = f"/console/evidence/{evidence_id}"
    dom = await browser.dump_dom(login_url(base_url, enterprise, printable))
    assert f'id="sha256">{sha256}<' in dom and "<svg" in dom
    await browser.screenshot(login_url(base_url, enterprise, printable), ARTIFACTS / "evidence.png", window="1280,2600")


async def test_queue_page_with_pending_maintenance_in_headless_chromium(
        api: ApiEnv, base_url: str, browser: Browser) -> None:
    """The officer's queue page lists an enterprise's after-the-fact maintenance declaration
    awaiting approval, with its reason and approve/reject buttons, in Chinese and English;
    screenshots are kept."""
    await api.insert_alert(start=T0, end=T0 + timedelta(minutes=25))
    await api.execute(
        "INSERT INTO maintenance (device_id, enterprise_id, start_ts, end_ts, reason, declared_by_role,"
        " status, pending_reason) VALUES ('PWR-BAG-1', %s, %s, %s, '布袋除尘器更换滤袋', 'enterprise',"
        " 'pending', 'retroactive')", (CEMENT, T0, T0 + timedelta(hours=2)))
    officer = await api.token("officer")
    ARTIFACTS.mkdir(exist_ok=True)
    dom = await browser.dump_dom(login_url(base_url, officer, "/console/queue"))
    assert "待审批的维护申报" in dom and "事后补报" in dom and "布袋除尘器更换滤袋" in dom and "批准" in dom
    await browser.screenshot(login_url(base_url, officer, "/console/queue"), ARTIFACTS / "console-queue.png")
    dom = await browser.dump_dom(login_url(base_url, officer, "/console/queue?lang=en"))
    assert "Maintenance declarations awaiting approval" in dom and "retroactive" in dom and "Approve" in dom
    await browser.screenshot(login_url(base_url, officer, "/console/queue?lang=en"), ARTIFACTS / "console-queue-en.png")
    assert (ARTIFACTS / "console-queue.png").stat().st_size > 10_000


async def _both(tab: Tab, url: str, name: str, selector: str | None = None) -> None:
    """Screenshots of ``url`` in Chinese (``name``-zh.png) and English (``name``-en.png)."""
    await tab.goto(url)
    await tab.shot(f"{name}-zh.png", selector)
    await tab.goto(url + ("&" if "?" in url else "?") + "lang=en")
    await tab.shot(f"{name}-en.png", selector)


async def test_hearing_then_confirm_in_the_browser(api: ApiEnv, base_url: str, browser: Browser) -> None:
    """The officer dispatches and sees confirm disabled with why and from when; the enterprise
    answers in its console and sees its answer unread; the officer opens the alert (reading
    the answer), the button is enabled, and the confirmation goes through; screenshots of each
    step in Chinese and English."""
    ARTIFACTS.mkdir(exist_ok=True)
    alert = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=25))
    await api.insert_readings("PWR-KILN-1", "p", T0 - timedelta(minutes=20), [480.0 + (i % 7) for i in range(70)])
    officer, enterprise = await api.token("officer"), await api.token("enterprise", CEMENT)
    page = f"{base_url}/console/alerts/{alert}"
    off, ent = await browser.tab(), await browser.tab()
    await off.goto(login_url(base_url, officer, f"/console/alerts/{alert}"))
    await off.click("#form-acknowledge button")
    await off.click("#form-dispatch button")
    assert await off.js("document.querySelector('#form-confirm button').disabled") is True
    why = await off.text("#confirm-why")
    assert why.startswith("暂不能确认违法：企业可在") and "起可确认违法" in why
    await _both(off, page, "hearing-1-dispatched-officer", "#form-confirm")
    assert "Cannot be confirmed yet: the enterprise may state its case until" in await off.text("#confirm-why")

    await ent.goto(login_url(base_url, enterprise, f"/console/alerts/{alert}"))
    await ent.fill("#form-answer textarea[name=text]", "11月20日8时窑尾除尘器停机检修，附检修工单。")
    await ent.click("#form-answer button")
    assert "未查阅" in await ent.text("#answers")
    await _both(ent, page, "hearing-2-answered-enterprise", "#answers")

    await off.goto(page)  # the officer opens the page: the answer is read
    assert "已查阅" in await off.text("#answers")
    assert await off.js("document.querySelector('#form-confirm button').disabled") is False
    assert "企业已答复（1条），执法人员均已查阅" in await off.text("#hearing")
    await _both(off, page, "hearing-3-read-officer", "#hearing")
    await off.goto(page)
    await off.fill("#form-confirm textarea[name=reason]", "企业答复不能排除违法事实")
    await off.click("#form-confirm button")
    assert await off.text("#workflow-status") == "已确认违法"
    await _both(off, page, "hearing-4-confirmed-officer")
    assert await api.execute("SELECT status FROM alerts WHERE id = %s", (alert,)) == [("confirmed",)]
    assert await api.execute("SELECT entry_type FROM credit_ledger") == [("deduction",)]


async def test_rectification_with_files_and_first_offence_in_the_browser(
        api: ApiEnv, base_url: str, browser: Browser, tmp_path: Path) -> None:
    """The officer orders a rectification; the enterprise uploads files (a refused one first:
    the reason beside the form), answers, and sees its files with their SHA-256; the officer
    verifies with a data check (its chart shown) and confirms as a first offence without
    penalty; the ledger pages list it; screenshots of each step in Chinese and English."""
    ARTIFACTS.mkdir(exist_ok=True)
    start = datetime.now(CST) - timedelta(days=3)
    alert = await api.insert_alert(start=start, end=start + timedelta(minutes=40))
    officer, enterprise = await api.token("officer"), await api.token("enterprise", CEMENT)
    report, photo, bad = tmp_path / "验收报告.pdf", tmp_path / "site-photo.png", tmp_path / "tool.exe"
    report.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    bad.write_bytes(b"MZ\x90\x00" + bytes(100))
    page = f"{base_url}/console/alerts/{alert}"
    off, ent = await browser.tab(), await browser.tab()
    await off.goto(login_url(base_url, officer, f"/console/alerts/{alert}"))
    await off.click("#form-acknowledge button")
    await off.click("#form-dispatch button")
    due = (datetime.now(CST) + timedelta(days=10)).date().isoformat()
    await off.fill("#form-rectification input[name=due]", due)
    await off.fill("#form-rectification textarea[name=requirements]",
                   "10日内更换窑尾除尘器全部滤袋，提交验收报告和现场照片。")
    await off.click("#form-rectification button")
    [(rid,)] = await api.execute("SELECT id FROM rectifications")
    assert "已责令整改" in await off.text(f"#rectification-{rid}")
    await _both(off, page, "rectification-1-ordered-officer", f"#rectification-{rid}")

    await ent.goto(login_url(base_url, enterprise, f"/console/alerts/{alert}"))
    await ent.fill(f"#form-submit-{rid} textarea[name=text]", "已更换全部滤袋，附验收报告和现场照片。")
    await ent.files(f"#form-submit-{rid} input[type=file]", [bad])
    await ent.click(f"#form-submit-{rid} button")
    error = await ent.text(f"#form-submit-{rid} .error")
    assert "第 1 个文件：tool.exe 的类型不能接受" in error
    assert await ent.js(f"document.querySelector('#form-submit-{rid} textarea[name=text]').value") \
        == "已更换全部滤袋，附验收报告和现场照片。"
    await ent.shot("rectification-2-refused-file-enterprise-zh.png", f"#form-submit-{rid}")
    await ent.goto(f"{page}?lang=en")
    await ent.fill(f"#form-submit-{rid} textarea[name=text]", "All filter bags replaced.")
    await ent.files(f"#form-submit-{rid} input[type=file]", [bad])
    await ent.click(f"#form-submit-{rid} button")
    assert "File 1: tool.exe is of a type that cannot be taken" in await ent.text(f"#form-submit-{rid} .error")
    await ent.shot("rectification-2-refused-file-enterprise-en.png", f"#form-submit-{rid}")
    await ent.goto(page)
    await ent.fill(f"#form-submit-{rid} textarea[name=text]", "已更换全部滤袋，附验收报告和现场照片。")
    await ent.files(f"#form-submit-{rid} input[type=file]", [report, photo])
    await ent.click(f"#form-submit-{rid} button")
    files = await ent.text(f"#rectification-{rid} .submissions")
    assert "验收报告.pdf" in files and "site-photo.png" in files and "SHA-256" in files
    await ent.fill("#form-answer textarea[name=text]", "已按要求整改，系首次发生。")
    await ent.click("#form-answer button")
    await _both(ent, page, "rectification-3-submitted-enterprise", f"#rectification-{rid}")

    await off.goto(page)
    await off.fill(f"#form-verify-{rid} textarea[name=reason]", "材料齐全，现场核查滤袋已更换")
    await off.fill(f"#form-verify-{rid} input[name=data_check_days]", "2")
    await off.click(f"#form-verify-{rid} button")
    check = await off.text(f"#rectification-{rid} .data-check")
    assert "数据核查" in check and "未再发生" in check
    assert await off.js(f"!!document.querySelector('#rectification-{rid} .data-check svg')") is True
    await _both(off, page, "rectification-4-verified-officer", f"#rectification-{rid} .data-check")

    await off.goto(page)
    assert "首违不罚适用条件：全部满足" in await off.text("#first-offence")
    await off.js("document.querySelector('#form-confirm input[value=first_offence_no_penalty]').checked = true")
    await off.fill("#form-confirm textarea[name=reason]", "首次违法，危害轻微并已按期整改")
    await _both(off, page, "rectification-5-first-offence-officer", "#form-confirm")
    await off.goto(page)
    await off.js("document.querySelector('#form-confirm input[value=first_offence_no_penalty]').checked = true")
    await off.fill("#form-confirm textarea[name=reason]", "首次违法，危害轻微并已按期整改")
    await off.click("#form-confirm button")
    assert "首违不罚" in await off.text("#disposition")
    await _both(off, page, "rectification-6-confirmed-officer")
    await _both(off, f"{base_url}/console/rectifications", "rectification-7-ledger-officer")
    await _both(ent, f"{base_url}/console/rectifications", "rectification-8-ledger-enterprise")
    await _both(ent, page, "rectification-9-enterprise-view", f"#rectification-{rid}")
    assert await api.execute("SELECT status, disposition FROM alerts") == [("confirmed", "first_offence_no_penalty")]
    assert await api.execute("SELECT entry_type, points FROM credit_ledger") == [("first_offence", 0)]
