"""Uploaded files: names never become paths, declared types must match the bytes, size and count
limits, multipart and JSON bodies, downloads that a browser never renders."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from urllib.parse import unquote

import httpx
import pytest
from test_api_support import CEMENT, CST, ApiEnv

from ecowarn.api.routes_rectifications import MAX_REQUEST_BYTES
from ecowarn.store.attachments import (
    MAX_BYTES,
    MAX_FILES,
    AttachmentRejected,
    Upload,
    check_upload,
    parse_multipart,
)

pytest_plugins = ("test_api_support",)

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\n%%EOF\n"


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.pdf", "..\\boot.ini", "C:\\fakepath\\a.pdf",
                                  "..", ".", "", "   ", "a\x00.pdf", "line\nbreak.pdf", "x" * 201])
def test_names_that_could_be_paths_are_refused(name: str) -> None:
    """Directory parts, '..', drive letters, control characters, empty and over-long names
    are refused on the filename field, in both languages."""
    with pytest.raises(AttachmentRejected) as err:
        check_upload(Upload(name, "application/pdf", PDF), "files[0]")
    assert err.value.field == "files[0].filename"
    assert err.value.message and err.value.message_zh != err.value.message


def test_accepted_upload_is_normalised() -> None:
    """A plain Chinese name is kept (NFC, trimmed); the type loses its parameters and case."""
    ok = check_upload(Upload(" 整改报告 v2.pdf ", "Application/PDF; name=x", PDF), "f")
    assert (ok.filename, ok.content_type, ok.content) == ("整改报告 v2.pdf", "application/pdf", PDF)
    assert check_upload(Upload("r.txt", "text/plain", "说明".encode()), "f").content_type == "text/plain"


@pytest.mark.parametrize(("upload", "field", "key"), [
    (Upload("a.pdf", "application/pdf", b"MZ\x90\x00 not a pdf"), "f", "magic"),
    (Upload("a.png", "image/png", PDF), "f", "magic"),
    (Upload("a.exe", "application/x-msdownload", b"MZ\x90\x00"), "f.content_type", "type_refused"),
    (Upload("a.html", "text/html", b"<script>"), "f.content_type", "type_refused"),
    (Upload("a.pdf", "", PDF), "f.content_type", "type_refused"),
    (Upload("a.pdf", "application/pdf", b""), "f", "empty"),
    (Upload("a.txt", "text/plain", b"\xff\xfe\x00"), "f", "not_utf8"),
    (Upload("a.csv", "text/csv", b"a,b\x00"), "f", "binary_text"),
    (Upload("big.pdf", "application/pdf", b"%PDF-" + b"0" * MAX_BYTES), "f", "too_large"),
])
def test_type_content_and_size_are_checked(upload: Upload, field: str, key: str) -> None:
    """The declared type must be allowed and agree with the bytes; empty and too large files
    are refused."""
    with pytest.raises(AttachmentRejected) as err:
        check_upload(upload, "f")
    assert (err.value.field, err.value.key) == (field, key)


def test_a_file_of_exactly_the_limit_is_accepted() -> None:
    """MAX_BYTES itself is allowed (the limit is inclusive)."""
    content = b"%PDF-" + b"0" * (MAX_BYTES - 5)
    assert len(check_upload(Upload("a.pdf", "application/pdf", content), "f").content) == MAX_BYTES


def test_multipart_parser_reads_browser_bodies() -> None:
    """Fields, several files, UTF-8 names with percent-encoded quotes, filename* and an empty
    file input are read as sent; binary content is kept byte for byte."""
    files = [("files", ('报告 "终稿".pdf', PDF, "application/pdf")),
             ("files", ("photo.png", b"\x89PNG\r\n\x1a\n\r\n--\r\n\x00", "image/png"))]
    request = httpx.Request("POST", "http://x", data={"text": "整改\r\n完成", "attachments": ["doc:1", "doc:2"]},
                            files=files)
    body = request.read()
    form = parse_multipart(body, request.headers["content-type"])
    assert form.values("text") == ["整改\r\n完成"] and form.values("attachments") == ["doc:1", "doc:2"]
    uploads = form.uploads("files")
    assert [(u.filename, u.content_type, u.content) for u in uploads] == [
        ('报告 "终稿".pdf', "application/pdf", PDF),
        ("photo.png", "image/png", b"\x89PNG\r\n\x1a\n\r\n--\r\n\x00")]
    raw = (b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.pdf\";"
           b" filename*=UTF-8''%E6%95%B4%E6%94%B9.pdf\r\nContent-Type: application/pdf\r\n\r\n%PDF-1\r\n"
           b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"\"\r\n"
           b"Content-Type: application/octet-stream\r\n\r\n\r\n--XyZ--\r\n")
    form = parse_multipart(raw, 'multipart/form-data; boundary="XyZ"')
    assert [(u.filename, u.content) for u in form.uploads("files")] == [("整改.pdf", b"%PDF-1"), ("", b"")]


@pytest.mark.parametrize(("body", "ctype"), [
    (b"--b\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nno end", "multipart/form-data; boundary=b"),
    (b"--b\r\nno header break\r\n--b--\r\n", "multipart/form-data; boundary=b"),
    (b"--b\r\nContent-Disposition: attachment\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b"),
    (b"--b--\r\n", "multipart/form-data"),
    (b"--b--\r\n", "multipart/mixed; boundary=b"),
])
def test_malformed_multipart_is_refused(body: bytes, ctype: str) -> None:
    """A body that does not follow multipart/form-data (no close delimiter, no header, not
    form-data, no boundary) is refused, not guessed at."""
    with pytest.raises(AttachmentRejected) as err:
        parse_multipart(body, ctype)
    assert err.value.key == "multipart"


# --- over HTTP -------------------------------------------------------------------------------

async def _rectification(api: ApiEnv) -> int:
    alert = await api.insert_alert()
    officer = await api.headers("officer")
    for action in ("acknowledge", "dispatch"):
        await api.client.post(f"/api/v1/alerts/{alert}/transitions", headers=officer, json={"action": action})
    r = await api.client.post(f"/api/v1/alerts/{alert}/rectification", headers=officer, json={
        "due": (datetime.now(CST) + timedelta(days=7)).isoformat(), "requirements": "提交整改报告"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_refused_files_are_422_naming_the_field_and_store_nothing(api: ApiEnv) -> None:
    """Path-like names, type mismatches, empty files and bad base64 in either body format are
    422 naming the file's field, with the reason in Chinese; nothing is stored or submitted."""
    rect = await _rectification(api)
    ent = await api.headers("enterprise", CEMENT)
    url = f"/api/v1/rectifications/{rect}/submissions"

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    ok_file = {"filename": "ok.pdf", "content_type": "application/pdf", "content_base64": b64(PDF)}
    for attachments, path in (
        (["doc:1", {**ok_file, "filename": "../../etc/passwd"}], "body.attachments[1].filename"),
        ([{**ok_file, "filename": "a/b.pdf"}], "body.attachments[0].filename"),
        ([ok_file, {**ok_file, "content_base64": b64(b"GIF89a")}], "body.attachments[1]"),
        ([{**ok_file, "content_type": "text/html"}], "body.attachments[0].content_type"),
        ([{**ok_file, "content_base64": ""}], "body.attachments[0]"),
        ([{**ok_file, "content_base64": "not base64!"}], "body.attachments[0].content_base64"),
    ):
        r = await api.client.post(url, headers=ent, json={"text": "x", "attachments": attachments})
        assert r.status_code == 422, (attachments, r.text)
        assert r.json()["fields"][0]["path"] == path and r.json()["detail_zh"].startswith(path), r.text
    for files, path in (
        ([("files", ("../../etc/passwd", PDF, "application/pdf"))], "body.files[0].filename"),
        ([("files", ("ok.pdf", PDF, "application/pdf")), ("files", ("x.pdf", b"<html>", "application/pdf"))],
         "body.files[1]"),
        ([("files", ("empty.txt", b"", "text/plain"))], "body.files[0]"),
    ):
        r = await api.client.post(url, headers=ent, data={"text": "x"}, files=files)
        assert r.status_code == 422, (files, r.text)
        assert r.json()["fields"][0]["path"] == path, r.text
    r = await api.client.post(url, headers=ent, data={"text": "x", "csrf": "1"},
                              files=[("files", ("ok.pdf", PDF, "application/pdf"))])
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.csrf"
    for data, path in (({"text": "x", "files": "not a file"}, "body.files"),
                       ({"attachments": "doc:1"}, "body.text")):
        r = await api.client.post(url, headers=ent, data=data,
                                  files=[("files", ("ok.pdf", PDF, "application/pdf"))])
        assert r.status_code == 422 and r.json()["fields"][0]["path"] == path, r.text
        assert r.json()["detail_zh"].startswith(path + "：")
    many = [("files", (f"{i}.pdf", PDF, "application/pdf")) for i in range(MAX_FILES + 1)]
    r = await api.client.post(url, headers=ent, data={"text": "x"}, files=many)
    assert r.status_code == 422, r.text
    r = await api.client.post(url, headers={**ent, "Content-Type": "application/x-www-form-urlencoded"},
                              content=b"text=x")
    assert r.status_code == 415, r.text
    assert await api.execute("SELECT count(*) FROM attachments") == [(0,)]
    assert await api.execute("SELECT count(*) FROM rectification_submissions") == [(0,)]
    assert await api.execute("SELECT count(*) FROM evidence_packages") == [(0,)]


async def test_a_file_over_the_limit_is_422_and_a_body_over_the_limit_413(api: ApiEnv) -> None:
    """One file above MAX_BYTES is 422 on its field; a request body above MAX_REQUEST_BYTES is
    413 before it is parsed."""
    rect = await _rectification(api)
    ent = await api.headers("enterprise", CEMENT)
    url = f"/api/v1/rectifications/{rect}/submissions"
    big = b"%PDF-" + b"0" * MAX_BYTES
    r = await api.client.post(url, headers=ent, data={"text": "x"},
                              files=[("files", ("big.pdf", big, "application/pdf"))])
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body.files[0]", r.text
    huge = b"%PDF-" + b"0" * MAX_REQUEST_BYTES
    r = await api.client.post(url, headers=ent, data={"text": "x"},
                              files=[("files", ("huge.pdf", huge, "application/pdf"))])
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large", r.text[:200]
    assert await api.execute("SELECT count(*) FROM attachments") == [(0,)]


async def test_download_headers_and_bytes(api: ApiEnv) -> None:
    """A stored file downloads byte for byte as an attachment (RFC 6266 filename* with the
    UTF-8 name, an ASCII fallback), with nosniff, no caching and its SHA-256 digest; the
    detail lists it with its hash, size, type and URL."""
    rect = await _rectification(api)
    ent = await api.headers("enterprise", CEMENT)
    name = "整改报告 终稿;100%'s.pdf"
    r = await api.client.post(f"/api/v1/rectifications/{rect}/submissions", headers=ent,
                              json={"text": "见附件", "attachments": [{
                                  "filename": name, "content_type": "application/pdf",
                                  "content_base64": base64.b64encode(PDF).decode()}]})
    assert r.status_code == 201, r.text
    listed = (await api.client.get(f"/api/v1/rectifications/{rect}", headers=await api.headers("officer"))
              ).json()["submissions"][0]["attachments"][0]
    assert listed["sha256"] == hashlib.sha256(PDF).hexdigest() and listed["size"] == len(PDF)
    assert listed["content_type"] == "application/pdf" and listed["filename"] == name
    r = await api.client.get(listed["url"], headers=await api.headers("officer"))
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in r.headers["cache-control"]
    assert r.headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(PDF).digest()).decode()}:"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    fallback = disposition.split('filename="')[1].split('"')[0]
    assert fallback.isascii() and fallback.endswith(".pdf") and ";" in fallback and "%" not in fallback
    star = disposition.split("filename*=UTF-8''")[1]
    assert ";" not in star and '"' not in star and unquote(star) == name
    r = await api.client.get(listed["url"], headers=ent)
    assert r.status_code == 200 and r.content == PDF
    r = await api.client.get(listed["url"], headers=await api.headers("credit"))
    assert r.status_code == 403
