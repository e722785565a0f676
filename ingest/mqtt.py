"""MQTT collector: subscribes to ``telemetry/+/+`` with QoS 1 and feeds the pipeline.

The collector owns its broker connection and reconnects with jittered
exponential backoff when the broker goes away. Every message is parsed against
the registry; accepted rows and rejections (with the raw payload) both go to the
pipeline, so nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiomqtt
from prometheus_client import CollectorRegistry, Counter, Gauge

from ingest.model import Rejection, Row
from ingest.parse import TelemetryParser

__all__ = ["MqttCollector", "MqttEndpoint", "parse_mqtt_url"]

log = logging.getLogger(__name__)

# Reconnect backoff; tests shrink these.
RECONNECT_INITIAL_S = 0.5
RECONNECT_MAX_S = 30.0


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """``mqtt://user:pass@host:port`` -> endpoint (port defaults to 1883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"not an mqtt:// URL: {url!r}")
    return MqttEndpoint(
        host=parts.hostname, port=parts.port or 1883,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter("ecowarn_mqtt_messages_total", "MQTT messages received",
                                registry=registry)
        self.connected = Gauge("ecowarn_mqtt_connected", "1 while connected to the broker",
                               registry=registry)
        self.reconnects = Counter("ecowarn_mqtt_reconnects_total",
                                  "Connection attempts after a loss or failure", registry=registry)


Submit = Callable[[Sequence[Row], Sequence[Rejection]], Awaitable[None]]


class MqttCollector:
    """Long-running subscriber; ``run()`` is meant to be a task in the service's TaskGroup."""

    def __init__(self, endpoint: MqttEndpoint, parser: TelemetryParser, submit: Submit,
                 metrics_registry: CollectorRegistry, *, client_id: str = "ecowarn-collector",
                 topic_prefix: str = "", shared_group: str | None = None,
                 clean_session: bool = False, last_arrival: dict[str, float] | None = None) -> None:
        self._endpoint = endpoint
        self._parser = parser
        self._submit = submit
        self._metrics = _Metrics(metrics_registry)
        self._client_id = client_id
        self._prefix = topic_prefix
        self._filter = f"{topic_prefix}telemetry/+/+"
        if shared_group:
            self._filter = f"$share/{shared_group}/{self._filter}"
        self._clean_session = clean_session
        self.state = "disconnected"
        self.subscribed = asyncio.Event()
        # Wall-clock time of the last message per device (for silence detection).
        self.last_arrival: dict[str, float] = last_arrival if last_arrival is not None else {}

    async def run(self) -> None:
        delay = RECONNECT_INITIAL_S
        while True:
            try:
                async with aiomqtt.Client(
                    hostname=self._endpoint.host, port=self._endpoint.port,
                    username=self._endpoint.username, password=self._endpoint.password,
                    identifier=self._client_id, clean_session=self._clean_session,
                    keepalive=30, timeout=10,
                ) as client:
                    await client.subscribe(self._filter, qos=1)
                    self.state = "connected"
                    self._metrics.connected.set(1)
                    self.subscribed.set()
                    log.info("subscribed to %s on %s:%d", self._filter, self._endpoint.host,
                             self._endpoint.port)
                    delay = RECONNECT_INITIAL_S
                    async for message in client.messages:
                        await self._handle(message.topic.value, message.payload)
            except aiomqtt.MqttError as exc:
                self.state = "disconnected"
                self.subscribed.clear()
                self._metrics.connected.set(0)
                self._metrics.reconnects.inc()
                wait = delay * (0.5 + random.random())
                log.warning("MQTT connection to %s:%d lost or refused (%s); retrying in %.1f s",
                            self._endpoint.host, self._endpoint.port, exc, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, RECONNECT_MAX_S)
            finally:
                self._metrics.connected.set(0)

    async def _handle(self, topic: str, payload: object) -> None:
        self._metrics.messages.inc()
        if not isinstance(payload, bytes | bytearray):
            payload = str(payload).encode()
        if self._prefix and topic.startswith(self._prefix):
            topic = topic[len(self._prefix):]
        result = self._parser.parse_mqtt(topic, bytes(payload))
        parts = topic.split("/")
        if len(parts) == 3:
            self.last_arrival[parts[2]] = time.time()
        await self._submit(result.rows, result.rejections)
