"""Bearer-token authentication and role checks.

``Authorization: Bearer <token>``; tokens live hashed in ``api_tokens``
(:mod:`store.tokens`). A missing, malformed, unknown, expired or revoked token is
401 with ``WWW-Authenticate: Bearer``; a valid token of a role the endpoint does not
serve is 403. ``admin`` passes every role check.

Enterprise tokens see only their own enterprise, and officer tokens created with a
region (CONTRACT section 9) only the enterprises whose administrative division code
starts with it: :func:`visibility` gives the set that queries add, and a resource
outside it is reported as absent (404), exactly like one that does not exist, so its
existence is not disclosed. Objects of no enterprise (an air hotspot alert, a station's
readings, a dead letter naming no registered device) are visible to unlimited tokens
only: a region-limited officer works the enterprises of its jurisdiction, and the air
stations' findings stay with the officers who see the whole province. The ``credit``
role is never limited. Every route and console page asks :func:`visibility` (lists are
filtered in the query, so no count or page boundary says what else exists).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from fastapi import Request

from ecowarn.api._db import connect
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import Forbidden, Unauthorized
from ecowarn.config.registry import Registry
from ecowarn.store.tokens import Principal, Role, lookup_token

__all__ = ["COOKIE_NAME", "Auth", "Visibility", "can_see_device", "enterprise_scope", "visibility"]

log = logging.getLogger(__name__)

COOKIE_NAME = "ecowarn_token"


def enterprise_scope(principal: Principal) -> str | None:
    """The enterprise an enterprise token speaks for (its public view of its own alerts),
    None for every other role. What a token may *see* is :func:`visibility`."""
    return principal.enterprise_id if principal.role == "enterprise" else None


@dataclass(frozen=True, slots=True)
class Visibility:
    """The enterprises a principal may see: all (``enterprises is None``) or a set.

    Enterprise tokens see their own; region-limited officer tokens the registry's
    enterprises in their region (possibly none).
    """

    enterprises: frozenset[str] | None
    region: str | None = None

    @property
    def unlimited(self) -> bool:
        return self.enterprises is None

    def sees(self, enterprise_id: str | None) -> bool:
        """Whether an object of ``enterprise_id`` (None: of no enterprise) is visible."""
        if self.enterprises is None:
            return True
        return enterprise_id is not None and enterprise_id in self.enterprises

    def ids(self) -> list[str] | None:
        """The visible enterprise ids for a query (``= ANY(%s)``), None when unlimited."""
        return None if self.enterprises is None else sorted(self.enterprises)

    def narrow(self, ids: Iterable[str] | None) -> list[str] | None:
        """A filter's enterprise ids (None: no filter) limited to what is visible."""
        if ids is None:
            return self.ids()
        wanted = sorted(set(ids))
        return wanted if self.enterprises is None else [i for i in wanted if i in self.enterprises]

    def sees_device(self, registry: Registry, device_id: str | None) -> bool:
        """Whether a device (its readings, maintenance, dead letters) is visible: every
        device, registered or not, when unlimited; else a registered device of a visible
        enterprise."""
        if self.enterprises is None:
            return True
        device = registry.devices.get(device_id or "")
        return device is not None and self.sees(device.enterprise_id)

    def regions(self, registry: Registry) -> list[str]:
        """The division codes of the visible registered enterprises (a filter's choices)."""
        return sorted({e.region for e in registry.enterprises.values() if self.sees(e.id)})


def visibility(ctx: ApiContext, principal: Principal) -> Visibility:
    """What ``principal`` may see (CONTRACT section 9)."""
    if principal.role == "enterprise":
        return Visibility(frozenset([principal.enterprise_id or ""]))
    region = principal.region if principal.role == "officer" else None
    if region is None:
        return Visibility(None)
    return Visibility(frozenset(e.id for e in ctx.registry.enterprises.values()
                                if e.region.startswith(region)), region)


def can_see_device(ctx: ApiContext, principal: Principal, device_id: str) -> bool:
    """Whether the principal may see a device (its readings, its maintenance)."""
    return visibility(ctx, principal).sees_device(ctx.registry, device_id)


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
