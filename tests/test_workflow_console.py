"""Console workflow: the officers' queue page, action forms with the form token, the answer form."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import psycopg
from test_api_support import CEMENT, COKING, T0, ApiEnv

from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)


async def _login(api: ApiEnv, role: str, enterprise_id: str | None = None,
                 label: str = "") -> None:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role=role, enterprise_id=enterprise_id, label=label)
    r = await api.client.get("/console/login", params={"token": token})
    assert r.status_code == 303


def _form_token(page: httpx.Response) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert m, "no form token on the page"
    return m.group(1)


async def _status(api: ApiEnv, alert: int) -> str:
    return str((await api.execute("SELECT status FROM alerts WHERE id = %s", (alert,)))[0][0])


async def test_queue_page_lists_items_with_claim_buttons(api: ApiEnv) -> None:
    """An officer's queue page shows each active item, in Chinese by default, with a claim form."""
    alert = await api.insert_alert()
    await _login(api, "officer", label="张伟")
    page = await api.client.get("/console/queue")
    assert page.status_code == 200, page.text
    assert "执法队列" in page.text and "石家庄某某水泥有限公司" in page.text
    assert f'action="/console/alerts/{alert}/claim"' in page.text
    token = _form_token(page)
    r = await api.client.post(f"/console/alerts/{alert}/claim",
                              data={"csrf": token, "next": "queue"})
    assert (r.status_code, r.headers["location"]) == (303, "/console/queue")
    page = await api.client.get("/console/queue", params={"lang": "en"})
    assert "Enforcement queue" in page.text and "张伟" in page.text
    assert f'action="/console/alerts/{alert}/claim' not in page.text  # claimed: no button
    assert await _status(api, alert) == "acknowledged"


async def test_queue_and_alert_list_name_the_equipment_and_a_station_in_place_of_an_enterprise(
        api: ApiEnv) -> None:
    """Each queue row names its equipment; an air station's alert names its station where an
    enterprise's alert names the enterprise, in the queue and in the alert list, in both languages."""
    await api.insert_alert()
    await api.insert_alert(rule="air_hotspot", enterprise_id=None, device_ids=("AQ-0001",),
                           summary="PM2.5 hotspot", summary_zh="PM2.5 高值")
    await _login(api, "officer")
    for path in ("/console/queue", "/console"):
        page = await api.client.get(path)
        assert page.status_code == 200, page.text
        rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
        kiln = [r for r in rows if "石家庄某某水泥有限公司" in r]
        station = [r for r in rows if "空气站 长安区网格1" in r]
        assert len(kiln) == 1 and len(station) == 1, (path, rows)
        assert "1号回转窑、袋式除尘器" in kiln[0], path
        assert "长安区网格1 (AQ-0001)" in station[0], path
        page = await api.client.get(path, params={"lang": "en"})
        assert "Air station 长安区网格1" in page.text and "1号回转窑, 袋式除尘器" in page.text, path


async def test_alert_page_buttons_drive_the_lifecycle(api: ApiEnv) -> None:
    """Each allowed action is a form; posting it moves the alert and the trail shows it."""
    alert = await api.insert_alert()
    await _login(api, "officer", label="李娜")
    page = await api.client.get(f"/console/alerts/{alert}")
    assert 'value="acknowledge"' in page.text and 'value="dismiss"' in page.text
    assert 'value="confirm"' not in page.text
    token = _form_token(page)
    for action in ("acknowledge", "dispatch", "confirm"):
        if action == "confirm":  # the enterprise let its answer deadline pass: it has been heard
            await api.execute("UPDATE alerts SET due_at = now() - interval '1 minute' WHERE id = %s",
                              (alert,))
        r = await api.client.post(f"/console/alerts/{alert}/transition",
                                  data={"csrf": token, "action": action, "reason": ""})
        assert (r.status_code, r.headers["location"]) == (303, f"/console/alerts/{alert}")
    r = await api.client.post(f"/console/alerts/{alert}/transition?lang=en", data={
        "csrf": token, "action": "close", "disposition": "rectification_ordered",
        "reason": "限期整改"})
    assert r.headers["location"] == f"/console/alerts/{alert}?lang=en"
    assert await _status(api, alert) == "closed"
    page = await api.client.get(f"/console/alerts/{alert}")
    assert "已办结" in page.text and "责令整改" in page.text and "李娜" in page.text
    assert page.text.count("状态变更") == 4


async def test_refusals_render_the_page_again_with_the_reason_beside_the_form(api: ApiEnv) -> None:
    """An illegal action is 409 and a dismissal without reason 422, each the alert page again
    (HTML) with the reason beside the form that was posted, in the page's language, and the
    typed reason kept; a claim taken meanwhile by another officer is 409 on the queue page."""
    alert = await api.insert_alert()
    await _login(api, "officer")
    token = _form_token(await api.client.get(f"/console/alerts/{alert}"))
    r = await api.client.post(f"/console/alerts/{alert}/transition",
                              data={"csrf": token, "action": "confirm"})
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/html")
    assert "预警当前状态为“待处理”，不能执行“确认违法”；当前可执行：受理、排除" in r.text
    assert 'class="error-banner"' in r.text and "<h1>治污设施未运行" in r.text
    r = await api.client.post(f"/console/alerts/{alert}/transition?lang=en",
                              data={"csrf": token, "action": "confirm"})
    assert r.status_code == 409
    assert "The alert is open: “Confirm” is not possible; possible now: Acknowledge, Dismiss" in r.text
    r = await api.client.post(f"/console/alerts/{alert}/transition",
                              data={"csrf": token, "action": "dismiss", "reason": "  "})
    assert r.status_code == 422
    dismiss = re.search(r'<form[^>]*id="form-dismiss".*?</form>', r.text, re.S)
    assert dismiss and "请填写理由（1 至 5000 个字符）" in dismiss.group(0)
    assert ">  </textarea>" in dismiss.group(0)
    assert await _status(api, alert) == "open"
    other = await api.insert_alert()
    await api.execute("UPDATE alerts SET assignee_token = %s, assignee_label = '王芳' WHERE id = %s",
                      ((await api.execute("SELECT min(id) FROM api_tokens"))[0][0], other))
    await _login(api, "officer", label="李娜")
    token = _form_token(await api.client.get("/console/queue"))
    r = await api.client.post(f"/console/alerts/{other}/claim", data={"csrf": token, "next": "queue"})
    assert r.status_code == 409 and "执法队列" in r.text and "该预警已由#1 王芳认领" in r.text


async def test_form_posts_need_the_session_form_token(api: ApiEnv) -> None:
    """Without the token, or with another session's token, a form post is 403 and changes nothing."""
    alert = await api.insert_alert()
    await _login(api, "officer")
    first_token = _form_token(await api.client.get(f"/console/alerts/{alert}"))
    for data in ({"action": "acknowledge"}, {"action": "acknowledge", "csrf": "0" * 64}):
        r = await api.client.post(f"/console/alerts/{alert}/transition", data=data)
        assert r.status_code == 403
    await _login(api, "officer")  # a new session: the old page's token is stale
    r = await api.client.post(f"/console/alerts/{alert}/transition",
                              data={"action": "acknowledge", "csrf": first_token})
    assert r.status_code == 403
    r = await api.client.post(f"/console/alerts/{alert}/comment",
                              data={"text": "note", "csrf": first_token})
    assert r.status_code == 403
    assert await _status(api, alert) == "open"
    assert await api.execute("SELECT count(*) FROM alert_events") == [(0,)]


async def test_enterprise_answers_from_its_alert_page(api: ApiEnv) -> None:
    """An enterprise sees an answer form (no officer actions) and its answer with a maintenance window is stored."""
    alert = await api.insert_alert()
    other = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",))
    await _login(api, "enterprise", CEMENT)
    page = await api.client.get(f"/console/alerts/{alert}")
    assert page.status_code == 200
    assert 'name="kind"' in page.text and 'value="acknowledge"' not in page.text
    token = _form_token(page)
    start = T0.strftime("%Y-%m-%dT%H:%M")
    end = (T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    r = await api.client.post(f"/console/alerts/{alert}/answer", data={
        "csrf": token, "kind": "maintenance_declared", "text": "更换滤袋",
        "attachments": "doc:1\ndoc:2\n", "device_id": "PWR-BAG-1", "start": start, "end": end})
    assert r.status_code == 303, r.text
    rows = await api.execute("SELECT a.kind, a.attachments, m.start_ts, m.end_ts"
                             " FROM alert_answers a JOIN maintenance m ON m.id = a.maintenance_id")
    assert rows == [("maintenance_declared", ["doc:1", "doc:2"], T0, T0 + timedelta(hours=1))]
    page = await api.client.get(f"/console/alerts/{alert}")
    assert "更换滤袋" in page.text and "申报运维" in page.text
    r = await api.client.post(f"/console/alerts/{other}/answer",
                              data={"csrf": token, "kind": "explanation", "text": "x"})
    assert r.status_code == 404
    r = await api.client.get("/console/queue")
    assert r.status_code == 403  # the queue is the officers'


async def test_pending_declaration_from_an_answer_is_approved_on_the_queue_page(api: ApiEnv) -> None:
    """An enterprise's after-the-fact maintenance answer waits (pending, listed on the
    officers' queue page with why); the officer approves it there with a reason."""
    alert = await api.insert_alert()
    await _login(api, "enterprise", CEMENT)
    token = _form_token(await api.client.get(f"/console/alerts/{alert}"))
    r = await api.client.post(f"/console/alerts/{alert}/answer", data={
        "csrf": token, "kind": "maintenance_declared", "text": "更换滤袋", "device_id": "PWR-BAG-1",
        "start": T0.strftime("%Y-%m-%dT%H:%M"), "end": (T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")})
    assert r.status_code == 303, r.text
    [(mid, status, why)] = await api.execute("SELECT id, status, pending_reason FROM maintenance")
    assert (status, why) == ("pending", "retroactive")
    api.client.cookies.clear()
    await _login(api, "officer", label="张伟")
    page = await api.client.get("/console/queue")
    assert "待审批的维护申报" in page.text and "事后补报" in page.text and "更换滤袋" in page.text
    assert f'action="/console/maintenance/{mid}/decide"' in page.text
    r = await api.client.post(f"/console/maintenance/{mid}/decide",
                              data={"csrf": _form_token(page), "action": "approve", "reason": "现场核实"})
    assert (r.status_code, r.headers["location"]) == (303, "/console/queue")
    assert await api.execute("SELECT status, decision_reason FROM maintenance") == [("approved", "现场核实")]
    page = await api.client.get("/console/queue", params={"lang": "en"})
    assert "awaiting approval" not in page.text
