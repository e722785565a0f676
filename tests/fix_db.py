"""Test databases made ahead of need and dropped behind it, by a thread of their own.

Each test that asks for ``database`` gets a database of its own, a copy of one migrated
template (``CREATE DATABASE ... TEMPLATE``: a fraction of the time that applying the
migrations again takes). Making and dropping databases is slow on a busy machine (DROP
DATABASE forces a checkpoint in PostgreSQL 15; measured up to 4-5 s each under load), so
background threads keep a few copies ready and drop the used ones while the tests run: a
test waits only when they have fallen behind. The databases a test saw are gone
before the session ends.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque

import psycopg
from psycopg import sql

from ecowarn.store import migrate

READY = 4  # copies kept ready (about 10 MB each): room for a run of quick tests
TAKE_TIMEOUT_S = 120.0


def dsn_for(admin_dsn: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(admin_dsn, dbname=dbname)


def new_name(kind: str = "t") -> str:
    return f"ecowarn_{kind}_{uuid.uuid4().hex[:12]}"


def create(admin_dsn: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        conn.execute(query)


def drop(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class DatabasePool:
    """Copies of a migrated template, ready before they are asked for; used ones dropped behind."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.template = new_name("tpl")
        self._ready: deque[str] = deque()
        self._to_drop: deque[str] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._error: BaseException | None = None
        self._drop_errors: list[str] = []
        create(admin_dsn, self.template)
        try:
            asyncio.run(migrate(dsn_for(admin_dsn, self.template)))
        except BaseException:
            drop(admin_dsn, self.template)
            raise
        # One thread makes copies, one drops used ones: a drop's checkpoint does not hold up a copy.
        self._threads = [threading.Thread(target=self._work, args=(action,), name=f"test-databases-{action}",
                                          daemon=True) for action in ("create", "drop")]
        for thread in self._threads:
            thread.start()

    def take(self) -> str:
        """A migrated database of the caller's own (its name)."""
        with self._cond:
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self._ready or self._error or self._stop, TAKE_TIMEOUT_S):
                raise TimeoutError(f"no test database ready after {TAKE_TIMEOUT_S:.0f} s")
            if self._error is not None:
                raise RuntimeError("the test database thread failed") from self._error
            name = self._ready.popleft()
            self._cond.notify_all()
            return name

    def give_back(self, name: str) -> None:
        """Drop ``name`` (in the background)."""
        with self._cond:
            self._to_drop.append(name)
            self._cond.notify_all()

    def _next(self, action: str) -> str | None:
        with self._cond:
            if action == "create":
                self._cond.wait_for(lambda: self._stop or len(self._ready) < READY)
                return None if self._stop else new_name()
            self._cond.wait_for(lambda: self._stop or bool(self._to_drop))
            return self._to_drop.popleft() if self._to_drop else None

    def _work(self, action: str) -> None:
        try:
            while (name := self._next(action)) is not None:
                if action == "create":
                    create(self.admin_dsn, name, self.template)
                    with self._cond:
                        self._ready.append(name)
                        self._cond.notify_all()
                else:
                    try:
                        drop(self.admin_dsn, name)
                    except psycopg.Error as exc:  # told at the session's end; the tests go on
                        self._drop_errors.append(f"{name}: {exc}")
        except BaseException as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def close(self) -> None:
        """Stop the threads; drop every database still left, the template last."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(TAKE_TIMEOUT_S)
        for name in [*self._ready, *self._to_drop, self.template]:
            drop(self.admin_dsn, name)
        if self._drop_errors:
            raise RuntimeError("test databases not dropped: " + "; ".join(self._drop_errors))
