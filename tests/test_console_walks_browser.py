"""Walks through the console in headless Chromium, in Chinese, the way people use it: an
officer from the queue to a confirmed violation, and an enterprise answering a warning.

Everything a person would do is done in the browser (tests/fix_browser.py): logging in with
the login form, following the header's links and the queue's rows, pressing the forms' own
buttons; the database is only read to check what the pages say. The officer and the
enterprise each browse in a browser context of their own (their own cookies). The app is the
one of ``test_console_browser.py``: confirmations write the credit ledger as in service.
A screenshot of each step, ``walk-officer-*.png`` and ``walk-enterprise-*.png``, is kept
under test-artifacts/ (git-ignored) for a human to look at. Without a ``chromium`` binary
the tests are skipped.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fix_browser import ARTIFACTS, CHROMIUM, NO_CHROMIUM, Browser, Tab, login_url
from test_api_support import CEMENT, CST, GLASS, T0, ApiEnv

# base_url is a fixture: imported for pytest to find, not used by name.
from test_console_browser import base_url  # noqa: F401

from ecowarn.api._console_lang import local_minute

pytest_plugins = ("test_api_support",)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)

OFFICER_LABEL = "执法支队 王芳"
ANSWER = "11月20日8时起1号窑窑尾布袋除尘器停机更换滤袋，检修期间窑已降负荷，附检修工单和更换记录。"
REFERENCES = "检修工单 JX-2026-1120\n滤袋更换记录 LD-118"
WORK_ORDER = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"  # a small, well-formed PDF


async def _world(api: ApiEnv) -> tuple[int, int]:
    """Two alerts in the queue: the cement works' kiln ran 40 minutes with its bag filter off
    (high; readings for the chart), and a short low-severity one at the glass works."""
    top = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=40))
    kiln: list[float | None] = [480.0 + (i % 7) for i in range(80)]
    await api.insert_readings("PWR-KILN-1", "p", T0 - timedelta(minutes=20), kiln)
    bag: list[float | None] = [*[120.0] * 20, *[0.0] * 40, *[118.0] * 20]  # off for the alert's 40 minutes
    await api.insert_readings("PWR-BAG-1", "p", T0 - timedelta(minutes=20), bag)
    other = await api.insert_alert(enterprise_id=GLASS, device_ids=("PWR-FURN-1", "PWR-ESP-1"),
                                   start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=2, minutes=12),
                                   summary="Float furnace ran while its precipitator was off",
                                   summary_zh="浮法窑运行期间静电除尘器未运行")
    await api.execute("UPDATE alerts SET severity = 'low' WHERE id = %s", (other,))
    return top, other


async def _log_in(tab: Tab, base: str, token: str, shot: str | None = None) -> None:
    """The console's login form, filled and sent as a person does."""
    await tab.goto(f"{base}/console/login")
    assert await tab.text("h1") == "登录"
    await tab.fill("input[name=token]", token)
    if shot is not None:
        await tab.full_shot(shot)
    await tab.click("form[action^='/console/login'] button[type=submit]")
    assert await tab.js("location.pathname") == "/console"


async def _follow(tab: Tab, selector: str) -> None:
    """Click the link ``selector`` and wait for the page it leads to."""
    assert await tab.js(f"!!document.querySelector({json.dumps(selector)})?.href"), f"no link {selector}"
    await tab.click(selector)


async def _rows(tab: Tab, selector: str) -> list[list[str]]:
    """The cells' text of each row of the table body ``selector``."""
    return list(json.loads(str(await tab.js(
        f"JSON.stringify([...document.querySelectorAll({json.dumps(selector + ' tbody tr')})]"
        ".map(r => [...r.cells].map(c => c.innerText.trim())))"))))


async def _trail(tab: Tab) -> list[list[str]]:
    """The trail table (the last table before the readings): event, status change, by, reason."""
    rows = json.loads(str(await tab.js(
        "JSON.stringify((() => { const h = [...document.querySelectorAll('h2')]"
        ".find(e => e.textContent === '处理记录'); let t = h.nextElementSibling;"
        " while (t && t.tagName !== 'TABLE') t = t.nextElementSibling;"
        " return [...t.tBodies[0].rows].map(r => [...r.cells].slice(1).map(c => c.innerText.trim())); })())")))
    return [list(r) for r in rows]


async def test_officer_walk_from_the_queue_to_a_confirmed_violation(
        api: ApiEnv, base_url: str, browser: Browser) -> None:  # noqa: F811
    """An officer logs in with the form, opens the queue (riskiest first), claims the top item,
    opens its alert (facts and the readings' chart), warns the enterprise and finds confirming
    refused until the enterprise is heard; the enterprise answers in its console; the officer's
    next look reads the answer, the confirmation is allowed, 首违不罚 is offered but not met
    (no verified rectification), and confirming records the decision in the trail and a
    deduction on the enterprise's credit page. A screenshot at each step."""
    ARTIFACTS.mkdir(exist_ok=True)
    top, other = await _world(api)
    officer = await api.token("officer")
    await api.execute("UPDATE api_tokens SET label = %s WHERE role = 'officer'", (OFFICER_LABEL,))
    (officer_id,), = await api.execute("SELECT id FROM api_tokens WHERE role = 'officer'")
    enterprise = await api.token("enterprise", CEMENT)

    async with browser.context(1280, 900) as off:
        await _log_in(off, base_url, officer, "walk-officer-1-login.png")
        await _follow(off, "header a[href='/console/queue']")
        assert await off.text("h1") == "执法队列"
        queue = await _rows(off, "main table")
        assert [row[1].split("#")[-1] for row in queue] == [str(top), str(other)]  # riskiest first
        assert queue[0][1].startswith("治污设施未运行") and queue[0][5] == "高" and queue[0][6] == "待处理"
        assert queue[0][3] == "1号回转窑、袋式除尘器"  # the equipment column
        assert queue[1][5] == "低"
        await off.full_shot("walk-officer-2-queue.png")

        await off.click("main table tbody tr:first-child form button[type=submit]")  # 认领
        assert await off.js("location.pathname") == "/console/queue"
        queue = await _rows(off, "main table")
        assert queue[0][6] == "已受理" and queue[0][7] == f"#{officer_id} {OFFICER_LABEL}"
        assert queue[1][7] == "认领"  # the other item still offers its claim button
        await off.full_shot("walk-officer-3-claimed.png")

        await _follow(off, "main table tbody tr:first-child td:nth-child(2) a")
        assert await off.js("location.pathname") == f"/console/alerts/{top}"
        facts = await off.text("main dl")
        for fact in (api.ctx.registry.enterprises[CEMENT].name, local_minute(T0),
                     local_minute(T0 + timedelta(minutes=40)), "1号窑运行期间治污设施未运行"):
            assert fact in facts
        charts = await off.js("document.querySelectorAll('main svg').length")
        assert charts == 2 and await off.js("!!document.querySelector('main svg path[d^=\"M\"]')")
        assert await off.text("#workflow-status") == "已受理"
        by = f"执法人员 #{officer_id} {OFFICER_LABEL}"
        assert await _trail(off) == [["认领", "", by, ""], ["状态变更", "待处理 → 已受理", by, "认领即受理"]]
        assert "暂无企业答复" in await off.text("main")
        await off.full_shot("walk-officer-4-alert.png")

        await off.click("#form-dispatch button")
        assert await off.text("#workflow-status") == "已通知企业"
        (due_at,), = await api.execute("SELECT due_at FROM alerts WHERE id = %s", (top,))
        assert local_minute(due_at) in await off.text("main")
        assert await off.js("document.querySelector('#form-confirm button').disabled") is True
        why = await off.text("#confirm-why")
        assert why.startswith(f"暂不能确认违法：企业可在{local_minute(due_at)}（北京时间）前陈述、申辩")
        assert f"自{local_minute(due_at)}（北京时间）起可确认违法" in why
        assert [e[:2] for e in await _trail(off)][-1] == ["状态变更", "已受理 → 已通知企业"]
        await off.full_shot("walk-officer-5-dispatched.png")

        async with browser.context(1280, 900) as ent:
            await _log_in(ent, base_url, enterprise)
            await _follow(ent, f"#alerts a[href='/console/alerts/{top}']")
            await ent.fill("#form-answer textarea[name=text]", ANSWER)
            await ent.click("#form-answer button[type=submit]")
            assert "未查阅" in await ent.text("#answers")
            await ent.full_shot("walk-officer-6-enterprise-answered.png")

        await off.goto(f"{base_url}/console/alerts/{top}")  # the officer looks again: reads the answer
        answers = await _rows(off, "#answers")
        assert len(answers) == 1 and answers[0][1] == "情况说明" and answers[0][2] == ANSWER
        assert answers[0][3].startswith("已查阅")
        assert await off.js("document.querySelector('#form-confirm button').disabled") is False
        assert await off.text("#hearing") == "陈述申辩：企业已答复（1条），执法人员均已查阅"
        first_offence = await off.text("#first-offence")
        assert "首违不罚适用条件：尚未全部满足" in first_offence
        assert "✗ 本预警的整改尚未核查通过" in first_offence
        assert await off.js("document.querySelector('#form-confirm input[value=first_offence_no_penalty]')"
                            ".disabled") is True
        events = [e[0] for e in await _trail(off)]
        assert events[-2:] == ["企业答复", "执法人员查阅企业答复"]
        await off.full_shot("walk-officer-7-heard.png")

        await off.fill("#form-confirm textarea[name=reason]", "企业答复不能排除违法事实：治污设施停运期间窑未停产")
        await off.click("#form-confirm button")
        assert await off.text("#workflow-status") == "已确认违法"
        assert await off.js("document.querySelector('#form-confirm') === null")
        last = (await _trail(off))[-1]
        assert last[:2] == ["状态变更", "已通知企业 → 已确认违法"]
        assert last[3] == "企业答复不能排除违法事实：治污设施停运期间窑未停产"
        await off.full_shot("walk-officer-8-confirmed.png")

        await _follow(off, "header a[href='/console/enterprises']")
        await _follow(off, f"main a[href^='/console/enterprises/{CEMENT}']")
        (points,), = await api.execute("SELECT points FROM credit_ledger WHERE alert_id = %s", (top,))
        assert points < 0
        assert await off.text("#credit-score") == f"{100 + points} / 100"
        history = await _rows(off, "#credit-history")
        assert len(history) == 1 and history[0][1] == "扣分"
        assert history[0][2] == f"{points:+d}" and history[0][5] == f"#{top}"
        assert history[0][6] == f"确认违法，扣 {-points} 分"
        await off.full_shot("walk-officer-9-credit.png")
    assert await api.execute("SELECT status FROM alerts ORDER BY id") == [("confirmed",), ("open",)]
    assert await api.execute("SELECT entry_type FROM credit_ledger") == [("deduction",)]


async def test_enterprise_walk_answers_with_a_maintenance_window(
        api: ApiEnv, base_url: str, browser: Browser) -> None:  # noqa: F811
    """The enterprise logs in with the form, finds the warned alert on its home page, opens it
    and sees the answer deadline; its answer declaring a maintenance window without an end is
    refused beside the form in Chinese with everything typed kept; completed, the answer is
    recorded with its references and unread; the officer's alert page then shows it read, and
    the window waits in the queue for approval. A screenshot at each step."""
    ARTIFACTS.mkdir(exist_ok=True)
    top, _ = await _world(api)
    officer = await api.token("officer")
    enterprise = await api.token("enterprise", CEMENT)
    page = f"/console/alerts/{top}"

    async with browser.context(1280, 900) as off:
        await off.goto(login_url(base_url, officer, page))
        await off.click("#form-acknowledge button")
        await off.click("#form-dispatch button")
        assert await off.text("#workflow-status") == "已通知企业"
    (due_at,), = await api.execute("SELECT due_at FROM alerts WHERE id = %s", (top,))
    start, end = (T0 - timedelta(minutes=5)).astimezone(CST), (T0 + timedelta(minutes=50)).astimezone(CST)

    async with browser.context(1280, 900) as ent:
        await _log_in(ent, base_url, enterprise, "walk-enterprise-1-login.png")
        home = await _rows(ent, "#alerts")
        assert len(home) == 1  # its own alert only, not the glass works'
        assert home[0][0].startswith("治污设施未运行") and home[0][6] == "已通知企业"
        await ent.full_shot("walk-enterprise-2-home.png")

        await _follow(ent, f"#alerts a[href='{page}']")
        workflow = await ent.text("main")
        assert f"答复期限\n{local_minute(due_at)}" in workflow and "暂无企业答复" in workflow
        assert await ent.js("document.querySelectorAll('#form-dispatch, #form-confirm, #form-comment').length") == 0
        await ent.full_shot("walk-enterprise-3-alert.png")

        # The window's end left out: refused beside the end input, which the message names,
        # everything typed kept.
        await ent.fill("#form-answer select[name=kind]", "maintenance_declared")
        await ent.fill("#form-answer textarea[name=text]", ANSWER)
        await ent.fill("#form-answer textarea[name=attachments]", REFERENCES)
        await ent.fill("#form-answer select[name=device_id]", "PWR-BAG-1")
        await ent.fill("#form-answer input[name=start]", start.strftime("%Y-%m-%dT%H:%M"))
        await ent.click("#form-answer button[type=submit]")
        error = await ent.text("#form-answer fieldset.failed .error")
        assert error == "运维结束时间：未填写。申报运维时段须填写开始和结束时间，结束须晚于开始", error
        assert (await ent.text(".error-banner")) == f"未能提交：{error}"
        kept = json.loads(str(await ent.js(
            "JSON.stringify(Object.fromEntries(['kind', 'text', 'attachments', 'device_id', 'start', 'end']"
            ".map(n => [n, document.querySelector(`#form-answer [name=${n}]`).value])))")))
        assert kept == {"kind": "maintenance_declared", "text": ANSWER, "attachments": REFERENCES,
                        "device_id": "PWR-BAG-1", "start": start.strftime("%Y-%m-%dT%H:%M"), "end": ""}
        # beside the end input: right after it on the same line, the input marked invalid and
        # focused; nothing at the top of the form
        assert await ent.js("(() => { const e = document.querySelector('#form-answer .error');"
                            " const i = document.querySelector('#form-answer input[name=end]');"
                            " const a = e.getClientRects()[0], b = i.getBoundingClientRect();"
                            " return i.compareDocumentPosition(e) === Node.DOCUMENT_POSITION_FOLLOWING"
                            " && a.top < b.bottom && a.bottom > b.top && a.left > b.right"
                            " && i.getAttribute('aria-invalid') === 'true' && document.activeElement === i; })()")
        assert await ent.js("document.querySelectorAll('#form-answer .error').length") == 1
        assert await api.execute("SELECT count(*) FROM alert_answers") == [(0,)]
        await ent.js("window.scrollTo(0, document.querySelector('#form-answer').getBoundingClientRect().top"
                     " + window.scrollY - 120)")
        await ent.shot("walk-enterprise-4-refused.png")

        # Completed, with the work order scanned as a PDF.
        await ent.fill("#form-answer input[name=end]", end.strftime("%Y-%m-%dT%H:%M"))
        scan = ARTIFACTS / "检修工单.pdf"
        scan.write_bytes(WORK_ORDER)
        await ent.files("#form-answer input[name=files]", [scan])
        await ent.click("#form-answer button[type=submit]")
        assert await ent.js("location.pathname") == page
        answers = await _rows(ent, "#answers")
        assert len(answers) == 1 and answers[0][1] == "申报运维"
        text, file_line = answers[0][2].rsplit("\n", 1)
        assert text == f"{ANSWER}\n检修工单 JX-2026-1120\n滤袋更换记录 LD-118"
        assert file_line.startswith(f"检修工单.pdf {len(WORK_ORDER)} B · PDF 文档 SHA-256 "), file_line
        assert answers[0][3] == "未查阅"
        assert "企业答复" in [e[0] for e in await _trail(ent)]
        await ent.full_shot("walk-enterprise-5-answered.png")

    (files,), = await api.execute("SELECT files FROM alert_answers")
    (stored,), = await api.execute("SELECT content FROM attachments WHERE id = %s", (files[0]["id"],))
    assert [f["filename"] for f in files] == ["检修工单.pdf"] and bytes(stored) == WORK_ORDER
    (device, m_start, m_end, status), = await api.execute(
        "SELECT device_id, start_ts, end_ts, status FROM maintenance")
    assert (device, m_start, m_end, status) == ("PWR-BAG-1", start, end, "pending")

    async with browser.context(1280, 900) as off:
        await off.goto(login_url(base_url, officer, page))
        answers = await _rows(off, "#answers")
        assert answers[0][2].startswith(ANSWER) and answers[0][3].startswith("已查阅")
        link = await off.js("(() => { const a = document.querySelector('#answers a[download]');"
                            " return [a.textContent, new URL(a.href).pathname]; })()")
        assert link == ["检修工单.pdf", f"/console/attachments/{files[0]['id']}"]
        assert await off.text("#hearing") == "陈述申辩：企业已答复（1条），执法人员均已查阅"
        await off.full_shot("walk-enterprise-6-officer-reads.png")
        await _follow(off, "header a[href='/console/queue']")
        pending = await off.text("#pending-maintenance + p + table")
        assert "事后补报" in pending and ANSWER in pending
        assert f"{local_minute(start)} – {local_minute(end)}" in pending
        await off.full_shot("walk-enterprise-7-queue-declaration.png")
