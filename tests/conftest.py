"""Shared fixtures: a fresh migrated database per test, a unique MQTT topic space.

The real services come from the environment:
``ECOWARN_TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and ``ECOWARN_TEST_MQTT_URL``. Without the latter, the tests start their own
Mosquitto (the machine's binary) on a free loopback port with queue limits sized
for bursts: stock Mosquitto keeps 1,000 queued messages per client and silently
drops the rest, which a test publishing a simulated day in seconds would hit.
Failing that, they use the broker at ``127.0.0.1:1883``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from config.registry import Registry, load_registry
from store import migrate

ADMIN_DSN = os.environ.get("ECOWARN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MQTT_URL = os.environ.get("ECOWARN_TEST_MQTT_URL")
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


def _dsn_for(dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(ADMIN_DSN, dbname=dbname)


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A new, empty database for this test; dropped afterwards. Yields its DSN."""
    name = f"ecowarn_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _dsn_for(name)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
async def database(empty_database: str) -> AsyncIterator[str]:
    """A new database with every migration applied. Yields its DSN."""
    await migrate(empty_database)
    yield empty_database


class MosquittoProcess:
    """A Mosquitto broker of our own, on a free loopback port; can be stopped and restarted."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 1000\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "autosave_interval 1\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoProcess | None]:
    if MQTT_URL or shutil.which("mosquitto") is None:
        yield None
        return
    broker = MosquittoProcess(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mqtt_url(mosquitto: MosquittoProcess | None) -> str:
    if MQTT_URL:
        return MQTT_URL
    return mosquitto.url if mosquitto is not None else "mqtt://127.0.0.1:1883"


@pytest.fixture
def topic_prefix() -> str:
    """A unique prefix so tests sharing the broker never see each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}/"


@pytest.fixture(scope="session")
def sample_registry() -> Registry:
    return load_registry(CONFIG_DIR / "registry.example.yaml")
