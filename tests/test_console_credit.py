"""Console pages of credit repair by application and of officer notifications: the enterprise's
credit page (first offences, live deductions with their publication period, the application
form), the officers' review page and the notification log; refused forms answer on their own
page with the reason beside the form and the typed text kept."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import MappingProxyType

import httpx
import psycopg
import pytest
from test_api_support import CEMENT, COKING, CST, GLASS, T0, ApiEnv

from ecowarn.api import console_notifications, console_repair
from ecowarn.credit import CreditService, install, load_credit_params
from ecowarn.credit.params import CreditParams, add_months
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
COMMITMENT = "本企业承诺：布袋除尘器已更换滤袋，治污设施与生产设施同步运行，今后严格遵守环保法律法规。"
APPLY = "/console/credit/repair-applications"
DEVICES = {CEMENT: ["PWR-KILN-1", "PWR-BAG-1"], COKING: ["PWR-COKE-1"], GLASS: ["PWR-FURN-1"]}


class Officer:
    token_id = None
    role = "officer"
    label = "Officer Zhao"


@pytest.fixture
def instant() -> Iterator[CreditParams]:
    """Credit configuration without a minimum publication period, so applications can be filed
    on the real clock; the packaged configuration is restored afterwards."""
    params = dataclasses.replace(load_credit_params(),
                                 publication_months=MappingProxyType({"ordinary": 0, "serious": 0}))
    install(CreditService(None, params))
    try:
        yield params
    finally:
        install(None)


async def confirm(api: ApiEnv, enterprise: str = CEMENT, *, severity: str = "high", hours: int = 0,
                  disposition: str | None = None) -> tuple[int, int]:
    """An ended alert of ``enterprise`` confirmed as an officer does: (alert id, ledger entry id)."""
    devices = DEVICES[enterprise]
    start = T0 + timedelta(hours=hours)
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity,"
            " summary, summary_zh, params, evidence) VALUES ('treatment_off', %s, %s, %s, %s, %s, %s,"
            " 'x', 'x', '{}', '{}') RETURNING id",
            (devices[0], enterprise, devices, start, start + timedelta(minutes=40), severity))
        row = await cur.fetchone()
        assert row is not None
        alert = int(row[0])
        await CreditService(api.ctx.registry, load_credit_params()).on_alert_confirmed(
            conn, alert, Officer(), disposition=disposition)
        cur = await conn.execute("SELECT id FROM credit_ledger WHERE alert_id = %s ORDER BY id DESC LIMIT 1",
                                 (alert,))
        entry = await cur.fetchone()
        assert entry is not None
        return alert, int(entry[0])


async def login(api: ApiEnv, role: str, enterprise_id: str | None = None, *, region: str | None = None,
                label: str = "") -> str:
    """A session of a new token in ``api.client``; returns the token."""
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role=role, enterprise_id=enterprise_id, region=region, label=label)
    api.client.cookies.clear()
    r = await api.client.get("/console/login", params={"token": token})
    assert r.status_code == 303
    return token


def csrf_of(page: httpx.Response) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert m, page.text[:500]
    return m.group(1)


def section(page: str, element_id: str) -> str:
    """The HTML of the element with ``element_id`` up to the next one of its kind."""
    start = page.index(f'id="{element_id}"')
    tag = page.rfind("<", 0, start)
    name = page[tag + 1:start].split()[0]
    end = page.find(f"</{name}>", start)
    return page[start:end]


async def apply(api: ApiEnv, entry: int, *, commitment: str = COMMITMENT, csrf: str,
                files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
                lang: str | None = None, enterprise: str = CEMENT) -> httpx.Response:
    """The application form as a browser sends it (multipart, any number of file parts) to the
    enterprise's page."""
    parts = files if files is not None else [("files", ("", b"", "application/octet-stream"))]
    return await api.client.post(f"/console/enterprises/{enterprise}", params={"lang": lang} if lang else None,
                                 data={"csrf": csrf, "entry_id": str(entry), "commitment": commitment},
                                 files=parts)


async def decide(api: ApiEnv, application: int, *, csrf: str, action: str | None, reason: str,
                 params: dict[str, str] | None = None) -> httpx.Response:
    """The decision form of the review page, posted to the list's own address (``params``: its
    filters and language)."""
    form = {"csrf": csrf, "application_id": str(application), "reason": reason}
    if action is not None:
        form["action"] = action
    return await api.client.post(APPLY, params=params, data=form)


async def count(api: ApiEnv, table: str) -> int:
    rows = await api.execute(f"SELECT count(*) FROM {table}")
    return int(rows[0][0])


# --- the enterprise's credit page ---------------------------------------------------------


async def test_page_marks_first_offences_and_shows_when_repair_can_be_applied_for(api: ApiEnv) -> None:
    """A first offence is listed with zero points, labelled no penalty; a live deduction shows the
    end of its minimum publication period (12 months for a high one, from when it was recorded)
    with the submit button disabled until then; the same in English."""
    await confirm(api, hours=-48, disposition="first_offence_no_penalty")
    _, deduction = await confirm(api)
    (recorded,), = await api.execute("SELECT created_at FROM credit_ledger WHERE id = %s", (deduction,))
    allowed = add_months(recorded, 12).astimezone(CST).strftime("%Y-%m-%d %H:%M")
    await login(api, "enterprise", CEMENT)

    page = await api.client.get(f"/console/enterprises/{CEMENT}")
    assert page.status_code == 200
    history = section(page.text, "credit-history")
    first = re.search(r'<tr class="entry-first_offence">.*?</tr>', history, re.S)
    assert first is not None
    assert "首违不罚" in first.group(0) and "不予处罚，不扣分" in first.group(0)
    assert "<td>0</td>" in first.group(0)
    repair = section(page.text, f"repair-{deduction}")
    assert "严重失信记录，最短公示 12 个月" in repair and allowed in repair
    assert f"最短公示期未满：自 {allowed} 起方可申请信用修复" in repair
    assert re.search(r'<button type="submit" disabled>申请信用修复</button>', repair)
    assert 'enctype="multipart/form-data"' in repair and 'type="file"' in repair and "multiple" in repair
    # the first offence took nothing: there is nothing to repair
    assert page.text.count('class="repair"') == 1

    english = await api.client.get(f"/console/enterprises/{CEMENT}", params={"lang": "en"})
    assert "first offence, no penalty" in english.text and "no penalty, no points deducted" in english.text
    assert "Can apply from" in english.text and "Apply for credit repair" in english.text
    assert f"can be applied for from {allowed}" in english.text
    assert "信用修复" not in english.text.split("<main>")[1]


async def test_enterprise_files_an_application_with_files(api: ApiEnv, instant: CreditParams) -> None:
    """The form (multipart, two files) files a pending application and returns to the page at the
    deduction; the page lists the application with each file's name, size, SHA-256 and a console
    download that returns the stored bytes; the deduction's form gives way to the pending note."""
    _, deduction = await confirm(api)
    await login(api, "enterprise", CEMENT, label="水泥厂环保专员")
    page = await api.client.get(f"/console/enterprises/{CEMENT}")
    r = await apply(api, deduction, csrf=csrf_of(page), files=[
        ("files", ("整改报告.pdf", PDF, "application/pdf")), ("files", ("现场照片.png", PNG, "image/png"))])
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/console/enterprises/{CEMENT}#repair-{deduction}"
    (app_id, status, attachments), = await api.execute(
        "SELECT id, status, attachments FROM repair_applications")
    assert status == "pending" and [a["filename"] for a in attachments] == ["整改报告.pdf", "现场照片.png"]
    assert await api.execute("SELECT entry_type FROM credit_ledger ORDER BY id DESC LIMIT 1") == [
        ("repair_application",)]

    page = await api.client.get(f"/console/enterprises/{CEMENT}")
    table = section(page.text, f"application-{app_id}")
    assert "待审批" in table and COMMITMENT in table and "水泥厂环保专员" in table
    pdf = next(a for a in attachments if a["filename"] == "整改报告.pdf")
    assert hashlib.sha256(PDF).hexdigest() in table and f'href="/console/attachments/{pdf["id"]}"' in table
    assert f"{len(PDF)} B" in table
    repair = section(page.text, f"repair-{deduction}")
    assert f"信用修复申请 #{app_id} 正在审批" in repair and "<form" not in repair
    assert f"提交信用修复申请 #{app_id}（扣分记录 #{deduction}）" in section(page.text, "credit-history")

    download = await api.client.get(f"/console/attachments/{pdf['id']}")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert "attachment;" in download.headers["content-disposition"]
    assert download.headers["etag"] == f'"{hashlib.sha256(PDF).hexdigest()}"'


async def test_too_early_is_refused_beside_the_form_with_the_date_and_the_text_kept(api: ApiEnv) -> None:
    """Filing before the publication period ends answers 409 with the enterprise page (not the
    error page): the reason with the date from which it can be filed beside the deduction's form,
    the typed commitment still in it; in English when the page is English; nothing is stored."""
    _, deduction = await confirm(api)
    (recorded,), = await api.execute("SELECT created_at FROM credit_ledger WHERE id = %s", (deduction,))
    allowed = add_months(recorded, 12).astimezone(CST).strftime("%Y-%m-%d %H:%M")
    await login(api, "enterprise", CEMENT)
    csrf = csrf_of(await api.client.get(f"/console/enterprises/{CEMENT}"))
    typed = "我们已完成整改 <承诺> & 守法"

    r = await apply(api, deduction, commitment=typed, csrf=csrf)
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/html")
    assert "出错了" not in r.text and "<h1>石家庄某某水泥有限公司" in r.text
    # the page's own address: its language switch leads to the same page in English
    assert f'<a href="/console/enterprises/{CEMENT}?lang=en">English</a>' in r.text
    error = section(r.text, f"repair-error-{deduction}")
    assert f"最短公示期未满：扣分记录 {deduction} 自 {allowed} 起方可申请信用修复" in error
    form = section(r.text, f"repair-{deduction}")
    assert f">{html.escape(typed, quote=False)}</textarea>" in form
    assert "浏览器不会保留已选的文件" in form

    english = await apply(api, deduction, commitment=typed, csrf=csrf, lang="en")
    assert english.status_code == 409
    assert (f"The minimum publication period has not passed: credit repair of deduction {deduction} can be"
            f" applied for from {allowed}") in section(english.text, f"repair-error-{deduction}")
    assert "Browsers do not keep chosen files" in english.text
    assert await count(api, "repair_applications") == 0 and await count(api, "attachments") == 0


async def test_duplicate_empty_commitment_and_refused_file_are_inline(api: ApiEnv, instant: CreditParams) -> None:
    """An empty commitment and a file of a refused type are 422 and a second application while
    one is pending 409, each beside the deduction's form with the commitment kept; only the
    first, valid filing is stored."""
    _, deduction = await confirm(api)
    await login(api, "enterprise", CEMENT)
    csrf = csrf_of(await api.client.get(f"/console/enterprises/{CEMENT}"))

    blank = await apply(api, deduction, commitment="   ", csrf=csrf)
    assert blank.status_code == 422
    assert "需提交 1 至 5000 个字符的信用修复承诺书" in section(blank.text, f"repair-error-{deduction}")

    script = await apply(api, deduction, csrf=csrf, files=[
        ("files", ("整改报告.pdf", PDF, "application/pdf")), ("files", ("run.sh", b"#!/bin/sh\n", "application/x-sh"))])
    assert script.status_code == 422
    error = section(script.text, f"repair-error-{deduction}")
    assert "不接受文件类型 application/x-sh" in error
    assert f">{COMMITMENT}</textarea>" in section(script.text, f"repair-{deduction}")
    fake = await apply(api, deduction, csrf=csrf, lang="en",
                       files=[("files", ("报告.pdf", b"MZ\x90", "application/pdf"))])
    assert fake.status_code == 422
    assert "报告.pdf is declared application/pdf but its content is not" in section(
        fake.text, f"repair-error-{deduction}")
    assert await count(api, "repair_applications") == 0 and await count(api, "attachments") == 0

    assert (await apply(api, deduction, csrf=csrf)).status_code == 303
    again = await apply(api, deduction, commitment="再次申请", csrf=csrf)
    assert again.status_code == 409
    (app_id,), = await api.execute("SELECT id FROM repair_applications")
    error = section(again.text, f"repair-error-{deduction}")
    assert f"扣分记录 {deduction} 已有待审批的信用修复申请（{app_id}）" in error
    assert ">再次申请</textarea>" in again.text
    assert await count(api, "repair_applications") == 1


async def test_forms_need_the_session_form_token(api: ApiEnv, instant: CreditParams) -> None:
    """A post without the session's form token is 403 and files nothing."""
    _, deduction = await confirm(api)
    await login(api, "enterprise", CEMENT)
    r = await apply(api, deduction, csrf="0" * 64)
    assert r.status_code == 403
    assert await count(api, "repair_applications") == 0


async def test_repair_application_and_decision_entries_are_described_in_the_page_language(
        api: ApiEnv, instant: CreditParams) -> None:
    """The repair (by an approved application) and the rejection of another are described in the
    history from the application and the officer's reason, in Chinese and English; their evidence
    links open the filed document's page, with the commitment and the files' SHA-256."""
    _, first = await confirm(api)
    _, second = await confirm(api, hours=3)
    await login(api, "enterprise", CEMENT)
    csrf = csrf_of(await api.client.get(f"/console/enterprises/{CEMENT}"))
    await apply(api, first, csrf=csrf, files=[("files", ("整改报告.pdf", PDF, "application/pdf"))])
    await apply(api, second, csrf=csrf)
    (a1, e1), (a2, _) = await api.execute("SELECT id, evidence_id FROM repair_applications ORDER BY id")
    await login(api, "officer")
    csrf = csrf_of(await api.client.get(APPLY))
    ok = await decide(api, a1, csrf=csrf, action="approve", reason="现场核查整改到位")
    no = await decide(api, a2, csrf=csrf, action="reject", reason="未附整改证明")
    assert ok.status_code == no.status_code == 303

    page = await api.client.get(f"/console/enterprises/{CEMENT}")
    history = section(page.text, "credit-history")
    assert f"信用修复申请 #{a1} 获批准，恢复 10 分：现场核查整改到位" in history
    assert f"信用修复申请 #{a2} 被驳回：未附整改证明" in history
    english = section((await api.client.get(f"/console/enterprises/{CEMENT}", params={"lang": "en"})).text,
                      "credit-history")
    assert f"credit repair application #{a1} approved, 10 points restored: 现场核查整改到位" in english

    document = await api.client.get(f"/console/evidence/{e1}")
    assert document.status_code == 200 and "信用修复申请材料" in document.text
    assert COMMITMENT in document.text and hashlib.sha256(PDF).hexdigest() in document.text
    (sha,), = await api.execute("SELECT sha256 FROM evidence_packages WHERE id = %s", (e1,))
    assert f'id="sha256">{sha}<' in document.text


# --- the officers' review page --------------------------------------------------------------


async def test_officer_reviews_pending_first_and_approval_restores_the_score(
        api: ApiEnv, instant: CreditParams) -> None:
    """The review page lists pending applications before decided ones, with the commitment and
    each file's name, size and SHA-256 and its download; approving with a reason returns to the
    list, and the enterprise's page shows the score restored."""
    _, older = await confirm(api)
    _, newer = await confirm(api, hours=2)
    await login(api, "enterprise", CEMENT)
    csrf = csrf_of(await api.client.get(f"/console/enterprises/{CEMENT}"))
    assert (await apply(api, older, csrf=csrf, files=[("files", ("整改报告.pdf", PDF, "application/pdf"))])
            ).status_code == 303
    assert (await apply(api, newer, csrf=csrf)).status_code == 303
    (first_app,), (second_app,) = await api.execute("SELECT id FROM repair_applications ORDER BY id")

    await login(api, "officer", label="Officer Sun")
    listing = await api.client.get(APPLY)
    assert listing.status_code == 200
    ids = [int(x) for x in re.findall(r'<section class="application" id="application-(\d+)"', listing.text)]
    assert ids == [second_app, first_app]
    block = section(listing.text, f"application-{first_app}")
    assert COMMITMENT in block and "整改报告.pdf" in block and hashlib.sha256(PDF).hexdigest() in block
    assert f"{len(PDF)} B" in block and "/console/attachments/" in block and "审批意见（必填）" in block
    csrf = csrf_of(listing)

    r = await decide(api, second_app, csrf=csrf, action="reject", reason="证明材料不足")
    assert r.status_code == 303 and r.headers["location"] == APPLY
    listing = await api.client.get(APPLY)
    ids = [int(x) for x in re.findall(r'<section class="application" id="application-(\d+)"', listing.text)]
    assert ids == [first_app, second_app]  # the pending one now comes first
    assert "证明材料不足" in section(listing.text, f"application-{second_app}")

    (before,), = await api.execute("SELECT score FROM credit_scores WHERE enterprise_id = %s", (CEMENT,))
    assert f'<dd id="credit-score"><strong>{before}</strong>' in (
        await api.client.get(f"/console/enterprises/{CEMENT}")).text
    r = await decide(api, first_app, csrf=csrf, action="approve", reason="整改到位",
                     params={"status": "pending", "enterprise": CEMENT, "lang": "en"})
    assert r.status_code == 303
    assert r.headers["location"] == f"{APPLY}?status=pending&enterprise={CEMENT}&lang=en"
    (points,), = await api.execute("SELECT points FROM credit_ledger WHERE id = %s", (older,))
    page = await api.client.get(f"/console/enterprises/{CEMENT}")
    assert f'<dd id="credit-score"><strong>{before - points}</strong>' in page.text
    assert (await api.execute("SELECT status FROM repair_applications WHERE id = %s", (first_app,))) == [
        ("approved",)]
    # the repaired deduction has no application form any more; the rejected one may apply again
    assert f'id="repair-{older}"' not in page.text
    await login(api, "enterprise", CEMENT)
    page = await api.client.get(f"/console/enterprises/{CEMENT}")
    assert "审批意见：证明材料不足" in section(page.text, f"repair-{newer}")
    assert f"信用修复申请 #{second_app} 已被驳回（证明材料不足），可重新申请" in section(page.text, f"repair-{newer}")


async def test_decision_refusals_are_inline_with_the_reason_kept(api: ApiEnv, instant: CreditParams) -> None:
    """A decision without a reason is 422 and one on an application decided meanwhile is 409, both
    on the review page beside the application's form, in the page's language, the typed reason
    kept; an unknown application is the 404 error page."""
    _, deduction = await confirm(api)
    await login(api, "enterprise", CEMENT)
    await apply(api, deduction, csrf=csrf_of(await api.client.get(f"/console/enterprises/{CEMENT}")))
    (app_id,), = await api.execute("SELECT id FROM repair_applications")
    await login(api, "officer")
    csrf = csrf_of(await api.client.get(APPLY))

    blank = await decide(api, app_id, csrf=csrf, action="approve", reason="  ")
    assert blank.status_code == 422 and "出错了" not in blank.text
    assert "需填写 1 至 2000 个字符的理由" in section(blank.text, f"decide-error-{app_id}")
    no_button = await decide(api, app_id, csrf=csrf, action=None, reason="看过了")
    assert no_button.status_code == 422
    assert "请点击“批准修复”或“驳回”按钮提交审批" in no_button.text and ">看过了</textarea>" in no_button.text

    assert (await decide(api, app_id, csrf=csrf, action="approve", reason="整改到位")).status_code == 303
    # posted from the page of pending ones, which it has left: shown on top with the reason
    late = await decide(api, app_id, csrf=csrf, action="reject", reason="second thoughts",
                        params={"status": "pending", "lang": "en"})
    assert late.status_code == 409
    error = section(late.text, f"decide-error-{app_id}")
    assert f"Credit repair application {app_id} is approved already" in error
    assert "Credit repair applications" in late.text
    assert '<a href="/console/credit/repair-applications?status=pending">中文</a>' in late.text
    assert re.findall(r'<section class="application" id="application-(\d+)"', late.text) == [str(app_id)]
    assert await api.execute("SELECT status FROM repair_applications") == [("approved",)]

    absent = await decide(api, 987654, csrf=csrf, action="approve", reason="ok")
    assert absent.status_code == 404 and "出错了" in absent.text


async def test_review_page_filters_and_pages(api: ApiEnv, instant: CreditParams,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Filters by status and enterprise; pages (of 2 here) follow pending-first order without
    repeating or skipping an application."""
    monkeypatch.setattr(console_repair, "PAGE_SIZE", 2)
    deductions = [(await confirm(api, hours=h))[1] for h in range(3)]
    _, coking = await confirm(api, COKING)
    await login(api, "enterprise", CEMENT)
    csrf = csrf_of(await api.client.get(f"/console/enterprises/{CEMENT}"))
    for d in deductions:
        assert (await apply(api, d, csrf=csrf)).status_code == 303
    await login(api, "enterprise", COKING)
    csrf = csrf_of(await api.client.get(f"/console/enterprises/{COKING}"))
    assert (await apply(api, coking, csrf=csrf, enterprise=COKING)).status_code == 303
    apps = [int(r[0]) for r in await api.execute("SELECT id FROM repair_applications ORDER BY id")]
    await login(api, "officer")
    csrf = csrf_of(await api.client.get(APPLY))
    assert (await decide(api, apps[3], csrf=csrf, action="reject", reason="材料不全")).status_code == 303

    seen: list[int] = []
    url: str | None = APPLY
    while url:
        page = await api.client.get(url)
        seen += [int(x) for x in re.findall(r'<section class="application" id="application-(\d+)"', page.text)]
        m = re.search(r'<a href="([^"]+)">下一页', page.text)
        url = html.unescape(m.group(1)) if m else None
    assert seen == [apps[2], apps[1], apps[0], apps[3]]

    rejected = await api.client.get(APPLY, params={"status": "rejected"})
    assert re.findall(r'id="application-(\d+)"', rejected.text) == [str(apps[3])]
    coking_only = await api.client.get(APPLY, params={"enterprise": COKING})
    assert re.findall(r'id="application-(\d+)"', coking_only.text) == [str(apps[3])]
    assert "没有符合条件的申请" in (await api.client.get(APPLY, params={"enterprise": GLASS})).text


# --- who sees what -------------------------------------------------------------------------


async def test_enterprise_sees_only_its_own(api: ApiEnv, instant: CreditParams) -> None:
    """Another enterprise's credit page, attachment and deduction are 404 like missing ones to an
    enterprise session, and the officers' pages are 403."""
    _, deduction = await confirm(api)
    await confirm(api, COKING)  # so that COKING's page has a form (and its session a form token)
    await login(api, "enterprise", CEMENT)
    await apply(api, deduction, csrf=csrf_of(await api.client.get(f"/console/enterprises/{CEMENT}")),
                files=[("files", ("整改报告.pdf", PDF, "application/pdf"))])
    (attachment,), = await api.execute("SELECT id FROM attachments")
    await login(api, "enterprise", COKING)
    csrf = csrf_of(await api.client.get(f"/console/enterprises/{COKING}"))
    assert (await api.client.get(f"/console/enterprises/{CEMENT}")).status_code == 404
    assert (await api.client.get(f"/console/attachments/{attachment}")).status_code == 404
    assert (await api.client.get("/console/attachments/987654")).status_code == 404
    foreign = await apply(api, deduction, csrf=csrf)
    foreign_entry = await apply(api, deduction, csrf=csrf, enterprise=COKING)
    absent = await apply(api, 987654, csrf=csrf, enterprise=COKING)
    assert foreign.status_code == foreign_entry.status_code == absent.status_code == 404
    assert re.sub(r"\d+", "N", foreign_entry.text) == re.sub(r"\d+", "N", absent.text)
    assert (await api.client.get(APPLY)).status_code == 403
    assert (await api.client.get("/console/notifications")).status_code == 403
    assert await count(api, "repair_applications") == 1


async def test_region_limited_officer_sees_its_region_only(api: ApiEnv, instant: CreditParams) -> None:
    """An officer of 1306 gets 404 for the cement plant's (130105) page, application and file,
    exactly like missing ones, does not find its application on the review page, and sees its
    own region's; the unlimited officer sees both."""
    _, cement = await confirm(api)
    _, glass = await confirm(api, GLASS)
    for enterprise, entry in ((CEMENT, cement), (GLASS, glass)):
        await login(api, "enterprise", enterprise)
        await apply(api, entry, csrf=csrf_of(await api.client.get(f"/console/enterprises/{enterprise}")),
                    enterprise=enterprise, files=[("files", (f"{enterprise}.pdf", PDF, "application/pdf"))])
    apps = dict(await api.execute("SELECT enterprise_id, id FROM repair_applications"))
    files = dict(await api.execute("SELECT enterprise_id, id FROM attachments"))

    await login(api, "officer", region="1306")
    listing = await api.client.get(APPLY)
    assert re.findall(r'id="application-(\d+)"', listing.text) == [str(apps[GLASS])]
    assert "石家庄某某水泥有限公司" not in listing.text
    csrf = csrf_of(listing)
    assert (await api.client.get(f"/console/enterprises/{CEMENT}")).status_code == 404
    assert (await api.client.get(f"/console/enterprises/{GLASS}")).status_code == 200
    assert (await api.client.get(f"/console/attachments/{files[CEMENT]}")).status_code == 404
    assert (await api.client.get(f"/console/attachments/{files[GLASS]}")).status_code == 200
    foreign = await decide(api, apps[CEMENT], csrf=csrf, action="approve", reason="ok")
    absent = await decide(api, 987654, csrf=csrf, action="approve", reason="ok")
    assert foreign.status_code == absent.status_code == 404
    assert re.sub(r"\d+", "N", foreign.text) == re.sub(r"\d+", "N", absent.text)
    # without a reason the refusal would be 422 for a visible one; a foreign one stays 404
    assert (await decide(api, apps[CEMENT], csrf=csrf, action="approve", reason="")).status_code == 404
    assert await api.execute("SELECT status FROM repair_applications WHERE id = %s", (apps[CEMENT],)) == [
        ("pending",)]

    await login(api, "officer")
    listing = await api.client.get(APPLY)
    assert sorted(re.findall(r'id="application-(\d+)"', listing.text)) == sorted(str(i) for i in apps.values())


# --- the notification log ------------------------------------------------------------------


async def notification(api: ApiEnv, *, event: str, enterprise: str | None, alert: int | None,
                       subject: int, status: str, attempts: int = 1, error: str | None = None,
                       code: int | None = None, channel: str = "county-robot") -> int:
    region = api.ctx.registry.enterprises[enterprise].region if enterprise else None
    rows = await api.execute(
        "INSERT INTO officer_notifications (delivery_id, event, subject_id, channel, alert_id, enterprise_id,"
        " region, body, status, attempts, next_attempt_at, last_status_code, last_error, delivered_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now() + interval '5 minutes', %s, %s,"
        " CASE WHEN %s = 'delivered' THEN now() END) RETURNING id",
        (uuid.uuid4(), event, subject, channel, alert, enterprise, region,
         '{"msgtype":"markdown","markdown":{"title":"【高级别预警】"}}', status, attempts, code, error, status))
    return int(rows[0][0])


async def test_notification_log_for_officers_scoped_and_paged(api: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """The log shows event, channel, what it is about (linked), status, attempts and the last
    error, newest first in pages; filters by event and status; an officer of 1306 sees only its
    region's notifications (none of no enterprise); in English too."""
    monkeypatch.setattr(console_notifications, "PAGE_SIZE", 2)
    cement_alert = await api.insert_alert(enterprise_id=CEMENT)
    glass_alert = await api.insert_alert(enterprise_id=GLASS, device_ids=("PWR-FURN-1",))
    delivered = await notification(api, event="high_alert", enterprise=CEMENT, alert=cement_alert,
                                   subject=cement_alert, status="delivered")
    failed = await notification(api, event="rectification_overdue", enterprise=GLASS, alert=glass_alert,
                                subject=77, status="failed", attempts=10, code=502, error="bad gateway",
                                channel="baoding-robot")
    pending = await notification(api, event="maintenance_pending", enterprise=None, alert=None, subject=5,
                                 status="pending", attempts=2, error="timed out")
    await login(api, "officer")

    first = await api.client.get("/console/notifications")
    assert first.status_code == 200
    assert re.findall(r'id="notification-(\d+)"', first.text) == [str(pending), str(failed)]
    row = section(first.text, f"notification-{failed}")
    assert "整改逾期" in row and "baoding-robot" in row and "整改 #77" in row and "发送失败（已停止重试）" in row
    assert "HTTP 状态码 502: bad gateway" in row and "<td>10</td>" in row and "区划 130627" in row
    assert f'href="/console/alerts/{glass_alert}"' in row
    row = section(first.text, f"notification-{pending}")
    assert "无所属企业" in row and "运维申报 #5" in row and "下次重试" in row and "timed out" in row
    more = re.search(r'<a href="([^"]+)">下一页', first.text)
    assert more is not None
    second = await api.client.get(html.unescape(more.group(1)))
    assert re.findall(r'id="notification-(\d+)"', second.text) == [str(delivered)]
    assert "已送达" in second.text and "高级别预警" in second.text and "下一页" not in second.text

    only_failed = await api.client.get("/console/notifications", params={"status": "failed", "lang": "en"})
    assert re.findall(r'id="notification-(\d+)"', only_failed.text) == [str(failed)]
    assert "Officer notifications" in only_failed.text and "failed (no more attempts)" in only_failed.text
    assert "Rectification overdue" in only_failed.text and "rectification #77" in only_failed.text
    by_event = await api.client.get("/console/notifications", params={"event": "high_alert"})
    assert re.findall(r'id="notification-(\d+)"', by_event.text) == [str(delivered)]

    await login(api, "officer", region="1306")
    scoped = await api.client.get("/console/notifications")
    assert re.findall(r'id="notification-(\d+)"', scoped.text) == [str(failed)]


async def test_nav_links_for_officers_only(api: ApiEnv) -> None:
    """Officer pages link the review page and the notification log in both languages; an
    enterprise's pages do not."""
    await login(api, "officer")
    page = await api.client.get("/console")
    assert 'href="/console/credit/repair-applications"' in page.text and "信用修复审批" in page.text
    assert 'href="/console/notifications"' in page.text and "通知记录" in page.text
    english = await api.client.get("/console/queue", params={"lang": "en"})
    assert 'href="/console/notifications?lang=en"' in english.text and "Repair applications" in english.text
    await login(api, "enterprise", CEMENT)
    own = await api.client.get(f"/console/enterprises/{CEMENT}")
    assert "/console/credit/repair-applications\"" not in own.text.split("</header>")[0]
    assert "/console/notifications" not in own.text
