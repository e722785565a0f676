"""The database gate: whether the database has answered and carries the current schema.

The service starts whether or not its database answers. Until it does, the gate
is closed: the ingest pipeline spools what it accepts instead of writing, the
HTTP API answers database-backed requests with 503 at once (no pool wait), and
the parts that need the schema (detector runner, escalation, warnings, credit
repair) wait. :meth:`DatabaseGate.bring_up` tries to migrate, with jittered
backoff between attempts and one log line per attempt, and opens the gate once
the migrations are applied; it is called once at start (returning at once when
the database answers) and, if that failed, again in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ecowarn.core.aio import Backoff
from ecowarn.store._errors import StoreError
from ecowarn.store._migrate import StorageMode, migrate

__all__ = ["ATTEMPT_TIMEOUT_S", "RETRY_INITIAL_S", "RETRY_MAX_S", "DatabaseGate"]

log = logging.getLogger(__name__)

# One connection-and-migrate attempt gives up after this long (a host that drops packets).
ATTEMPT_TIMEOUT_S = 15.0
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 30.0


class DatabaseGate:
    """Open once the database answered and was migrated; shared by every part that needs it."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._open = asyncio.Event()
        self.mode: StorageMode | None = None
        self.applied: list[int] = []
        self.attempts = 0
        self.last_error: str | None = None
        self.waiting_since: float | None = None

    @property
    def ready(self) -> bool:
        return self._open.is_set()

    async def wait(self) -> None:
        await self._open.wait()

    async def attempt(self) -> bool:
        """One try: migrate and open the gate; False (with the reason kept) if the database is away."""
        self.attempts += 1
        try:
            async with asyncio.timeout(ATTEMPT_TIMEOUT_S):
                self.mode, self.applied = await migrate(self._dsn)
        except (StoreError, TimeoutError) as exc:
            self.last_error = str(exc) or f"no answer within {ATTEMPT_TIMEOUT_S:.0f} s"
            if self.waiting_since is None:
                self.waiting_since = time.time()
            return False
        self.last_error = None
        log.info("storage mode: %s (migrations applied: %s)", self.mode, self.applied or "none")
        self._open.set()
        return True

    async def bring_up(self) -> None:
        """Attempt until the database answers, waiting with jittered backoff in between."""
        backoff = Backoff(RETRY_INITIAL_S, RETRY_MAX_S)
        while not await self.attempt():
            delay = backoff.next_s()
            log.warning("database not available (attempt %d: %s); ingest is spooled, detectors"
                        " and workflows wait; next attempt in %.1f s", self.attempts,
                        self.last_error, delay)
            await asyncio.sleep(delay)
        if self.attempts > 1:
            log.info("database available after %d attempts: starting what waited for it",
                     self.attempts)

    def health(self) -> dict[str, Any]:
        """For ``/healthz``: ``ready``, or ``waiting_for_database`` with the reason and since when."""
        if self.ready:
            return {"status": "ready", "storage_mode": self.mode}
        return {"status": "waiting_for_database", "reason": self.last_error,
                "attempts": self.attempts, "since": self.waiting_since}
