"""Publish simulated readings to an MQTT broker (CONTRACT section 1).

Topic ``{topic_prefix}telemetry/{kind}/{device_id}``, QoS 1, UTF-8 JSON: one
reading per message, or with ``batch > 1`` an array of up to ``batch``
consecutive readings of one device.

Pacing: ``speed`` 1.0 publishes one simulated minute per 60 s of wall time, 60
one simulated hour per minute; ``None`` or 0 publishes as fast as the broker
acknowledges ("burst").

Flow control: at most ``max_inflight`` messages are unacknowledged at any time
(workers await each PUBACK), well under paho's limit of 65,535 message ids. Should
the client still refuse a message (``MQTT_ERR_QUEUE_SIZE``), it is retried after a
pause; a message is never dropped: a publish that fails or times out ends the run
with :class:`PublishError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiomqtt
import paho.mqtt.client as paho

from ecowarn.config.metrics import Kind
from ecowarn.config.registry import Registry
from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.simulator.errors import ClientQueueFull, PublishError, SimulatorError
from ecowarn.simulator.plant import Minute, Reading, iter_minutes, simulate
from ecowarn.simulator.scenario import Injection

__all__ = [
    "PublishFn",
    "SimStats",
    "publish_minutes",
    "run_simulation",
    "topic_for",
]

log = logging.getLogger(__name__)
# aiomqtt warns for every publish beyond ten pending; with a bounded in-flight window
# of hundreds that is the normal state, so its client logger only reports errors.
_CLIENT_LOG = logging.getLogger(f"{__name__}.client")
_CLIENT_LOG.setLevel(logging.ERROR)

MAX_INFLIGHT = 500
PUBLISH_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
QUEUE_FULL_RETRY_S = 0.05
QUEUE_FULL_MAX_RETRIES = 200

PublishFn = Callable[[str, bytes], Awaitable[None]]
"""Publish one payload to a topic with QoS 1 and return once the broker acknowledged it."""


@dataclass(frozen=True, slots=True)
class SimStats:
    """What a run published: messages (MQTT publishes), readings in them, client retries."""

    minutes: int
    messages: int
    readings: int
    retries: int
    elapsed_s: float


def topic_for(topic_prefix: str, kind: Kind, device_id: str) -> str:
    return f"{topic_prefix}telemetry/{kind}/{device_id}"


def _encode(obj: Reading | list[Reading]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


class _Counts:
    __slots__ = ("messages", "readings", "retries")

    def __init__(self) -> None:
        self.messages = 0
        self.readings = 0
        self.retries = 0


async def _send(publish: PublishFn, topic: str, payload: bytes, counts: _Counts) -> None:
    for attempt in range(QUEUE_FULL_MAX_RETRIES + 1):
        try:
            await publish(topic, payload)
            return
        except ClientQueueFull:
            counts.retries += 1
            if attempt == 0:
                log.warning("MQTT client queue full; retrying %s", topic)
            await asyncio.sleep(QUEUE_FULL_RETRY_S * min(attempt + 1, 10))
    raise PublishError(f"client queue still full after {QUEUE_FULL_MAX_RETRIES} retries "
                       f"publishing to {topic}")


_Item = tuple[str, bytes, int]


async def publish_minutes(publish: PublishFn, minutes: Iterable[Minute], *, total: int,
                          topic_prefix: str = "", batch: int = 1, speed: float | None = None,
                          progress: Callable[[int, int], None] | None = None,
                          max_inflight: int = MAX_INFLIGHT) -> SimStats:
    """Publish ``minutes`` through ``publish``; return when every message is acknowledged.

    ``progress(done, total)`` is called after each simulated minute has been handed
    to the publishing workers.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if max_inflight < 1:
        raise ValueError("max_inflight must be at least 1")
    if speed is not None and speed < 0:
        raise ValueError("speed must not be negative")
    step_s = 60.0 / speed if speed else None
    queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=max_inflight)
    counts = _Counts()
    done_minutes = 0
    loop = asyncio.get_running_loop()
    began = time.monotonic()

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            topic, payload, n = item
            await _send(publish, topic, payload, counts)
            counts.messages += 1
            counts.readings += n

    async def produce() -> None:
        nonlocal done_minutes
        buffers: dict[tuple[Kind, str], list[Reading]] = {}
        t0 = loop.time()
        for i, minute in enumerate(minutes):
            if step_s is not None:
                delay = t0 + i * step_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            for kind, device_id, reading in minute.messages:
                topic = topic_for(topic_prefix, kind, device_id)
                if batch == 1:
                    await queue.put((topic, _encode(reading), 1))
                    continue
                buf = buffers.setdefault((kind, device_id), [])
                buf.append(reading)
                if len(buf) >= batch:
                    await queue.put((topic, _encode(buf), len(buf)))
                    buffers[(kind, device_id)] = []
            done_minutes = i + 1
            if progress is not None:
                progress(done_minutes, total)
            await asyncio.sleep(0)  # let the workers run even when the queue never fills
        for (kind, device_id), buf in buffers.items():
            if buf:
                await queue.put((topic_for(topic_prefix, kind, device_id), _encode(buf), len(buf)))
        for _ in range(max_inflight):
            await queue.put(None)

    try:
        async with asyncio.TaskGroup() as tg:
            for k in range(max_inflight):
                tg.create_task(worker(), name=f"sim-publish-{k}")
            tg.create_task(produce(), name="sim-produce")
    except BaseExceptionGroup as group:
        first = _first_leaf(group)
        if isinstance(first, SimulatorError):
            raise first from group
        raise
    return SimStats(minutes=done_minutes, messages=counts.messages, readings=counts.readings,
                    retries=counts.retries, elapsed_s=time.monotonic() - began)


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _aiomqtt_publisher(client: aiomqtt.Client) -> PublishFn:
    """Adapter: aiomqtt errors become :class:`PublishError` / :class:`ClientQueueFull`."""

    async def publish(topic: str, payload: bytes) -> None:
        try:
            await client.publish(topic, payload, qos=1, timeout=PUBLISH_TIMEOUT_S)
        except aiomqtt.MqttCodeError as exc:
            if exc.rc == paho.MQTT_ERR_QUEUE_SIZE:
                raise ClientQueueFull(f"client queue full publishing to {topic}") from exc
            raise PublishError(f"publishing to {topic} failed: {exc}") from exc
        except aiomqtt.MqttError as exc:
            raise PublishError(f"publishing to {topic} failed: {exc}") from exc

    return publish


async def run_simulation(mqtt_url: str, registry: Registry, *, start: datetime, minutes: int,
                         speed: float | None, seed: int, injections: Sequence[Injection],
                         topic_prefix: str = "", batch: int = 1,
                         progress: Callable[[int, int], None] | None = None,
                         max_inflight: int = MAX_INFLIGHT) -> SimStats:
    """Simulate ``registry`` over ``[start, start + minutes)`` and publish it to ``mqtt_url``.

    The series are computed in a worker thread first (invalid arguments or
    injections raise before anything is published). Raises :class:`PublishError`
    when the broker cannot be reached or a publish fails.
    """
    target = parse_mqtt_url(mqtt_url)
    sim = await asyncio.to_thread(simulate, registry, start, minutes, seed, injections)
    identifier = f"ecowarn-sim-{uuid.uuid4().hex[:12]}"
    log.info("publishing %d minutes of %d devices to %s:%d (speed %s, batch %d)", minutes,
             len(sim.series), target.host, target.port, speed or "burst", batch)
    try:
        async with aiomqtt.Client(**target.client_kwargs(), identifier=identifier,
                                  timeout=CONNECT_TIMEOUT_S,
                                  max_inflight_messages=max_inflight,
                                  logger=_CLIENT_LOG) as client:
            stats = await publish_minutes(
                _aiomqtt_publisher(client), iter_minutes(sim), total=minutes,
                topic_prefix=topic_prefix, batch=batch, speed=speed, progress=progress,
                max_inflight=max_inflight)
    except aiomqtt.MqttError as exc:
        raise PublishError(f"MQTT broker {target.host}:{target.port}: {exc}") from exc
    log.info("published %d messages (%d readings) in %.2f s, %d retries", stats.messages,
             stats.readings, stats.elapsed_s, stats.retries)
    return stats
