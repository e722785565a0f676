"""The enterprise's answer form on the alert page: files uploaded with the answer (the
rectification form's mechanism and the attachments store's limits), shown to officers with a
download link; refusals shown beside the input at fault, naming it, in the page's language."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import psycopg
from test_api_support import CEMENT, T0, ApiEnv

from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def _login(api: ApiEnv, role: str, enterprise_id: str | None = None) -> str:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role=role, enterprise_id=enterprise_id, label="")
    api.client.cookies.clear()
    r = await api.client.get("/console/login", params={"token": token})
    assert r.status_code == 303
    return token


def _csrf(page: httpx.Response) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert m, "no form token on the page"
    return m.group(1)


def _answer_form(page: str) -> str:
    m = re.search(r'<form[^>]*id="form-answer".*?</form>', page, re.S)
    assert m, "no answer form"
    return m.group(0)


async def test_answer_with_files_is_stored_and_officers_download_them(api: ApiEnv) -> None:
    """The answer form is multipart with a file input; an explanation with a PNG and a PDF
    stores both (name, type, size, SHA-256) with the answer, the JSON answer lists them, and
    the officer's alert page links each to its download, which returns the bytes uploaded."""
    alert = await api.insert_alert()
    await _login(api, "enterprise", CEMENT)
    page = await api.client.get(f"/console/alerts/{alert}")
    form = _answer_form(page.text)
    assert 'enctype="multipart/form-data"' in form and 'type="file" name="files" multiple' in form
    r = await api.client.post(f"/console/alerts/{alert}/answer",
                              data={"csrf": _csrf(page), "kind": "explanation", "text": "现场照片和检修记录见附件",
                                    "attachments": "doc:7"},
                              files=[("files", ("现场照片.png", PNG, "image/png")),
                                     ("files", ("检修记录.pdf", PDF, "application/pdf"))])
    assert r.status_code == 303, r.text
    (files, refs), = await api.execute("SELECT files, attachments FROM alert_answers WHERE alert_id = %s", (alert,))
    assert refs == ["doc:7"]
    assert [(f["filename"], f["content_type"], f["size"]) for f in files] == [
        ("现场照片.png", "image/png", len(PNG)), ("检修记录.pdf", "application/pdf", len(PDF))]

    officer = await _login(api, "officer")
    page = await api.client.get(f"/console/alerts/{alert}")
    answers = re.search(r'<table id="answers">.*?</table>', page.text, re.S)
    assert answers
    for f, content in zip(files, (PNG, PDF), strict=True):
        assert f'<a href="/console/attachments/{f["id"]}" download>{f["filename"]}</a>' in answers.group(0)
        assert f["sha256"] in answers.group(0)
        got = await api.client.get(f"/console/attachments/{f['id']}")
        assert got.status_code == 200 and got.content == content
    body = (await api.client.get(f"/api/v1/alerts/{alert}/answers",
                                 headers={"Authorization": f"Bearer {officer}"})).json()
    assert [f["filename"] for f in body["items"][0]["files"]] == ["现场照片.png", "检修记录.pdf"]


async def test_a_refused_file_is_named_beside_the_file_input_and_nothing_is_stored(api: ApiEnv) -> None:
    """A file whose bytes are not of its declared type, or of a type the store refuses, is 422:
    the message names the file input beside it (in zh and en), the text typed is kept, the page
    asks for the files again, and neither the answer nor any file is stored."""
    alert = await api.insert_alert()
    await _login(api, "enterprise", CEMENT)
    page = await api.client.get(f"/console/alerts/{alert}")
    for q, upload, expected in (
            ("", ("伪装.png", b"not a png", "image/png"), "第 1 个文件："),
            ("?lang=en", ("setup.exe", b"MZ\x90\x00", "application/x-msdownload"), "File 1: ")):
        r = await api.client.post(f"/console/alerts/{alert}/answer{q}",
                                  data={"csrf": _csrf(page), "kind": "explanation", "text": "说明"},
                                  files=[("files", upload)])
        assert r.status_code == 422, r.text
        form = _answer_form(r.text)
        beside = re.search(r'<input type="file" name="files"[^>]*aria-invalid="true"[^>]*>.*?'
                           r'<span class="error field-error" id="form-error" role="alert">([^<]*)</span>', form, re.S)
        assert beside and beside.group(1).startswith(expected), form
        assert ">说明</textarea>" in form and ("所选文件未保存" in form or "choose them again" in form)
    assert await api.execute("SELECT count(*) FROM alert_answers") == [(0,)]
    assert await api.execute("SELECT count(*) FROM attachments") == [(0,)]


async def test_window_refusals_name_the_input_beside_it(api: ApiEnv) -> None:
    """Each missing or wrong part of a maintenance window is refused beside its own input and
    named (device, start, end; an end before the start; a window on an explanation beside the
    answer kind), in Chinese and in English, with what was typed kept and nothing stored."""
    alert = await api.insert_alert()
    await _login(api, "enterprise", CEMENT)
    page = await api.client.get(f"/console/alerts/{alert}")
    start, end = T0.strftime("%Y-%m-%dT%H:%M"), (T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    full = {"kind": "maintenance_declared", "text": "更换滤袋", "device_id": "PWR-BAG-1", "start": start, "end": end}
    cases = [
        ({"device_id": ""}, "device_id", "运维设备：未选择", "Maintained device: not chosen"),
        ({"start": ""}, "start", "运维开始时间：未填写", "Maintenance start: missing"),
        ({"end": ""}, "end", "运维结束时间：未填写", "Maintenance end: missing"),
        ({"end": (T0 - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")}, "end", "运维结束时间：须晚于运维开始时间",
         "Maintenance end: must be after the maintenance start"),
        ({"device_id": "PWR-COKE-1"}, "device_id", "运维设备：须为本预警的设备之一",
         "Maintained device: must be one of this alert's devices"),
        ({"kind": "explanation"}, "kind", "答复类型：只有“申报运维”类答复可以填写运维时段",
         "Kind: only a \"maintenance declared\" answer"),
    ]
    for change, field, zh, en in cases:
        for q, expected in (("", zh), ("?lang=en", en)):
            r = await api.client.post(f"/console/alerts/{alert}/answer{q}",
                                      data={"csrf": _csrf(page), **full, **change})
            assert r.status_code == 422, (change, r.text[:500])
            form = _answer_form(r.text)
            errors = re.findall(r'class="error[^"]*" id="form-error" role="alert">([^<]*)<', form)
            assert len(errors) == 1 and html.unescape(errors[0]).startswith(expected), (change, errors)
            tag = "select" if field in ("kind", "device_id") else "input"
            beside = re.search(rf'<{tag}[^>]*name="{field}"[^>]*aria-invalid="true".*?<span class="error field-error"',
                               form, re.S)
            assert beside and "<br>" not in beside.group(0).split("</label>")[-1], (change, form)
            assert ">更换滤袋</textarea>" in form
    assert await api.execute("SELECT count(*) FROM alert_answers") == [(0,)]


async def test_rectification_order_refusals_show_beside_the_input(api: ApiEnv) -> None:
    """The rectification order form uses the same placement: a due date that is not a date is
    refused beside the due input (named, marked invalid), not at the top of the form."""
    alert = await api.insert_alert()
    await _login(api, "officer")
    page = await api.client.get(f"/console/alerts/{alert}")
    r = await api.client.post(f"/console/alerts/{alert}/rectification",
                              data={"csrf": _csrf(page), "due": "下周", "requirements": "更换滤袋"})
    assert r.status_code == 422, r.text[:500]
    form = re.search(r'<form[^>]*id="form-rectification".*?</form>', r.text, re.S)
    assert form, "no order form"
    beside = re.search(r'<input type="date" name="due"[^>]*aria-invalid="true"[^>]*>.*?</label> '
                       r'<span class="error field-error" id="form-error" role="alert">([^<]*)</span>',
                       form.group(0), re.S)
    assert beside and beside.group(1).startswith("整改期限："), form.group(0)
    assert len(re.findall(r'class="error[^"]*"', form.group(0))) == 1
