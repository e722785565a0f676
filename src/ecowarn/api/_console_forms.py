"""Console forms: reading url-encoded bodies and the per-session form token (CSRF).

Two defences stand against cross-site form posts: the session cookie is
``SameSite=Strict`` (a browser does not send it on requests started by another
site), and every form carries a token that is an HMAC of the session under a key
drawn when the application starts. A post without the token of its session is 403.
A restarted service draws a new key: a form left open across a restart must be
reloaded.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import parse_qs

from fastapi import Request

from ecowarn.api._time import CST
from ecowarn.api.auth import COOKIE_NAME
from ecowarn.api.errors import FieldError, Forbidden, InvalidRequest, PayloadTooLarge

__all__ = ["FORM_FIELD", "MAX_FORM_BYTES", "FormGuard", "local_datetime", "parse_form", "read_body", "read_form"]

FORM_FIELD = "csrf"
# Large enough for a 5,000-character Chinese answer, percent-encoded.
MAX_FORM_BYTES = 64 * 1024


class FormGuard:
    """Issues and checks the form token of a console session."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def token(self, session: str) -> str:
        return hmac.new(self._key, session.encode("utf-8"), hashlib.sha256).hexdigest()

    def token_for(self, request: Request) -> str:
        return self.token(request.cookies.get(COOKIE_NAME, ""))

    def check(self, request: Request, form: dict[str, str]) -> None:
        session = request.cookies.get(COOKIE_NAME, "")
        sent = form.get(FORM_FIELD, "")
        if not session or not hmac.compare_digest(sent, self.token(session)):
            raise Forbidden("the form token is missing or stale; reload the page and try again")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole request body; :class:`PayloadTooLarge` (413) past ``max_bytes``, declared or sent."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"form larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"form larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes) -> dict[str, str]:
    """A url-encoded body as a dict (last value of each field wins)."""
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded body as a dict (last value of each field wins); 413 when too large."""
    return parse_form(await read_body(request, MAX_FORM_BYTES))


def local_datetime(value: str, field: str) -> datetime:
    """A ``datetime-local`` input (no offset) read as China Standard Time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        msg = "expected a date and time like 2026-11-20T08:00"
        raise InvalidRequest(f"{field}: {msg}", fields=(FieldError(field, msg),)) from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CST)
