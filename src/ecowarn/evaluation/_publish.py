"""The evaluation's publisher: a separate process, like a fleet of devices.

:func:`publisher_main` runs in a child process (``spawn``): it simulates the
scenario (same seed, same data as the labels describe; the scenario's edits applied), holds back and shuffles
the late deliveries, and publishes every reading with QoS 1 through one paho
client, driving paho's network loop itself. At most ``MAX_UNACKED`` messages are
unacknowledged at any time, so the wall-clock time recorded for each simulated
minute is when its readings actually went out. It reports over a pipe:
``("progress", minutes_done)`` now and then, then ``("done", PublishResult)`` or
``("error", message)``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.evaluation._edits import apply_edits
from ecowarn.evaluation._scenario import Scenario
from ecowarn.simulator import Minute, Reading, iter_minutes, simulate

__all__ = ["MAX_UNACKED", "PublishResult", "minute_index", "publisher_main", "with_late_delivery"]

MAX_UNACKED = 1000
ACK_TIMEOUT_S = 300.0
PROGRESS_EVERY = 20  # progress reports per run


@dataclass(frozen=True, slots=True)
class PublishResult:
    messages: int
    readings: int
    elapsed_s: float
    minute_wall: list[float]  # epoch seconds when each simulated minute had been sent
    release_wall: list[float]  # epoch seconds when each late delivery was sent


def minute_index(scenario: Scenario, when: datetime) -> int:
    return int((when - scenario.start).total_seconds() // 60)


def with_late_delivery(minutes: Iterable[Minute], scenario: Scenario,
                       released: Callable[[int, int], None]) -> Iterator[Minute]:
    """The stream with each late delivery's readings held back, then appended shuffled."""
    rng = np.random.default_rng([scenario.seed, 0x1A7E])
    windows = [(minute_index(scenario, d.start), minute_index(scenario, d.end),
                min(minute_index(scenario, d.release_at), scenario.minutes - 1), set(d.device_ids))
               for d in scenario.late]
    held: list[list[Any]] = [[] for _ in windows]
    for i, minute in enumerate(minutes):
        messages = minute.messages
        for k, (s, e, _r, devs) in enumerate(windows):
            if s <= i < e:
                keep: list[Any] = []
                for msg in messages:
                    (held[k] if msg[1] in devs else keep).append(msg)
                messages = keep
        for k, (_s, _e, r, _devs) in enumerate(windows):
            if r == i and held[k]:
                order = rng.permutation(len(held[k])).tolist()
                messages = messages + [held[k][j] for j in order]
                held[k] = []
                released(k, i)
        yield Minute(ts=minute.ts, messages=messages)


class _Sender:
    """One paho client, QoS 1, with a bounded number of unacknowledged messages."""

    def __init__(self, mqtt_url: str, client_id: str) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self._paho = paho
        target = parse_mqtt_url(mqtt_url)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=True)
        if target.username is not None:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set()
        self.client.max_inflight_messages_set(MAX_UNACKED)
        self.client.max_queued_messages_set(0)
        self.acked = 0
        self.sent = 0
        self.client.on_publish = self._on_publish
        self.client.connect(target.host, target.port, keepalive=60)

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        self.acked += 1

    def send(self, topic: str, payload: bytes) -> None:
        while self.sent - self.acked >= MAX_UNACKED:
            self._loop(0.005)
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != self._paho.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish to {topic} refused: {self._paho.error_string(info.rc)}")
        self.sent += 1
        if self.sent % 100 == 0:
            self._loop(0.0)

    def _loop(self, timeout: float) -> None:
        rc = self.client.loop(timeout=timeout)
        if rc != self._paho.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"MQTT connection lost: {self._paho.error_string(rc)}")

    def idle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._loop(min(left, 0.05))

    def finish(self) -> None:
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.sent - self.acked} messages not acknowledged in "
                                   f"{ACK_TIMEOUT_S:.0f} s")
            self._loop(0.01)
        self.client.disconnect()


def _encode(obj: Reading | list[Reading]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _publish(conn: Connection, scenario: Scenario, mqtt_url: str, prefix: str, batch: int,
             speed: float | None, client_id: str) -> PublishResult:
    sim = apply_edits(simulate(scenario.registry, scenario.start, scenario.minutes, scenario.seed,
                               scenario.injections), scenario.edits)
    sender = _Sender(mqtt_url, client_id)
    minute_wall = [math.nan] * scenario.minutes
    release_wall = [math.nan] * len(scenario.late)
    released_at: list[tuple[int, int]] = []
    stream = with_late_delivery(iter_minutes(sim), scenario, lambda k, i: released_at.append((k, i)))
    buffers: dict[str, list[Reading]] = {}
    readings = 0
    every = max(1, scenario.minutes // PROGRESS_EVERY)
    began = time.monotonic()
    step_s = 60.0 / speed if speed else None
    for i, minute in enumerate(stream):
        if step_s is not None:
            sender.idle(began + i * step_s - time.monotonic())
        for kind, device_id, reading in minute.messages:
            topic = f"{prefix}telemetry/{kind}/{device_id}"
            readings += 1
            if batch == 1:
                sender.send(topic, _encode(reading))
                continue
            buf = buffers.setdefault(topic, [])
            buf.append(reading)
            if len(buf) >= batch:
                sender.send(topic, _encode(buf))
                buffers[topic] = []
        now = time.time()
        minute_wall[i] = now
        for k, _i in released_at:
            release_wall[k] = now
        released_at.clear()
        if (i + 1) % every == 0:
            conn.send(("progress", i + 1))
    for topic, buf in buffers.items():
        if buf:
            sender.send(topic, _encode(buf))
    sender.finish()
    return PublishResult(messages=sender.sent, readings=readings,
                         elapsed_s=time.monotonic() - began, minute_wall=minute_wall,
                         release_wall=release_wall)


def publisher_main(conn: Connection, scenario: Scenario, mqtt_url: str, prefix: str, batch: int,
                   speed: float | None, client_id: str) -> None:
    """Child-process entry point; see the module docstring."""
    try:
        result = _publish(conn, scenario, mqtt_url, prefix, batch, speed, client_id)
    except Exception as exc:  # reported to the parent, which fails the run with it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        conn.send(("done", result))
    finally:
        conn.close()
