"""Shared infrastructure of the benchmarks: a Mosquitto of their own and a scratch database."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from ecowarn.store import migrate

__all__ = ["Broker", "Database"]


class Broker:
    """A Mosquitto on a free loopback port, with sized queues (stock Mosquitto drops past
    1,000 queued messages per client)."""

    def __init__(self, prefix: str = "ecowarn-bench-") -> None:
        self.dir = tempfile.mkdtemp(prefix=prefix)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = Path(self.dir) / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        "max_queued_messages 10000000\nmax_inflight_messages 1000\n"
                        "persistence false\n")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Database:
    """A scratch database ``ecowarn_bench_*`` on the server of ``admin_dsn``, migrated when
    asked (the service migrates its own at start)."""

    def __init__(self, admin_dsn: str, *, migrated: bool = False) -> None:
        self.admin = admin_dsn
        self.name = f"ecowarn_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_dsn, autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        self.dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname=self.name)
        if migrated:
            asyncio.run(migrate(self.dsn))

    def drop(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(self.name)))
