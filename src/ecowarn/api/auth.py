"""Bearer-token authentication and role checks.

``Authorization: Bearer <token>``; tokens live hashed in ``api_tokens``
(:mod:`store.tokens`). A missing, malformed, unknown, expired or revoked token is
401 with ``WWW-Authenticate: Bearer``; a valid token of a role the endpoint does not
serve is 403. ``admin`` passes every role check.

Enterprise tokens see only their own enterprise: helpers here give the scope that
queries add, and a resource of another enterprise is reported as absent (404), so
its existence is not disclosed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import Request

from ecowarn.api._db import connect
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import Forbidden, Unauthorized
from ecowarn.store.tokens import Principal, Role, lookup_token

__all__ = ["COOKIE_NAME", "Auth", "can_see_device", "enterprise_scope"]

log = logging.getLogger(__name__)

COOKIE_NAME = "ecowarn_token"


def enterprise_scope(principal: Principal) -> str | None:
    """The enterprise a principal is confined to, or None when it sees everything."""
    return principal.enterprise_id if principal.role == "enterprise" else None


def can_see_device(ctx: ApiContext, principal: Principal, device_id: str) -> bool:
    """Whether the principal may see a device (its readings, its maintenance)."""
    scope = enterprise_scope(principal)
    if scope is None:
        return True
    device = ctx.registry.devices.get(device_id)
    return device is not None and device.enterprise_id == scope


class Auth:
    """Builds FastAPI dependencies that authenticate a request and check its role."""

    def __init__(self, ctx: ApiContext) -> None:
        self._ctx = ctx

    async def authenticate(self, token: str | None) -> Principal:
        """The principal of a live token; :class:`Unauthorized` otherwise."""
        if not token:
            raise Unauthorized("missing bearer token; send 'Authorization: Bearer <token>'")
        async with connect(self._ctx) as conn:
            principal = await lookup_token(conn, token)
        if principal is None:
            raise Unauthorized("invalid, expired or revoked token")
        return principal

    @staticmethod
    def bearer_token(request: Request) -> str | None:
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise Unauthorized("malformed Authorization header; expected 'Bearer <token>'")
        return token

    def require(self, *roles: Role) -> Callable[[Request], Awaitable[Principal]]:
        """A dependency admitting bearer tokens of ``roles`` (and admin)."""
        allowed = frozenset((*roles, "admin"))

        async def dependency(request: Request) -> Principal:
            principal = await self.authenticate(self.bearer_token(request))
            _check_role(principal, allowed)
            return principal

        return dependency

    def require_cookie(self, *roles: Role) -> Callable[[Request], Awaitable[Principal]]:
        """Like :meth:`require`, reading the console's session cookie."""
        allowed = frozenset((*roles, "admin"))

        async def dependency(request: Request) -> Principal:
            principal = await self.authenticate(request.cookies.get(COOKIE_NAME))
            _check_role(principal, allowed)
            return principal

        return dependency


def _check_role(principal: Principal, allowed: frozenset[str]) -> None:
    if principal.role not in allowed:
        log.info("token %s (role %s) refused; endpoint serves %s",
                 principal.token_id, principal.role, ", ".join(sorted(allowed)))
        raise Forbidden(f"a {principal.role} token cannot use this endpoint; "
                        f"it serves {', '.join(sorted(allowed))}")
