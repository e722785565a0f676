"""Console pages of due process: the right to be heard on the alert page, confirmation as a
first offence (首违不罚), rectification forms and the ledger, and refusals shown beside the form.

A refused console form post answers with the page it came from, rendered again with the
reason beside the form and the typed text kept, and with the refusal's status: 409 for a
conflict (the hearing, a first offence that does not qualify, a decided rectification), 422
for a value that cannot be taken (a bad due date, a refused file, a missing reason).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
from test_api_support import CEMENT, COKING, CST, ApiEnv

from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


class Console:
    """One browser-like client per test: log in as a role, read pages, post forms with the
    session's form token."""

    def __init__(self, api: ApiEnv) -> None:
        self.api = api
        self.tokens: dict[str, str] = {}
        self.csrf: dict[str, str] = {}
        self.who = ""

    async def be(self, who: str, role: str, *, enterprise_id: str | None = None,
                 region: str | None = None, label: str = "") -> None:
        if who not in self.tokens:
            async with await psycopg.AsyncConnection.connect(self.api.dsn, autocommit=True) as conn:
                self.tokens[who] = await create_token(conn, role=role, enterprise_id=enterprise_id,
                                                      region=region, label=label or who)
        self.api.client.cookies.clear()
        r = await self.api.client.get("/console/login", params={"token": self.tokens[who]})
        assert r.status_code == 303
        self.who = who

    async def get(self, url: str, **params: str) -> httpx.Response:
        r = await self.api.client.get(url, params=params or None)
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text)
        if m:
            self.csrf[self.who] = m.group(1)
        return r

    async def post(self, url: str, data: dict[str, str], files: Any = None) -> httpx.Response:
        return await self.api.client.post(url, data={**data, "csrf": self.csrf[self.who]}, files=files)


def text_of(page: httpx.Response) -> str:
    """The page's text with tags removed and entities decoded (what a reader sees)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.text))


def form_of(page: httpx.Response, form_id: str) -> str:
    """The form's HTML, entities decoded."""
    m = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page.text, re.S)
    assert m, f"no form {form_id} on the page"
    return html.unescape(m.group(0))


def words(markup: str) -> str:
    """Markup without its tags."""
    return re.sub(r"<[^>]+>", "", markup)


async def _status(api: ApiEnv, alert: int) -> tuple[Any, ...]:
    return (await api.execute("SELECT status, disposition FROM alerts WHERE id = %s", (alert,)))[0]


async def _dispatched(c: Console, **kw: Any) -> int:
    alert = await c.api.insert_alert(**kw)
    await c.be("officer", "officer", label="张伟")
    await c.get(f"/console/alerts/{alert}")
    for action in ("acknowledge", "dispatch"):
        r = await c.post(f"/console/alerts/{alert}/transition", {"action": action, "reason": ""})
        assert r.status_code == 303, r.text
    return alert


async def _order(c: Console, alert: int, days: int = 7) -> int:
    await c.be("officer", "officer")
    await c.get(f"/console/alerts/{alert}")
    due = (datetime.now(CST) + timedelta(days=days)).date().isoformat()
    r = await c.post(f"/console/alerts/{alert}/rectification",
                     {"due": due, "requirements": "更换布袋除尘器滤袋并提交运行记录"})
    assert r.status_code == 303, r.text
    [(rid,)] = await c.api.execute("SELECT id FROM rectifications WHERE alert_id = %s AND status = 'ordered'",
                                   (alert,))
    assert r.headers["location"] == f"/console/alerts/{alert}#rectification-{rid}"
    return int(rid)


async def _submit(c: Console, alert: int, rid: int, files: Any = None) -> httpx.Response:
    await c.be("enterprise", "enterprise", enterprise_id=CEMENT)
    await c.get(f"/console/alerts/{alert}")
    return await c.post(f"/console/rectifications/{rid}/submit",
                        {"text": "已更换全部滤袋，附验收报告", "references": "doc:2026-311\n"},
                        files=files or [("files", ("验收报告.pdf", PDF, "application/pdf"))])


async def test_confirm_is_disabled_with_the_reason_until_the_enterprise_is_heard(api: ApiEnv) -> None:
    """After dispatch the officer's page shows the hearing (awaiting the answer until the
    deadline) and a disabled confirm button with why and from when; posting confirm anyway is
    409 with the reason beside the confirm form and the typed reason kept, in Chinese and in
    English."""
    c = Console(api)
    alert = await _dispatched(c)
    [(due,)] = await api.execute("SELECT due_at FROM alerts WHERE id = %s", (alert,))
    due_text = due.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    page = await c.get(f"/console/alerts/{alert}")
    confirm = form_of(page, "form-confirm")
    assert re.search(r'<button type="submit" disabled[^>]*>确认违法</button>', confirm)
    assert f"暂不能确认违法：企业可在{due_text}（北京时间）前陈述、申辩" in words(confirm)
    assert f"自{due_text}（北京时间）起可确认违法" in words(confirm)
    assert 'id="hearing"' not in page.text  # the confirm form says it, once
    r = await c.post(f"/console/alerts/{alert}/transition",
                     {"action": "confirm", "reason": "数据核实无误，拟确认"})
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/html")
    confirm = form_of(r, "form-confirm")
    assert f"预警{alert}暂不能确认违法（保障企业陈述、申辩权利）" in confirm and 'id="form-error"' in confirm
    assert "数据核实无误，拟确认</textarea>" in confirm
    r = await c.post(f"/console/alerts/{alert}/transition?lang=en", {"action": "confirm", "reason": "ready"})
    assert r.status_code == 409
    confirm = form_of(r, "form-confirm")
    assert f"Alert {alert} cannot be confirmed yet (the enterprise's right to be heard)" in confirm
    assert "Cannot be confirmed yet: the enterprise may state its case until" in words(confirm)
    assert f"confirming is possible from {due_text} (UTC+8)" in confirm and "ready</textarea>" in confirm
    assert await _status(api, alert) == ("dispatched", None)


async def test_an_officer_opening_the_page_reads_the_answers_and_may_then_confirm(api: ApiEnv) -> None:
    """The enterprise answers in its console and sees its answer unread; an officer's confirm
    posted before opening the page is 409 (an unread answer), and the page it gets back has
    read the answers: it shows them read, the hearing satisfied and the button enabled, and
    the reading is recorded once; confirming then succeeds."""
    c = Console(api)
    alert = await _dispatched(c)
    await c.be("enterprise", "enterprise", enterprise_id=CEMENT)
    page = await c.get(f"/console/alerts/{alert}")
    assert 'id="hearing"' not in page.text and 'value="confirm"' not in page.text  # the officers' matter
    r = await c.post(f"/console/alerts/{alert}/answer",
                     {"kind": "explanation", "text": "当日系停产检修，附检修记录"})
    assert r.status_code == 303, r.text
    page = await c.get(f"/console/alerts/{alert}")
    assert "当日系停产检修，附检修记录" in page.text and "未查阅" in text_of(page)
    await c.be("officer", "officer")
    r = await c.post(f"/console/alerts/{alert}/transition", {"action": "confirm", "reason": "已核实"})
    assert r.status_code == 409
    assert "企业的1条答复中有1条尚未经执法人员查阅" in form_of(r, "form-confirm")
    # The page that says so shows the answers, so the officer has now read them.
    assert "已查阅" in text_of(r) and "企业已答复（1条），执法人员均已查阅" in text_of(r)
    assert re.search(r'<button type="submit">确认违法</button>', form_of(r, "form-confirm"))
    assert await api.execute("SELECT count(*) FROM alert_events WHERE kind = 'answers_read'") == [(1,)]
    await c.get(f"/console/alerts/{alert}")
    assert await api.execute("SELECT count(*) FROM alert_events WHERE kind = 'answers_read'") == [(1,)]
    r = await c.post(f"/console/alerts/{alert}/transition", {"action": "confirm", "reason": "已核实"})
    assert (r.status_code, r.headers["location"]) == (303, f"/console/alerts/{alert}")
    assert await _status(api, alert) == ("confirmed", None)
    page = await c.get(f"/console/alerts/{alert}")
    close = form_of(page, "form-close")
    assert 'value="case_filed"' in close and 'value="first_offence_no_penalty"' not in close


async def test_first_offence_conditions_are_shown_and_refusals_inline(api: ApiEnv) -> None:
    """The confirm form lists the three conditions of 首违不罚; without a verified
    rectification its choice is disabled and a post of it anyway is 409 with the reason
    beside the form. Once the rectification is verified every condition holds, confirming
    as a first offence succeeds, and closing offers only that disposition."""
    c = Console(api)
    alert = await _dispatched(c, end=datetime.now(CST) - timedelta(days=3))
    await api.execute("UPDATE alerts SET due_at = now() - interval '1 minute' WHERE id = %s", (alert,))
    page = await c.get(f"/console/alerts/{alert}")
    confirm = form_of(page, "form-confirm")
    assert re.search(r'<button type="submit">确认违法</button>', confirm)  # the deadline passed
    assert re.search(r'value="first_offence_no_penalty" disabled', confirm)
    assert "✗ 本预警的整改尚未核查通过" in confirm and "✓ 治污设施未运行适用首违不罚" in confirm
    assert "✓ 企业12个月内无治污设施未运行违法确认记录" in confirm
    assert "首违不罚适用条件：尚未全部满足" in words(confirm)
    r = await c.post(f"/console/alerts/{alert}/transition",
                     {"action": "confirm", "disposition": "first_offence_no_penalty", "reason": "首次"})
    assert r.status_code == 409
    assert f"预警{alert}不符合首违不罚条件：本预警的整改尚未核查通过" in form_of(r, "form-confirm")
    rid = await _order(c, alert)
    assert (await _submit(c, alert, rid)).status_code == 303
    await c.be("officer", "officer")
    await c.get(f"/console/alerts/{alert}")
    r = await c.post(f"/console/rectifications/{rid}/verify", {"reason": "现场核查滤袋已更换"})
    assert r.status_code == 303, r.text
    page = await c.get(f"/console/alerts/{alert}?lang=en")
    confirm = form_of(page, "form-confirm")
    assert "✓ a rectification of this alert was verified" in confirm
    assert "Conditions for a first offence without penalty: all met" in words(confirm)
    assert re.search(r'value="first_offence_no_penalty">', confirm)
    r = await c.post(f"/console/alerts/{alert}/transition",
                     {"action": "confirm", "disposition": "first_offence_no_penalty", "reason": "首次违法且已整改"})
    assert r.status_code == 303, r.text
    assert await _status(api, alert) == ("confirmed", "first_offence_no_penalty")
    page = await c.get(f"/console/alerts/{alert}")
    close = re.findall(r'<option value="(\w+)"', form_of(page, "form-close"))
    assert close == ["first_offence_no_penalty"]
    r = await c.post(f"/console/alerts/{alert}/transition",
                     {"action": "close", "disposition": "case_filed", "reason": "立案"})
    assert r.status_code == 422 and "请从列表中选择适用于当前状态的结论" in form_of(r, "form-close")


async def test_ordering_a_rectification_refusals_keep_the_typed_text(api: ApiEnv) -> None:
    """The order form takes a date (the end of that day, China time); a date that is not one,
    or one in the past, is 422 beside the form with the requirements kept; ordering on a
    dismissed alert is 409 with the reason; a valid order on an open alert dispatches it and
    makes it rectifying, and the page shows the rectification's section."""
    c = Console(api)
    dismissed = await api.insert_alert()
    await api.execute("UPDATE alerts SET status = 'dismissed' WHERE id = %s", (dismissed,))
    await c.be("officer", "officer")
    page = await c.get(f"/console/alerts/{dismissed}")
    assert 'id="form-rectification"' not in page.text
    r = await c.post(f"/console/alerts/{dismissed}/rectification", {"due": "2099-12-31", "requirements": "x"})
    assert r.status_code == 409 and f"预警 {dismissed} 当前状态为“已排除”" in text_of(r)
    assert 'id="form-error"' in r.text
    alert = await api.insert_alert()  # an open alert: the order dispatches it first
    page = await c.get(f"/console/alerts/{alert}")
    assert 'type="date" name="due"' in form_of(page, "form-rectification")
    for due, message in (("下周五", "整改期限：整改期限须为日期（如 2026-12-31）"),
                         ("2020-01-01", "整改期限：整改期限须晚于当前时间")):
        r = await c.post(f"/console/alerts/{alert}/rectification", {"due": due, "requirements": "更换滤袋"})
        assert r.status_code == 422, (due, r.status_code)
        form = form_of(r, "form-rectification")
        assert message in form and "更换滤袋</textarea>" in form, due
    r = await c.post(f"/console/alerts/{alert}/rectification?lang=en", {"due": "someday", "requirements": "bags"})
    assert r.status_code == 422 and "Due: the due time must be a date" in form_of(r, "form-rectification")
    rid = await _order(c, alert)
    [(due_at,)] = await api.execute("SELECT due_at FROM rectifications WHERE id = %s", (rid,))
    assert due_at.astimezone(CST).strftime("%H:%M:%S") == "23:59:59"
    page = await c.get(f"/console/alerts/{alert}")
    assert await _status(api, alert) == ("rectifying", None) and "整改中" in text_of(page)
    [(due_at,)] = await api.execute("SELECT due_at FROM alerts WHERE id = %s", (alert,))
    assert due_at is not None  # dispatched by the order: the answer deadline runs
    assert f'id="rectification-{rid}"' in page.text and "已责令整改" in text_of(page)
    assert 'id="form-rectification"' not in page.text  # one in progress at a time
    assert f'id="form-reject-{rid}"' in page.text and f'id="form-verify-{rid}"' not in page.text


async def test_the_enterprise_submits_files_shown_with_their_hash_and_downloadable(api: ApiEnv) -> None:
    """The enterprise's multipart submission stores its files; the page lists each file's
    name, size and SHA-256 with a console download link, the references and the evidence
    package; the download returns the very bytes; another enterprise gets 404 for the file;
    a refused file is 422 beside the form with the text kept and nothing stored."""
    c = Console(api)
    alert = await _dispatched(c)
    rid = await _order(c, alert)
    await c.be("enterprise", "enterprise", enterprise_id=CEMENT)
    page = await c.get(f"/console/alerts/{alert}")
    form = form_of(page, f"form-submit-{rid}")
    assert 'enctype="multipart/form-data"' in form and 'type="file" name="files" multiple' in form
    assert f'id="form-reject-{rid}"' not in page.text and 'id="form-rectification"' not in page.text
    r = await c.post(f"/console/rectifications/{rid}/submit", {"text": "已整改", "references": ""},
                     files=[("files", ("运行记录.exe", b"MZ\x90\x00", "application/x-msdownload"))])
    assert r.status_code == 422
    form = form_of(r, f"form-submit-{rid}")
    assert "第 1 个文件：运行记录.exe 的类型不能接受；可上传 PDF/JPEG/PNG/WebP/TXT/CSV/DOCX/XLSX 文件" in form
    assert "已整改</textarea>" in form and "所选文件未保存，请重新选择后提交" in form
    assert await api.execute("SELECT count(*) FROM attachments") == [(0,)]
    r = await c.post(f"/console/rectifications/{rid}/submit", {"text": "已整改"},
                     files=[("files", ("报告.pdf", PDF, "application/pdf")),
                            ("files", ("照片.pdf", PNG, "application/pdf"))])
    assert r.status_code == 422  # the store checks the content of every file
    assert "第 2 个文件：照片.pdf 声明为 application/pdf，但文件内容与类型不符" in form_of(r, f"form-submit-{rid}")
    assert await api.execute("SELECT count(*) FROM attachments") == [(0,)]
    r = await _submit(c, alert, rid, files=[("files", ("验收报告.pdf", PDF, "application/pdf")),
                                            ("files", ("现场照片.png", PNG, "image/png"))])
    assert (r.status_code, r.headers["location"]) == (303, f"/console/alerts/{alert}#rectification-{rid}")
    page = await c.get(f"/console/alerts/{alert}")
    rows = await api.execute("SELECT id, filename, size FROM attachments ORDER BY id")
    assert [(name, size) for _, name, size in rows] == [("验收报告.pdf", len(PDF)), ("现场照片.png", len(PNG))]
    for (aid, _name, _size), content in zip(rows, (PDF, PNG), strict=True):
        assert f'href="/console/attachments/{aid}"' in page.text
        assert hashlib.sha256(content).hexdigest() in page.text
        download = await api.client.get(f"/console/attachments/{aid}")
        assert download.status_code == 200 and download.content == content
        assert download.headers["content-disposition"].startswith("attachment;")
    assert "doc:2026-311" in page.text and "已提交整改材料" in text_of(page)
    [(evidence_id,)] = await api.execute("SELECT evidence_id FROM rectification_submissions")
    assert f'href="/console/evidence/{evidence_id}"' in page.text
    await c.be("other", "enterprise", enterprise_id=COKING)
    assert (await api.client.get(f"/console/attachments/{rows[0][0]}")).status_code == 404
    other = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",))
    await c.get(f"/console/alerts/{other}")
    r = await c.post(f"/console/rectifications/{rid}/submit", {"text": "x"})
    assert r.status_code == 404


async def test_verification_with_a_data_check_shows_the_chart_and_refuses_a_recurrence(api: ApiEnv) -> None:
    """A data check that finds the rule again refuses the verification: 409 beside the verify
    form with the finding, a chart of the occurrences per day and the reason kept; with
    "verify anyway" it is verified and the page shows the stored check and its chart."""
    c = Console(api)
    now = datetime.now(CST)
    alert = await _dispatched(c, end=now - timedelta(days=5))
    rid = await _order(c, alert)
    assert (await _submit(c, alert, rid)).status_code == 303
    again = await api.insert_alert(start=now - timedelta(days=2), end=now - timedelta(days=2, hours=-1))
    await c.be("officer", "officer")
    page = await c.get(f"/console/alerts/{alert}")
    assert f'id="form-verify-{rid}"' in page.text
    r = await c.post(f"/console/rectifications/{rid}/verify",
                     {"reason": "材料齐全", "data_check_days": "30"})
    assert r.status_code == 409
    form = form_of(r, f"form-verify-{rid}")
    assert "未验收：最近 30 天" in form and f"治污设施未运行再次发生：预警 {again}" in form
    assert "请勾选“核查发现再次发生时仍验收通过”" in form
    assert "<svg" in form and "治污设施未运行：最近 30 天每日发生次数" in form and "<rect x=" in form
    assert "材料齐全</textarea>" in form and 'value="30"' in form
    r = await c.post(f"/console/rectifications/{rid}/verify", {"reason": "x", "data_check_days": "400"})
    assert r.status_code == 422 and "数据核查天数须为 1 至 365 的整数" in form_of(r, f"form-verify-{rid}")
    r = await c.post(f"/console/rectifications/{rid}/verify",
                     {"reason": "材料齐全，复发已另案处理", "data_check_days": "30", "force": "on"})
    assert r.status_code == 303, r.text
    page = await c.get(f"/console/alerts/{alert}?lang=en")
    section = page.text[page.text.index(f'id="rectification-{rid}"'):]
    assert "a recurrence was found and the officer verified anyway" in section
    assert "Treatment off while production runs: occurrences per day over the last 30 days" in section
    assert "<svg" in section and f'id="form-verify-{rid}"' not in section
    assert await _status(api, alert) == ("dispatched", None)


async def test_rejecting_needs_a_reason_and_a_decided_rectification_refuses_more(api: ApiEnv) -> None:
    """Rejecting without a reason is 422 beside the reject form; with one the rectification is
    rejected and the alert returns; the enterprise's later submission is 409 on its page."""
    c = Console(api)
    alert = await _dispatched(c)
    rid = await _order(c, alert)
    await c.get(f"/console/alerts/{alert}")
    r = await c.post(f"/console/rectifications/{rid}/reject", {"reason": "  "})
    assert r.status_code == 422 and "理由：须填写 1 至 5000 个字符的理由" in form_of(r, f"form-reject-{rid}")
    r = await c.post(f"/console/rectifications/{rid}/reject", {"reason": "逾期未提交材料"})
    assert r.status_code == 303
    assert await api.execute("SELECT status, decision_reason FROM rectifications") == [("rejected", "逾期未提交材料")]
    assert await _status(api, alert) == ("dispatched", None)
    await c.be("enterprise", "enterprise", enterprise_id=CEMENT)
    page = await c.get(f"/console/alerts/{alert}")
    assert f'id="form-submit-{rid}"' not in page.text and "逾期未提交材料" in page.text
    r = await c.post(f"/console/rectifications/{rid}/submit", {"text": "补交"})
    assert r.status_code == 409 and f"整改单 {rid} 的状态为“已驳回”" in text_of(r)


async def test_the_ledger_lists_filters_pages_and_exports(api: ApiEnv) -> None:
    """Officers find the ledger in the navigation with filters by status, overdue, region and
    enterprise, pages of 50 and a CSV export of every matching row; the enterprise sees its
    own ledger (问题台账) only."""
    c = Console(api)
    cement = await _dispatched(c)
    first = await _order(c, cement)
    coking = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",))
    await api.execute("UPDATE alerts SET status = 'dispatched' WHERE id = %s", (coking,))
    second = await _order(c, coking)
    await api.execute("UPDATE rectifications SET due_at = now() - interval '1 day' WHERE id = %s", (second,))
    page = await c.get("/console/rectifications")
    assert page.status_code == 200 and 'href="/console/rectifications">整改台账</a>' in page.text
    assert f'#rectification-{first}"' in page.text and f'#rectification-{second}"' in page.text
    page = await c.get("/console/rectifications", overdue="true")
    assert 'href="/console/rectifications?overdue=true&amp;format=csv"' in page.text
    assert f'#rectification-{second}"' in page.text and f'#rectification-{first}"' not in page.text
    assert "已逾期" in text_of(page)
    page = await c.get("/console/rectifications", enterprise_id=CEMENT, status="ordered")
    assert f'#rectification-{first}"' in page.text and f'#rectification-{second}"' not in page.text
    page = await c.get("/console/rectifications", region="130182")
    assert f'#rectification-{second}"' in page.text and f'#rectification-{first}"' not in page.text
    export = await c.get("/console/rectifications", overdue="false", format="csv")
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith('attachment; filename="rectifications-')
    assert export.content.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [int(r["编号"]) for r in rows] == [first] and rows[0]["统一社会信用代码"] == CEMENT
    await c.be("enterprise", "enterprise", enterprise_id=CEMENT)
    page = await c.get("/console/rectifications", lang="en")
    assert "Our rectification ledger" in page.text and 'href="/console/rectifications?lang=en">Our' in page.text
    assert f'#rectification-{first}"' in page.text and f'#rectification-{second}"' not in page.text
    assert 'name="region"' not in page.text
    page = await c.get("/console/rectifications", enterprise_id=COKING)  # not a filter it may use
    assert f'#rectification-{second}"' not in page.text
    await c.be("officer", "officer")
    # more than a page: 51 rejected ones of the cement plant's alert
    await api.execute(
        "INSERT INTO rectifications (alert_id, enterprise_id, rule, status, requirements, due_at, decided_at)"
        " SELECT %s, %s, 'treatment_off', 'rejected', 'old ' || g, now(), now() FROM generate_series(1, 51) g",
        (cement, CEMENT))
    page = await c.get("/console/rectifications", enterprise_id=CEMENT)
    assert page.text.count("#rectification-") == 50
    more = re.search(r'<a href="([^"]+)">更多 →</a>', page.text)
    assert more and "cursor=" in more.group(1) and "enterprise_id=" in more.group(1)
    rest = await c.get(html.unescape(more.group(1)))
    assert rest.text.count("#rectification-") == 2
    export = await c.get("/console/rectifications", enterprise_id=CEMENT, format="csv")
    assert len(list(csv.DictReader(io.StringIO(export.text)))) == 52


async def test_a_region_limited_officer_gets_404_on_another_regions_rectification(api: ApiEnv) -> None:
    """An officer limited to 1306 gets 404 for the cement plant's (130105) rectification
    forms, alert forms and files, and nothing changes; its ledger lists none of them."""
    c = Console(api)
    alert = await _dispatched(c)
    rid = await _order(c, alert)
    assert (await _submit(c, alert, rid)).status_code == 303
    [(aid,)] = await api.execute("SELECT id FROM attachments")
    await c.be("glass", "officer", region="1306")
    own = await api.insert_alert(enterprise_id="91130627MA0GLA2230", device_ids=("PWR-FURN-1",))
    await c.get(f"/console/alerts/{own}")
    for url, data in ((f"/console/rectifications/{rid}/verify", {"reason": "ok"}),
                      (f"/console/rectifications/{rid}/reject", {"reason": "no"}),
                      (f"/console/alerts/{alert}/rectification", {"due": "2099-12-31", "requirements": "x"}),
                      (f"/console/alerts/{alert}/rectification", {"due": "bad", "requirements": ""})):
        r = await c.post(url, data)
        assert r.status_code == 404, (url, r.status_code)
    assert (await api.client.get(f"/console/attachments/{aid}")).status_code == 404
    assert (await api.client.get(f"/console/alerts/{alert}")).status_code == 404
    page = await c.get("/console/rectifications")
    assert "#rectification-" not in page.text
    assert await api.execute("SELECT status FROM rectifications") == [("submitted",)]


async def test_existing_forms_show_refusals_inline(api: ApiEnv) -> None:
    """Dismissing without a reason, an empty comment, an answer with half a maintenance
    window and a maintenance decision without a reason or on a decided declaration each
    render their page again with the reason beside the form and the typed text kept."""
    c = Console(api)
    alert = await api.insert_alert()
    await c.be("officer", "officer")
    await c.get(f"/console/alerts/{alert}")
    r = await c.post(f"/console/alerts/{alert}/transition?lang=en", {"action": "dismiss", "reason": " "})
    assert r.status_code == 422 and "A reason of 1 to 5000 characters is needed" in form_of(r, "form-dismiss")
    assert "Not submitted: A reason" in text_of(r)
    r = await c.post(f"/console/alerts/{alert}/comment", {"text": "  ", "public": "on"})
    assert r.status_code == 422 and "请填写内容（1 至 5000 个字符）" in form_of(r, "form-comment")
    assert re.search(r'name="public" checked', form_of(r, "form-comment"))
    r = await c.post(f"/console/alerts/{alert}/transition", {"action": "confirm", "reason": "先确认"})
    assert r.status_code == 409 and "预警当前状态为“待处理”，不能执行“确认违法”" in text_of(r)
    await c.be("enterprise", "enterprise", enterprise_id=CEMENT)
    await c.get(f"/console/alerts/{alert}")
    r = await c.post(f"/console/alerts/{alert}/answer",
                     {"kind": "maintenance_declared", "text": "更换滤袋", "device_id": "PWR-BAG-1",
                      "start": "2026-11-20T08:00", "end": ""})
    assert r.status_code == 422
    form = form_of(r, "form-answer")
    assert "运维结束时间：未填写。申报运维时段须填写开始和结束时间" in form and "更换滤袋</textarea>" in form
    assert 'value="2026-11-20T08:00"' in form and 'value="PWR-BAG-1" selected' in form
    assert await api.execute("SELECT count(*) FROM alert_answers") == [(0,)]
    [(mid,)] = await api.execute(
        "INSERT INTO maintenance (device_id, enterprise_id, start_ts, end_ts, reason, declared_by_role,"
        " status, pending_reason) VALUES ('PWR-BAG-1', %s, now() - interval '1 day', now(), '更换滤袋',"
        " 'enterprise', 'pending', 'retroactive') RETURNING id", (CEMENT,))
    await c.be("officer", "officer")
    await c.get("/console/queue")
    r = await c.post(f"/console/maintenance/{mid}/decide", {"action": "approve", "reason": ""})
    assert r.status_code == 422 and "请填写理由（1 至 2000 个字符）" in text_of(r)
    assert "待审批的维护申报" in r.text and 'id="form-error"' in r.text
    await api.execute("UPDATE maintenance SET status = 'rejected' WHERE id = %s", (mid,))
    r = await c.post(f"/console/maintenance/{mid}/decide", {"action": "approve", "reason": "已核实"})
    assert r.status_code == 409 and "该维护申报的状态为“已驳回”；只能审批待审批的申报" in text_of(r)
