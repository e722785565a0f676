"""Files an enterprise uploads as proof (rectification, credit repair application).

A file is checked before anything is stored: a plain file name (no directory part, no
``..``, no control characters; it is never used as a path), a content type from
:data:`ALLOWED_TYPES` that the bytes agree with (a PDF starts with ``%PDF-``, a PNG
with its signature...), not empty and at most :data:`MAX_BYTES`. It is stored in the
database (``attachments``, append-only) with its SHA-256; what refers to it (a
submission, an application) keeps the id, name, type, size and hash, and that record
goes into the hash chain (:func:`credit.evidence.freeze_document`), so the hash binds
the file.

Files arrive either in JSON (``{"filename", "content_type", "content_base64"}``,
:func:`decode_upload`) or as parts of a ``multipart/form-data`` body
(:func:`parse_multipart`, a strict parser of the whole body read by the caller, who
bounds its size first).

Errors: :class:`AttachmentRejected` (a ``ValueError``) names the field and why, in
English (``message``) and Chinese (``message_zh``), words the API turns into a 422.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote

import psycopg
from psycopg.rows import dict_row

from ecowarn.i18n import catalog
from ecowarn.store._errors import StoreError

__all__ = [
    "ALLOWED_TYPES",
    "MAX_BYTES",
    "MAX_FILES",
    "MAX_NAME",
    "AttachmentRejected",
    "MultipartForm",
    "Upload",
    "attachment_ref",
    "check_upload",
    "decode_upload",
    "fetch_attachment",
    "parse_multipart",
    "store_uploads",
]

log = logging.getLogger(__name__)

MAX_BYTES: Final = 10 * 1024 * 1024
MAX_FILES: Final = 10
MAX_NAME: Final = 200
# A multipart body holds at most this many parts, each with at most this much header.
MAX_PARTS: Final = 64
MAX_PART_HEADER_BYTES: Final = 8 * 1024

# Content type -> how its bytes start (None: text, checked as UTF-8 without NULs).
ALLOWED_TYPES: Final[dict[str, tuple[bytes, ...] | None]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
    "text/plain": None,
    "text/csv": None,
    # Office documents (OOXML) are ZIP files.
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
}

_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
_EN = catalog("en", "ATTACHMENTS")
_ZH = catalog("zh", "ATTACHMENTS")


class AttachmentRejected(StoreError, ValueError):
    """An upload that cannot be accepted; ``field`` says which part of the request, and
    ``message`` / ``message_zh`` why (message ``key`` of the ``ATTACHMENTS`` catalogs)."""

    def __init__(self, field: str, key: str, **values: Any) -> None:
        message = _EN[key].format(**values)
        super().__init__(message)
        self.field = field
        self.key = key
        self.message = message
        self.message_zh = _ZH[key].format(**values)


@dataclass(frozen=True, slots=True)
class Upload:
    """One file as received: its name as given, declared type and bytes."""

    filename: str
    content_type: str
    content: bytes


def _clean_name(name: str, field: str) -> str:
    name = unicodedata.normalize("NFC", name).strip()
    if not name or len(name) > MAX_NAME:
        raise AttachmentRejected(field, "name_length", max=MAX_NAME)
    if _BAD_NAME.search(name) or name.startswith("..") or name == ".":
        raise AttachmentRejected(field, "name_plain", name=repr(name))
    return name


def check_upload(upload: Upload, field: str) -> Upload:
    """The upload with a clean name and a bare content type; :class:`AttachmentRejected`
    when the name, type, size or content is not acceptable."""
    name = _clean_name(upload.filename, f"{field}.filename")
    ctype = upload.content_type.split(";")[0].strip().lower()
    if ctype not in ALLOWED_TYPES:
        raise AttachmentRejected(f"{field}.content_type", "type_refused", type=ctype or "(none)",
                                 types=", ".join(sorted(ALLOWED_TYPES)))
    if len(upload.content) > MAX_BYTES:
        raise AttachmentRejected(field, "too_large", name=name, size=len(upload.content),
                                 max=MAX_BYTES)
    if not upload.content:
        raise AttachmentRejected(field, "empty", name=name)
    magic = ALLOWED_TYPES[ctype]
    if magic is None:
        try:
            text = upload.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AttachmentRejected(field, "not_utf8", name=name, type=ctype) from exc
        if "\x00" in text:
            raise AttachmentRejected(field, "binary_text", name=name, type=ctype)
    elif not any(upload.content.startswith(m) for m in magic):
        raise AttachmentRejected(field, "magic", name=name, type=ctype)
    return Upload(name, ctype, upload.content)


def decode_upload(item: dict[str, Any], field: str) -> Upload:
    """An upload from JSON ``{"filename", "content_type", "content_base64"}``."""
    try:
        raw = base64.b64decode(str(item.get("content_base64", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttachmentRejected(f"{field}.content_base64", "base64") from exc
    return Upload(str(item.get("filename", "")), str(item.get("content_type", "")), raw)


@dataclass(frozen=True, slots=True)
class MultipartForm:
    """A parsed ``multipart/form-data`` body: text fields and file parts, in order."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, Upload]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]

    def uploads(self, name: str) -> list[Upload]:
        return [u for k, u in self.files if k == name]


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf';\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))', re.S)


def _params(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="a"; filename="b"`` -> (``form-data``, {name: a, filename: b}).

    Quoted values may escape with a backslash; browsers percent-encode ``"``, CR and LF
    in names (WHATWG), which are decoded. ``filename*`` (RFC 5987, UTF-8) wins over
    ``filename``."""
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(";" + rest):
        key = m.group(1).lower()
        if m.group(2) is not None:
            raw = re.sub(r"\\(.)", r"\1", m.group(2), flags=re.S)
            raw = raw.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")
        else:
            raw = m.group(3)
        params[key] = raw
    star = params.pop("filename*", None)
    if star is not None:
        charset, _, encoded = star.partition("'")
        _, _, encoded = encoded.partition("'")
        if charset.lower() in ("utf-8", "utf8"):
            params["filename"] = unquote(encoded, encoding="utf-8", errors="replace")
    return head.strip().lower(), params


def _boundary(content_type: str) -> bytes:
    kind, params = _params(content_type)
    boundary = params.get("boundary", "")
    if kind != "multipart/form-data" or not 1 <= len(boundary) <= 70:
        raise AttachmentRejected("body", "multipart")
    return boundary.encode("ascii", "replace")


def parse_multipart(body: bytes, content_type: str, *, field: str = "body") -> MultipartForm:
    """Parse a whole ``multipart/form-data`` body (RFC 7578). Parts with a file name are
    files (their declared ``Content-Type``, or none), the others UTF-8 text fields. A body
    that does not follow the format is :class:`AttachmentRejected` (``multipart``)."""
    delimiter = b"--" + _boundary(content_type)
    chunks = body.split(delimiter)
    # chunks[0] is the preamble; the last chunk starts with "--" (the close delimiter).
    if len(chunks) < 2 or not chunks[-1].startswith(b"--") or len(chunks) - 2 > MAX_PARTS:
        raise AttachmentRejected(field, "multipart")
    form = MultipartForm()
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise AttachmentRejected(field, "multipart")
        head, sep, content = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep or len(head) > MAX_PART_HEADER_BYTES:
            raise AttachmentRejected(field, "multipart")
        headers: dict[str, str] = {}
        try:
            for line in head.decode("utf-8").split("\r\n"):
                name, colon, value = line.partition(":")
                if not colon:
                    raise AttachmentRejected(field, "multipart")
                headers[name.strip().lower()] = value.strip()
        except UnicodeDecodeError as exc:
            raise AttachmentRejected(field, "multipart") from exc
        kind, params = _params(headers.get("content-disposition", ""))
        if kind != "form-data" or "name" not in params:
            raise AttachmentRejected(field, "multipart")
        name = params["name"]
        if "filename" in params:
            form.files.append((name, Upload(params["filename"], headers.get("content-type", ""),
                                            content)))
        else:
            try:
                form.fields.append((name, content.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise AttachmentRejected(f"{field}.{name}", "not_utf8", name=name,
                                         type="text/plain") from exc
    return form


def attachment_ref(row: dict[str, Any]) -> dict[str, Any]:
    """What a record keeps of a stored file: ``{id, filename, content_type, size, sha256}``."""
    return {"id": int(row["id"]), "filename": row["filename"], "content_type": row["content_type"],
            "size": int(row["size"]), "sha256": row["sha256"]}


async def store_uploads(conn: psycopg.AsyncConnection[Any], uploads: Sequence[Upload], *,
                        enterprise_id: str, uploaded_by: int | None,
                        field: str = "attachments") -> list[dict[str, Any]]:
    """Check and store ``uploads`` (all or none) in the caller's transaction; returns for
    each ``{id, filename, content_type, size, sha256}``, what a record refers to."""
    if len(uploads) > MAX_FILES:
        raise AttachmentRejected(field, "too_many", max=MAX_FILES)
    checked = [check_upload(u, f"{field}[{i}]") for i, u in enumerate(uploads)]
    out = []
    for u in checked:
        digest = hashlib.sha256(u.content).hexdigest()
        cur = await conn.execute(
            "INSERT INTO attachments (enterprise_id, filename, content_type, size, sha256, content,"
            " uploaded_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (enterprise_id, u.filename, u.content_type, len(u.content), digest, u.content,
             uploaded_by))
        row = await cur.fetchone()
        assert row is not None
        out.append(attachment_ref({"id": row[0], "filename": u.filename,
                                   "content_type": u.content_type, "size": len(u.content),
                                   "sha256": digest}))
        log.info("stored attachment %s (%s, %d bytes, sha256 %s) for %s", row[0], u.filename,
                 len(u.content), digest, enterprise_id)
    return out


async def fetch_attachment(conn: psycopg.AsyncConnection[Any],
                           attachment_id: int) -> dict[str, Any] | None:
    """An attachment row with its ``content``, or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, enterprise_id, filename, content_type, size, sha256, content, uploaded_by,"
            " created_at FROM attachments WHERE id = %s", (attachment_id,))
        return await cur.fetchone()
