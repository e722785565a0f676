"""A fault rig for ingest stress runs: ``ecowarn serve`` under CPU contention, with faults.

Parts, each real: a Mosquitto of the rig's own running the shipped broker
settings (``deploy/mosquitto/mosquitto.conf``: queue limits, in-flight window,
persistence, autosave), PostgreSQL reached through a :class:`~fix_proxy.TcpProxy`
(a cut closes every connection and refuses new ones), ``python -m ecowarn serve``
as a subprocess, one busy-loop process per core, and a QoS 1 publisher that
publishes as fast as the broker acknowledges (a window of 1,000 messages in
flight) and publishes again, on a new connection, whatever was not acknowledged
when the connection dropped.

Faults: ``broker`` (SIGTERM, restart after a pause, same persistence file),
``db`` (the proxy cut for a while), ``kill`` (SIGKILL of ``ecowarn serve``,
then a new one). Used by ``tests/test_faults_stress.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
from fix_broker import MosquittoProcess, shipped_settings
from paho.mqtt.enums import CallbackAPIVersion

__all__ = ["BusyCores", "Message", "Publisher", "ServeProcess", "meter_messages",
           "registry_yaml", "shipped_broker"]

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def shipped_broker(workdir: Path) -> MosquittoProcess:
    """Mosquitto with the shipped settings (``deploy/mosquitto/mosquitto.conf``) in ``workdir``."""
    return MosquittoProcess(workdir, shipped_settings())


class ServeProcess:
    """``python -m ecowarn serve`` in a subprocess, its output appended to ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._subscribed_before = 0

    def start(self) -> None:
        self._subscribed_before = self._subscriptions()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ecowarn", "serve"], env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)

    def _subscriptions(self) -> int:
        return self.log.read_text(errors="replace").count("subscribed to") if self.log.exists() else 0

    def subscribed(self) -> bool:
        """True once this process has subscribed (fails if it died)."""
        assert self.proc is not None and self.proc.poll() is None, self.tail()
        return self._subscriptions() > self._subscribed_before

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self, n: int = 60) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-n:])


class BusyCores:
    """One busy-loop process per core for the duration of a ``with`` block (CPU contention)."""

    def __init__(self, n: int | None = None) -> None:
        self.n = n if n is not None else (os.cpu_count() or 2)
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyCores:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(self.n)]
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait(10)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    keys: tuple[tuple[str, datetime], ...]  # (device, ts) of its readings


def registry_yaml(meters: int) -> str:
    """A registry of one enterprise with ``meters`` power meters ``PWR-S00``..."""
    lines = ["enterprises:", '  - id: "91130105MA0CXXXX1X"', '    name: "Stress"',
             '    region: "130105"', "    devices:"]
    for m in range(meters):
        lines += [f'      - id: "PWR-S{m:02d}"', "        kind: power", "        role: treatment",
                  "        rated_kw: 100"]
    return "\n".join(lines) + "\n"


def meter_messages(prefix: str, meters: int, first_minute: int, minutes: int,
                   per_message: int) -> Iterator[Message]:
    """``per_message`` minutes of one meter per message, meters interleaved, time ascending."""
    for start in range(first_minute, first_minute + minutes, per_message):
        for m in range(meters):
            dev = f"PWR-S{m:02d}"
            stamps = [T0 + timedelta(minutes=start + k) for k in range(per_message)]
            payload = json.dumps([{"ts": int(ts.timestamp() * 1000), "values": {"p": 40.0 + k}}
                                  for k, ts in enumerate(stamps)]).encode()
            yield Message(f"{prefix}telemetry/power/{dev}", payload,
                          tuple((dev, ts) for ts in stamps))


@dataclass
class Publisher:
    """QoS 1 publisher in a thread of its own; :meth:`publish` returns once all are acknowledged."""

    host: str
    port: int
    window: int = 1000
    acked: set[int] = field(default_factory=set)
    connections: int = 0

    def publish(self, messages: list[Message], deadline_s: float = 120.0) -> None:
        """Publish until the broker has acknowledged every message (reconnecting as needed)."""
        self.acked = set()
        deadline = time.monotonic() + deadline_s
        while len(self.acked) < len(messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.acked)} of {len(messages)} messages"
                                     f" acknowledged after {deadline_s:.0f} s")
            self._session(messages)

    def _session(self, messages: list[Message]) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"stress-pub-{uuid.uuid4().hex[:8]}")
        client.max_inflight_messages_set(self.window)
        client.max_queued_messages_set(0)
        inflight: list[tuple[paho.MQTTMessageInfo, int]] = []

        def reap() -> None:
            keep = []
            for info, k in inflight:
                if info.is_published():
                    self.acked.add(k)
                else:
                    keep.append((info, k))
            inflight[:] = keep

        try:
            client.connect("127.0.0.1", self.port, keepalive=5)
        except OSError:
            time.sleep(0.1)
            return
        self.connections += 1
        client.loop_start()
        try:
            last_progress = time.monotonic()
            for k, msg in enumerate(messages):
                if k in self.acked:
                    continue
                while not client.is_connected() or len(inflight) >= self.window:
                    reap()
                    if not client.is_connected() and time.monotonic() - last_progress > 2:
                        return  # connection lost: publish the rest on a new one
                    time.sleep(0.001)
                info = client.publish(msg.topic, msg.payload, qos=1)
                if info.rc != paho.MQTT_ERR_SUCCESS:
                    return
                inflight.append((info, k))
                last_progress = time.monotonic()
            while inflight and client.is_connected():
                reap()
                time.sleep(0.002)
            reap()
        finally:
            reap()
            client.loop_stop()
            client.disconnect()
            threading.Event().wait(0.05 if len(self.acked) < len(messages) else 0)


def stored_keys(dsn: str) -> list[tuple[str, datetime]]:
    """(device, ts) of every stored reading."""
    with psycopg.connect(dsn) as conn:
        return [(str(d), ts) for d, ts in conn.execute("SELECT device_id, ts FROM readings")]
