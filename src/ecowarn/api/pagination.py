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
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from ecowarn.api.errors import FieldError, InvalidRequest

__all__ = ["BIGINT_MAX", "DEFAULT_LIMIT", "MAX_LIMIT", "CursorCodec", "Limit"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Largest id a bigserial column holds; larger path ids are 422, not a database error.
BIGINT_MAX = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size (1..1000)")]


def _encode(kind: str, key: list[Any]) -> str:
    raw = json.dumps({"k": kind, "v": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(kind: str, cursor: str) -> list[Any]:
    """The key stored by :func:`_encode`; 422 when the cursor is not one of ours."""
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


_FIELD_TYPES = (datetime, int, float, str)


class CursorCodec:
    """The cursors of one list: its ``kind`` and the types of its sort key, in order.

    ``datetime`` fields must be timezone-aware (ISO 8601 in the cursor); ``float`` fields
    accept integers; ``int`` fields must fit a bigint. :meth:`decode` turns a cursor of
    another list, or one with a damaged key, into the same 422 as every list's.
    """

    def __init__(self, kind: str, *fields: type) -> None:
        if not fields or any(f not in _FIELD_TYPES for f in fields):
            raise ValueError(f"cursor fields must be among {_FIELD_TYPES}, got {fields}")
        self.kind = kind
        self.fields = fields

    def encode(self, *key: Any) -> str:
        if len(key) != len(self.fields):
            raise ValueError(f"{self.kind} cursor takes {len(self.fields)} values, got {len(key)}")
        return _encode(self.kind, [v.isoformat() if isinstance(v, datetime) else v for v in key])

    def decode_one(self, cursor: str | None) -> Any:
        """The single value of a one-field key (None for no cursor)."""
        key = self.decode(cursor)
        return None if key is None else key[0]

    def decode(self, cursor: str | None) -> tuple[Any, ...] | None:
        """The key of ``cursor`` (None for no cursor: the first page)."""
        if cursor is None:
            return None
        raw = _decode(self.kind, cursor)
        if len(raw) != len(self.fields):
            raise _damaged()
        out: list[Any] = []
        for ftype, value in zip(self.fields, raw, strict=True):
            out.append(_field(ftype, value))
        return tuple(out)


def _field(ftype: type, value: Any) -> Any:
    if ftype is datetime:
        if not isinstance(value, str):
            raise _damaged()
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise _damaged() from exc
        if parsed.tzinfo is None:
            raise _damaged()
        return parsed
    if ftype is int:
        if isinstance(value, bool) or not isinstance(value, int) or not -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
            raise _damaged()
        return value
    if ftype is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _damaged()
        return float(value)
    if not isinstance(value, str):
        raise _damaged()
    return value


def _damaged() -> InvalidRequest:
    msg = "cursor is damaged; pass next_cursor from the previous page unchanged"
    return InvalidRequest(msg, fields=(FieldError("query.cursor", msg),))
