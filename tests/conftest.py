"""Shared fixtures: a fresh migrated database per test, a unique MQTT topic space, one browser.

The real services come from the environment:
``ECOWARN_TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and ``ECOWARN_TEST_MQTT_URL``. Without the latter, the tests start their own
Mosquitto (the machine's binary) on a free loopback port with queue limits sized
for bursts: stock Mosquitto keeps 1,000 queued messages per client and silently
drops the rest, which a test publishing a simulated day in seconds would hit.
Failing that, they use the broker at ``127.0.0.1:1883``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fix_broker import MosquittoProcess
from fix_browser import CHROMIUM, NO_CHROMIUM, Browser, Chromium
from fix_db import DatabasePool, create, dsn_for, new_name
from fix_hj212 import Collector
from fix_proxy import TcpProxy
from prometheus_client import CollectorRegistry

from ecowarn.config import packaged_file
from ecowarn.config.registry import Registry, load_registry

ADMIN_DSN = os.environ.get("ECOWARN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MQTT_URL = os.environ.get("ECOWARN_TEST_MQTT_URL")
CONFIG_DIR = packaged_file("registry.example.yaml").parent


def _dsn_for(dbname: str) -> str:
    return dsn_for(ADMIN_DSN, dbname)


@pytest.fixture(scope="session")
def database_pool() -> Iterator[DatabasePool]:
    """Migrated databases made ahead of need and dropped behind it (tests/fix_db.py)."""
    pool = DatabasePool(ADMIN_DSN)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def empty_database(database_pool: DatabasePool) -> Iterator[str]:
    """A new, empty database for this test; dropped afterwards. Yields its DSN."""
    name = new_name()
    create(ADMIN_DSN, name)
    try:
        yield _dsn_for(name)
    finally:
        database_pool.give_back(name)


@pytest.fixture
def database(database_pool: DatabasePool) -> Iterator[str]:
    """A new database of this test's own with every migration applied (a copy of the
    session's migrated template); dropped afterwards. Yields its DSN."""
    name = database_pool.take()
    try:
        yield _dsn_for(name)
    finally:
        database_pool.give_back(name)


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


@pytest.fixture
def collector() -> Collector:
    """A recording sink for the HJ 212 gateway (tests/fix_hj212.py)."""
    return Collector()


@pytest.fixture
def metrics_registry() -> CollectorRegistry:
    """A Prometheus registry of the test's own."""
    return CollectorRegistry()


@pytest.fixture
def db_proxy() -> Iterator[TcpProxy]:
    """A started TCP proxy in front of the test PostgreSQL; ``stop()`` makes it unreachable."""
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    host = str(params.get("host") or "127.0.0.1")
    if host.startswith("/"):
        pytest.skip("the test database is reached over a Unix socket; the proxy needs TCP")
    proxy = TcpProxy(host, int(params.get("port") or 5432))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


def via_proxy(dsn: str, proxy: TcpProxy) -> str:
    """``dsn`` with its host and port replaced by the proxy's."""
    return psycopg.conninfo.make_conninfo(dsn, host="127.0.0.1", port=str(proxy.port))


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A Mosquitto of this test alone (with persistence), free to stop and restart."""
    if shutil.which("mosquitto") is None:
        pytest.skip("needs the mosquitto binary")
    broker = MosquittoProcess(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def chromium_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """The session's one headless Chromium (tests/fix_browser.py), started on first use."""
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    chromium = Chromium(tmp_path_factory.mktemp("chromium") / "profile")
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def browser(chromium_process: Chromium) -> Iterator[Browser]:
    """The shared Chromium for this test; the pages it opens are closed afterwards."""
    view = Browser(chromium_process)
    try:
        yield view
    finally:
        view.close()


async def eventually(cond: Callable[[], object], timeout_s: float, what: str,
                     interval_s: float = 0.01) -> None:
    """Poll ``cond`` until it is true; fail naming ``what`` after ``timeout_s`` (no sleeps as sync)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(interval_s)
