"""Files an enterprise uploads as proof (rectification, credit repair application).

A file is checked before anything is stored: a plain file name (no directory part, no
``..``, no control characters; it is never used as a path), a content type from
:data:`ALLOWED_TYPES` that the bytes agree with (a PDF starts with ``%PDF-``, a PNG
with its signature...), and at most :data:`MAX_BYTES`. It is stored in the database
(``attachments``, append-only) with its SHA-256; what refers to it (a submission, an
application) keeps the id, name, type, size and hash, and that record goes into the
hash chain (:func:`credit.evidence.freeze_document`), so the hash binds the file.

Errors: :class:`AttachmentRejected` (a ``ValueError``) names the field and why, in
words the API turns into a 422.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from ecowarn.store._errors import StoreError

__all__ = [
    "ALLOWED_TYPES",
    "MAX_BYTES",
    "MAX_FILES",
    "AttachmentRejected",
    "Upload",
    "check_upload",
    "decode_upload",
    "fetch_attachment",
    "store_uploads",
]

log = logging.getLogger(__name__)

MAX_BYTES: Final = 10 * 1024 * 1024
MAX_FILES: Final = 10
MAX_NAME: Final = 200

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


class AttachmentRejected(StoreError, ValueError):
    """An upload that cannot be accepted; ``field`` says which part of the request."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Upload:
    """One file as received: its name as given, declared type and bytes."""

    filename: str
    content_type: str
    content: bytes


def _clean_name(name: str, field: str) -> str:
    name = unicodedata.normalize("NFC", name).strip()
    if not name or len(name) > MAX_NAME:
        raise AttachmentRejected(field, f"a file name of 1 to {MAX_NAME} characters is needed")
    if _BAD_NAME.search(name) or name in (".", "..") or name.startswith(".."):
        raise AttachmentRejected(field, f"file name {name!r} must be a plain name without a "
                                        "directory, '..' or control characters")
    return name


def check_upload(upload: Upload, field: str) -> Upload:
    """The upload with a clean name and a bare content type; :class:`AttachmentRejected`
    when the name, type, size or content is not acceptable."""
    name = _clean_name(upload.filename, f"{field}.filename")
    ctype = upload.content_type.split(";")[0].strip().lower()
    if ctype not in ALLOWED_TYPES:
        raise AttachmentRejected(f"{field}.content_type",
                                 f"type {ctype or '(none)'} is not accepted; use one of "
                                 f"{', '.join(sorted(ALLOWED_TYPES))}")
    if len(upload.content) > MAX_BYTES:
        raise AttachmentRejected(field, f"{name} is {len(upload.content)} bytes; at most "
                                        f"{MAX_BYTES} bytes per file")
    if not upload.content:
        raise AttachmentRejected(field, f"{name} is empty")
    magic = ALLOWED_TYPES[ctype]
    if magic is None:
        try:
            text = upload.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AttachmentRejected(field, f"{name} is declared {ctype} but is not UTF-8 text"
                                     ) from exc
        if "\x00" in text:
            raise AttachmentRejected(field, f"{name} is declared {ctype} but holds binary data")
    elif not any(upload.content.startswith(m) for m in magic):
        raise AttachmentRejected(field, f"{name} is declared {ctype} but its content is not")
    return Upload(name, ctype, upload.content)


def decode_upload(item: dict[str, Any], field: str) -> Upload:
    """An upload from JSON ``{"filename", "content_type", "content_base64"}``."""
    try:
        raw = base64.b64decode(str(item.get("content_base64", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttachmentRejected(f"{field}.content_base64", "not valid base64") from exc
    return Upload(str(item.get("filename", "")), str(item.get("content_type", "")), raw)


async def store_uploads(conn: psycopg.AsyncConnection[Any], uploads: Sequence[Upload], *,
                        enterprise_id: str, uploaded_by: int | None,
                        field: str = "attachments") -> list[dict[str, Any]]:
    """Check and store ``uploads`` (all or none) in the caller's transaction; returns for
    each ``{id, filename, content_type, size, sha256}``, what a record refers to."""
    if len(uploads) > MAX_FILES:
        raise AttachmentRejected(field, f"at most {MAX_FILES} files")
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
        out.append({"id": int(row[0]), "filename": u.filename, "content_type": u.content_type,
                    "size": len(u.content), "sha256": digest})
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
