"""Credit repair by application in a real browser: the session's one headless Chromium
(tests/fix_browser.py), driven over the DevTools protocol on a pipe, against the app served on
127.0.0.1 as in ``test_console_browser.py``.

Each party's browser is a browser context of its own (its own cookies). The enterprise's
browser types its commitment, chooses a file and files the form (Chromium encodes the multipart
body, sends the session cookie and the form token); the officer's browser approves with a
reason; the enterprise's page then shows the points restored. Screenshots of each step, in
Chinese and in English, are kept under test-artifacts/ (git-ignored) for a human to look at.
Without a ``chromium`` binary the test is skipped (``./dev test`` installs it).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import psycopg
import pytest
from fix_browser import ARTIFACTS, CHROMIUM, NO_CHROMIUM, Browser, Tab, login_url, serve
from prometheus_client import CollectorRegistry
from test_api_support import CEMENT, T0, ApiEnv

from ecowarn.api import create_app
from ecowarn.credit import CreditService, install, load_credit_params
from ecowarn.credit.params import CreditParams

pytest_plugins = ("test_api_support",)

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
COMMITMENT = ("本企业承诺：1号窑布袋除尘器已更换滤袋并加装运行监控，治污设施与生产设施同步运行，"
              "今后严格遵守环保法律法规。")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)


class Officer:
    token_id = None
    role = "officer"
    label = "Officer Zhao"


@pytest.fixture
def instant() -> Iterator[CreditParams]:
    """No minimum publication period, so the deduction can be applied for today."""
    params = dataclasses.replace(load_credit_params(),
                                 publication_months=MappingProxyType({"ordinary": 0, "serious": 0}))
    install(CreditService(None, params))
    try:
        yield params
    finally:
        install(None)


@pytest.fixture
async def base_url(api: ApiEnv) -> AsyncIterator[str]:
    """The app of ``api`` served by uvicorn on a free loopback port."""
    ctx = dataclasses.replace(api.ctx, metrics_registry=CollectorRegistry())  # api's app has its own
    async with serve(create_app(ctx), name="credit-browser-test-http") as url:
        yield url


async def deduction_of(api: ApiEnv) -> int:
    """A confirmed, ended treatment-off alert of the cement plant: its deduction's id. An earlier
    one was confirmed as a first offence without penalty (a zero-point entry)."""
    first = await api.insert_alert(start=T0 - timedelta(days=40), end=T0 - timedelta(days=40, minutes=-30),
                                   summary_zh="首次违法：治污设施未运行")
    alert = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=40))
    service = CreditService(api.ctx.registry, load_credit_params())
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        await service.on_alert_confirmed(conn, first, Officer(), disposition="first_offence_no_penalty")
        await service.on_alert_confirmed(conn, alert, Officer())
    (entry,), = await api.execute("SELECT id FROM credit_ledger WHERE entry_type = 'deduction'")
    return int(entry)


async def both_languages(tab: Tab, url: str, name: str) -> tuple[str, str]:
    """Whole-page screenshots of ``url`` in Chinese and English (``name``-zh.png, ``name``-en.png); the DOMs."""
    sep = "&" if "?" in url else "?"
    await tab.goto(url)
    await tab.full_shot(f"{name}-zh.png")
    zh = await tab.dom()
    await tab.goto(f"{url}{sep}lang=en")
    await tab.full_shot(f"{name}-en.png")
    return zh, await tab.dom()


async def test_enterprise_applies_with_a_file_officer_approves_score_restored(
        api: ApiEnv, base_url: str, browser: Browser, tmp_path: Path, instant: CreditParams) -> None:
    """In Chromium: the enterprise's credit page offers the repair form for its deduction; a blank
    commitment comes back refused beside the form; with a commitment and a PDF chosen the
    application is filed (pending, the file with its SHA-256); the officer's review page shows it
    and approving with a reason restores the points on the enterprise's page. Screenshots of each
    step in Chinese and English; the officer notification log too."""
    ARTIFACTS.mkdir(exist_ok=True)
    deduction = await deduction_of(api)
    (points,), = await api.execute("SELECT points FROM credit_ledger WHERE id = %s", (deduction,))
    proof = tmp_path / "整改报告.pdf"
    proof.write_bytes(PDF)
    enterprise = await api.token("enterprise", CEMENT)
    officer = await api.token("officer")
    page = f"/console/enterprises/{CEMENT}"

    async with browser.context() as tab:
        await tab.goto(login_url(base_url, enterprise, page))
        zh, en = await both_languages(tab, base_url + page, "credit-repair-1-deduction")
        assert f'id="repair-{deduction}"' in zh and "申请信用修复" in zh and "信用修复承诺书" in zh
        assert zh.count('class="repair"') == 1 and "不予处罚，不扣分" in zh
        assert "no penalty, no points deducted" in en
        assert f"<strong>{100 + points}</strong>" in zh
        assert "Apply for credit repair" in en and "Commitment letter" in en and "Proof" in en

        # a blank commitment (spaces pass the browser's own check): refused beside the form
        await tab.goto(base_url + page)
        await tab.fill(f"#commitment-{deduction}", "   ")
        await tab.click(f"#repair-{deduction} button[type=submit]")
        dom = await tab.dom()
        assert f'id="repair-error-{deduction}"' in dom and "需提交 1 至 5000 个字符的信用修复承诺书" in dom
        await tab.full_shot("credit-repair-2-refused-zh.png")
        await tab.goto(base_url + f"{page}?lang=en")
        await tab.fill(f"#commitment-{deduction}", "   ")
        await tab.click(f"#repair-{deduction} button[type=submit]")
        dom = await tab.dom()
        assert "A commitment of 1 to 5000 characters is needed" in dom
        await tab.full_shot("credit-repair-2-refused-en.png")

        # the real filing: commitment typed, a PDF chosen
        await tab.goto(base_url + page)
        await tab.fill(f"#commitment-{deduction}", COMMITMENT)
        await tab.files(f"#files-{deduction}", [proof])
        await tab.click(f"#repair-{deduction} button[type=submit]")
        dom = await tab.dom()
        assert "待审批" in dom and "整改报告.pdf" in dom
        (app_id, status, attachments), = await api.execute(
            "SELECT id, status, attachments FROM repair_applications")
        assert status == "pending" and attachments[0]["filename"] == "整改报告.pdf"
        assert attachments[0]["size"] == len(PDF) and attachments[0]["sha256"] in dom
        await both_languages(tab, base_url + page, "credit-repair-3-pending")

    async with browser.context() as tab:
        listing = "/console/credit/repair-applications"
        await tab.goto(login_url(base_url, officer, listing))
        zh, en = await both_languages(tab, base_url + listing, "credit-repair-4-review")
        assert f'id="application-{app_id}"' in zh and COMMITMENT in zh and attachments[0]["sha256"] in zh
        assert "Approve repair" in en and "Reason (required)" in en
        await tab.goto(base_url + listing)
        await tab.fill(f"#reason-{app_id}", "现场核查：滤袋已更换，治污设施运行正常")
        await tab.click(f"#application-{app_id} button[value=approve]")
        dom = await tab.dom()
        assert "已批准" in dom and "现场核查：滤袋已更换" in dom
        await both_languages(tab, base_url + listing, "credit-repair-5-approved")
        (evidence,), = await api.execute("SELECT evidence_id FROM repair_applications")
        zh, en = await both_languages(tab, base_url + f"/console/evidence/{evidence}", "credit-repair-5b-document")
        assert "信用修复申请材料" in zh and COMMITMENT in zh and attachments[0]["sha256"] in zh
        assert "Credit repair application" in en and "Commitment letter" in en

        # the officer notification log, with one delivered and one failed notification
        for status, error in (("delivered", None), ("failed", "HTTP 502 from the robot")):
            await api.execute(
                "INSERT INTO officer_notifications (delivery_id, event, subject_id, channel, alert_id,"
                " enterprise_id, region, body, status, attempts, next_attempt_at, last_status_code,"
                " last_error, delivered_at) SELECT %s, 'high_alert', a.id, %s, a.id, a.enterprise_id, '130105',"
                " '{\"msgtype\":\"text\",\"text\":{\"content\":\"【高级别预警】\"}}', %s, %s, now(),"
                " %s, %s, CASE WHEN %s = 'delivered' THEN now() END FROM alerts a LIMIT 1",
                (uuid.uuid4(), f"robot-{status}", status, 1 if status == "delivered" else 10,
                 None if error is None else 502, error, status))
        zh, en = await both_languages(tab, base_url + "/console/notifications", "credit-repair-7-notifications")
        assert "高级别预警" in zh and "HTTP 状态码 502" in zh and "robot-failed" in zh
        assert "High-severity alert" in en and "failed (no more attempts)" in en

    async with browser.context() as tab:
        await tab.goto(login_url(base_url, enterprise, page))
        zh, en = await both_languages(tab, base_url + page, "credit-repair-6-restored")
        assert '<dd id="credit-score"><strong>100</strong>' in zh
        assert f"信用修复申请 #{app_id} 获批准，恢复 {-points} 分" in zh
        assert f"credit repair application #{app_id} approved, {-points} points restored" in en
        assert f'id="repair-{deduction}"' not in zh
