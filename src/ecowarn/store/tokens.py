"""API bearer tokens (CONTRACT section 5).

A token is ``ew_`` + 43 URL-safe characters; only its SHA-256 hex digest is stored
(``api_tokens.token_hash``), so the token itself is shown once, when created.
A token stops working when revoked or past ``expires_at``.

Errors: :class:`TokenError` (a :class:`store.StoreError` and a ``ValueError``) for a
request that cannot make a valid token (unknown role, missing enterprise).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, cast, get_args

import psycopg

from ecowarn.store._errors import StoreError

__all__ = [
    "ROLES",
    "Principal",
    "Role",
    "TokenError",
    "create_token",
    "hash_token",
    "lookup_token",
    "revoke_labelled",
    "revoke_token",
]

log = logging.getLogger(__name__)

Role = Literal["officer", "enterprise", "credit", "ingest", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

TOKEN_PREFIX: Final = "ew_"
# A jurisdiction: the first 2 (province), 4 (city) or 6 (county) digits of a division code.
REGION_RE: Final = re.compile(r"[0-9]{2,6}")
# Longest token we bother hashing; anything longer is malformed, not a lookup.
MAX_TOKEN_LEN: Final = 200


class TokenError(StoreError, ValueError):
    """The arguments cannot make a valid token (unknown role, enterprise id missing...)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token speaks for."""

    token_id: int
    role: Role
    enterprise_id: str | None
    # Officers only: the administrative division code prefix of their jurisdiction
    # (130105 county, 1301 city, 13 province); None sees every region.
    region: str | None = None


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token, as stored in ``api_tokens.token_hash``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check(role: str, enterprise_id: str | None, expires_at: datetime | None,
           region: str | None = None) -> None:
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "enterprise" and not enterprise_id:
        raise TokenError("an enterprise token needs the enterprise id (--enterprise)")
    if role != "enterprise" and enterprise_id is not None:
        raise TokenError(f"only enterprise tokens carry an enterprise id, not {role!r} tokens")
    if region is not None and role != "officer":
        raise TokenError(f"only officer tokens are limited to a region, not {role!r} tokens")
    if region is not None and not REGION_RE.fullmatch(region):
        raise TokenError(f"region must be 2 to 6 digits of an administrative division code, "
                         f"not {region!r}")
    if expires_at is not None and expires_at.utcoffset() is None:
        raise TokenError("expires_at must be timezone-aware")


async def create_token(
    conn: psycopg.AsyncConnection[Any],
    *,
    role: str,
    enterprise_id: str | None = None,
    label: str = "",
    expires_at: datetime | None = None,
    region: str | None = None,
) -> str:
    """Store a new token and return it; the caller shows it once, it cannot be recovered.

    ``region`` limits an officer token to the enterprises whose division code starts
    with it (CONTRACT section 9)."""
    _check(role, enterprise_id, expires_at, region)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    cur = await conn.execute(
        "INSERT INTO api_tokens (token_hash, role, enterprise_id, label, expires_at, region)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (hash_token(token), role, enterprise_id, label, expires_at, region),
    )
    row = await cur.fetchone()
    assert row is not None
    log.info("created api token id=%s role=%s enterprise=%s region=%s", row[0], role,
             enterprise_id, region)
    return token


async def revoke_token(conn: psycopg.AsyncConnection[Any], token_id: int) -> bool:
    """Revoke a token by id; False when no such live token exists."""
    cur = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
        (token_id,),
    )
    revoked = cur.rowcount == 1
    if revoked:
        log.info("revoked api token id=%s", token_id)
    return revoked


async def revoke_labelled(conn: psycopg.AsyncConnection[Any], label: str) -> int:
    """Revoke every live token carrying ``label``; how many were revoked."""
    cur = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE label = %s AND revoked_at IS NULL",
        (label,),
    )
    if cur.rowcount:
        log.info("revoked %d api token(s) labelled %r", cur.rowcount, label)
    return cur.rowcount


async def lookup_token(conn: psycopg.AsyncConnection[Any], token: str) -> Principal | None:
    """The principal of a live token (not revoked, not expired), else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LEN:
        return None
    cur = await conn.execute(
        "SELECT id, role, enterprise_id, region FROM api_tokens"
        " WHERE token_hash = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        (hash_token(token),),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Principal(token_id=int(row[0]), role=cast(Role, row[1]), enterprise_id=row[2],
                     region=row[3])
