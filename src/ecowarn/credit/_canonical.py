"""Canonical JSON and hashing, the basis of evidence packages and the hash chain.

Canonical form: keys sorted, no whitespace, UTF-8 (not ASCII escapes), no NaN or
infinity; times are RFC 3339 strings in +08:00 with microseconds, so the same
value always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

__all__ = ["CST", "GENESIS_HASH", "canonical_json", "jsonable", "link_hash", "sha256_hex", "ts"]

CST = timezone(timedelta(hours=8), "CST")
# prev_hash of the first entry of the chain.
GENESIS_HASH = "0" * 64


def ts(value: datetime) -> str:
    """A timestamp as stored in canonical payloads (RFC 3339, +08:00, microseconds)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} in a canonical payload")
    return value.astimezone(CST).isoformat(timespec="microseconds")


def jsonable(value: Any) -> Any:
    """``value`` with datetimes as :func:`ts` strings, tuples as lists and non-finite
    floats as strings ("NaN"), ready for :func:`canonical_json`."""
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def canonical_json(value: Any) -> bytes:
    """Canonical UTF-8 JSON bytes of ``value`` (see the module docstring)."""
    return json.dumps(jsonable(value), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), allow_nan=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def link_hash(prev_hash: str, payload: bytes) -> str:
    """hash = sha256(prev_hash || canonical payload), prev_hash as its 64 hex characters."""
    return hashlib.sha256(prev_hash.encode("ascii") + payload).hexdigest()
