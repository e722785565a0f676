"""Borrowing a database connection for one request.

Pool and connection failures become :class:`store.StoreUnavailable` here, once, so
the error mapping answers 503 whichever query failed. A value the database refuses
(``psycopg.DataError``, e.g. a NUL character in a filter) becomes 422: the SQL is
fixed, so such a value came from the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from ecowarn.api.context import ApiContext
from ecowarn.api.errors import InvalidRequest
from ecowarn.store import StoreUnavailable

__all__ = ["CONNECT_TIMEOUT_S", "connect"]

# How long a request waits for a pooled connection before answering 503.
CONNECT_TIMEOUT_S = 5.0


@asynccontextmanager
async def connect(ctx: ApiContext, *, timeout_s: float = CONNECT_TIMEOUT_S,
                  ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection, committed on success and rolled back on error."""
    if ctx.gate is not None and not ctx.gate.ready:
        raise StoreUnavailable("the database has not answered since the service started")
    try:
        async with ctx.pool.connection(timeout=timeout_s) as conn:
            yield conn
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc
    except psycopg.DataError as exc:
        raise InvalidRequest(f"a request value is not acceptable: {exc.diag.message_primary or exc}"
                             ) from exc
