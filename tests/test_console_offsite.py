"""The alert page's off-site handling first (非现场优先): for a positive-listed firm's alert the
page shows the remote verification step and its form in Chinese and English, disables the
dispatch button with the reason until a verification is recorded, shows a refused form
beside it (422, typed text kept) and the verification in the table and the trail.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from test_api_support import CEMENT, ApiEnv
from test_console_due_process import Console, form_of, text_of, words

pytest_plugins = ("test_api_support",)

T0_DAY = date(2026, 11, 20)


async def _listed_alert(c: Console) -> int:
    officer = await c.api.headers("officer")
    r = await c.api.client.post("/api/v1/positive-list", headers=officer, json={
        "enterprise_id": CEMENT, "start": (T0_DAY - timedelta(days=30)).isoformat(), "reason": "正面清单企业"})
    assert r.status_code == 201, r.text
    alert = await c.api.insert_alert(enterprise_id=CEMENT)
    await c.be("officer", "officer", label="张伟")
    await c.get(f"/console/alerts/{alert}")
    r = await c.post(f"/console/alerts/{alert}/transition", {"action": "acknowledge", "reason": ""})
    assert r.status_code == 303, r.text
    return alert


async def test_dispatch_waits_for_a_remote_verification_on_the_alert_page(api: ApiEnv) -> None:
    """Chinese page: the step names the list, the dispatch button is disabled with the reason;
    a verification recorded through the form is listed and enables dispatch; the trail names it."""
    c = Console(api)
    alert = await _listed_alert(c)
    page = await c.get(f"/console/alerts/{alert}")
    assert page.status_code == 200
    section = text_of(page)
    assert "远程核查（非现场优先）" in section and "positive" in section and "尚未记录远程核查" in section
    dispatch = form_of(page, "form-dispatch")
    assert re.search(r"<button[^>]*disabled[^>]*>通知企业说明</button>", dispatch)
    assert "暂不能通知企业" in words(dispatch) and "先记录远程核查" in words(dispatch)
    assert "视频连线" in form_of(page, "form-remote-verification")

    r = await c.post(f"/console/alerts/{alert}/remote-verification",
                     {"method": "video_call", "result": "confirmed", "note": "视频查看：布袋除尘器停运"})
    assert r.status_code == 303, r.text
    page = await c.get(f"/console/alerts/{alert}")
    table = re.search(r'<table id="remote-verifications">.*?</table>', page.text, re.S)
    assert table and "视频连线" in table.group(0) and "确认存在问题" in table.group(0)
    assert "布袋除尘器停运" in table.group(0) and "张伟" in table.group(0)
    assert "disabled" not in form_of(page, "form-dispatch")
    assert "远程核查已确认问题" in text_of(page)
    r = await c.post(f"/console/alerts/{alert}/transition", {"action": "dispatch", "reason": ""})
    assert r.status_code == 303
    after = await c.get(f"/console/alerts/{alert}")
    trail = after.text[after.text.index("<h2>处理记录</h2>"):]
    assert re.search(r"<td>远程核查</td>", trail)
    assert (await api.execute("SELECT status FROM alerts WHERE id = %s", (alert,)))[0][0] == "dispatched"


async def test_the_step_in_english_and_a_refused_form(api: ApiEnv) -> None:
    """English page: the same step and a disabled dispatch; an empty note is 422 beside the
    form with the chosen method kept; nothing is recorded; an enterprise does not see the step."""
    c = Console(api)
    alert = await _listed_alert(c)
    page = await c.get(f"/console/alerts/{alert}", lang="en")
    assert "Remote verification (off-site first)" in text_of(page)
    dispatch = words(form_of(page, "form-dispatch"))
    assert "Cannot be dispatched yet" in dispatch and "record a remote verification" in dispatch
    r = await c.post(f"/console/alerts/{alert}/remote-verification?lang=en",
                     {"method": "documents", "result": "inconclusive", "note": " "})
    assert r.status_code == 422
    refused = form_of(r, "form-remote-verification")
    assert "Write what was seen" in words(refused)
    assert re.search(r'<option value="documents" selected>', refused)
    assert (await api.execute("SELECT count(*) FROM alert_remote_verifications"))[0][0] == 0

    await c.be("cement", "enterprise", enterprise_id=CEMENT)
    own = await c.get(f"/console/alerts/{alert}")
    assert own.status_code == 200 and "远程核查" not in text_of(own)
    r = await c.post(f"/console/alerts/{alert}/remote-verification",
                     {"method": "documents", "result": "confirmed", "note": "x"})
    assert r.status_code == 403

