"""Shared fixtures: a fresh migrated database per test, a unique MQTT topic space.

The real services come from the environment:
``ECOWARN_TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and ``ECOWARN_TEST_MQTT_URL`` (default ``mqtt://127.0.0.1:1883``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from config.registry import Registry, load_registry
from store import migrate

ADMIN_DSN = os.environ.get("ECOWARN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MQTT_URL = os.environ.get("ECOWARN_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
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


@pytest.fixture
def mqtt_url() -> str:
    return MQTT_URL


@pytest.fixture
def topic_prefix() -> str:
    """A unique prefix so tests sharing the broker never see each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}/"


@pytest.fixture(scope="session")
def sample_registry() -> Registry:
    return load_registry(CONFIG_DIR / "registry.example.yaml")
