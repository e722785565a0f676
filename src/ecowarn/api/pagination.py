"""Keyset pagination with opaque cursors.

A cursor is base64url (no padding) of a small JSON object: the kind of list it
belongs to and the sort key of the last item returned. Clients pass
``next_cursor`` back unchanged; ``next_cursor`` is null on the last page. Keyset
pages neither skip nor repeat items when rows are inserted between requests.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Query

from ecowarn.api.errors import FieldError, InvalidRequest

__all__ = ["BIGINT_MAX", "DEFAULT_LIMIT", "MAX_LIMIT", "Limit", "decode_cursor", "encode_cursor"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Largest id a bigserial column holds; larger path ids are 422, not a database error.
BIGINT_MAX = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size (1..1000)")]


def encode_cursor(kind: str, key: list[Any]) -> str:
    raw = json.dumps({"k": kind, "v": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(kind: str, cursor: str) -> list[Any]:
    """The key stored by :func:`encode_cursor`; 422 when the cursor is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        obj = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise _bad(kind) from exc
    if not isinstance(obj, dict) or obj.get("k") != kind or not isinstance(obj.get("v"), list):
        raise _bad(kind)
    return list(obj["v"])


def _bad(kind: str) -> InvalidRequest:
    msg = f"cursor is not a {kind} cursor; pass next_cursor from the previous page unchanged"
    return InvalidRequest(msg, fields=(FieldError("query.cursor", msg),))
