"""Times at the HTTP edge.

Input: RFC 3339 with any UTC offset (``Z``, ``+08:00``...). A time without an offset
is rejected with 422: China is UTC+8 and a naive time is an eight-hour bug. A ``+``
sent unescaped in a query string arrives as a space (``...T08:00:00 08:00``); that
form is read as ``+08:00``.

Output: RFC 3339 in China Standard Time, ``+08:00`` (Asia/Shanghai has had no
daylight saving time since 1991, so a fixed offset is exact).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

__all__ = ["CST", "AwareDatetime", "iso", "iso_or_none"]

CST = timezone(timedelta(hours=8), "CST")

_SPACE_OFFSET = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


def _plus_from_query(value: Any) -> Any:
    if isinstance(value, str):
        m = _SPACE_OFFSET.match(value.strip())
        if m:
            return f"{m.group(1)}+{m.group(2)}"
    return value


def _require_offset(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"time {value.isoformat()} has no UTC offset; send RFC 3339 with an offset, "
            f"e.g. {value.isoformat()}+08:00"
        )
    return value


AwareDatetime = Annotated[datetime, BeforeValidator(_plus_from_query),
                          AfterValidator(_require_offset)]
"""A datetime that must carry a UTC offset (pydantic / FastAPI parameter type)."""


def iso(value: datetime) -> str:
    """RFC 3339 in +08:00."""
    return value.astimezone(CST).isoformat()


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso(value)
