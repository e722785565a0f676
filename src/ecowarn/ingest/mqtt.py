"""MQTT collector: subscribes to ``telemetry/+/+`` with QoS 1 and feeds the pipeline.

Nothing received is lost:

- The session is persistent (``clean_session=False`` under a fixed client id),
  so the broker keeps the subscription and the messages of a collector that is
  away, and sends again every message it sent but did not see acknowledged.
- A QoS 1 message is acknowledged (PUBACK) only once its readings and
  rejections are committed or durably spooled by the pipeline, in the order the
  messages arrived (:mod:`ingest._mqtt_ack`). A crash or a lost connection
  before that means redelivery; the copy is absorbed by the readings key
  (device, metric, ts).
- Backpressure: when the pipeline's queue is full the collector stops taking
  messages; unacknowledged messages then fill the broker's in-flight window
  (``max_inflight_messages``) and the broker stops sending (it queues for the
  session instead; size ``max_queued_messages`` for that).

The collector asks the pipeline for an early batch whenever half of
``max_inflight`` messages wait for their acknowledgement, so a window smaller
than a batch does not stall the flow until ``flush_ms``; set ``max_inflight``
to the broker's ``max_inflight_messages`` (the shipped configuration uses
1,000). A smaller window than configured (Mosquitto's default is 20) is noticed
when messages stop coming while many wait for their ack, and also answered
with an early batch.

The collector owns its broker connection and reconnects with jittered
exponential backoff when the broker goes away. A reconnection on which the
broker no longer holds the session this process had (the CONNACK's "session
present" flag is off: a broker restarted without its persistence file, or
killed before writing it) is logged as an error and counted in
``ecowarn_mqtt_sessions_lost_total``: the messages the broker had accepted for
the collector and not yet seen acknowledged are gone, and nothing here can get
them back (docs/operations.md, "Broker restarts").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import aiomqtt
import paho.mqtt.client as paho
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ecowarn.core.aio import Backoff
from ecowarn.core.mqtturl import MqttEndpoint
from ecowarn.ingest._mqtt_ack import AckingClient
from ecowarn.ingest.parse import ParseResult, TelemetryParser
from ecowarn.store.model import Rejection, Row

__all__ = ["IngestSink", "MqttCollector"]

log = logging.getLogger(__name__)

# Reconnect backoff; tests shrink these.
RECONNECT_INITIAL_S = 0.5
RECONNECT_MAX_S = 30.0
# With at least STALL_MIN_UNACKED messages awaiting their ack, nothing new for STALL_S and
# no batch being written, the broker's window is probably full (a smaller
# max_inflight_messages than configured): commit now rather than after the flush interval.
STALL_MIN_UNACKED = 16
STALL_S = 0.005
# Work (8 per message + 1 per row) done in a row before giving other tasks, the batch
# writers above all, a turn: about 250 single-reading or 20 batched messages.
YIELD_EVERY = 2000


class IngestSink(Protocol):
    """What the collector needs from the pipeline (:class:`ingest.pipeline.IngestPipeline`)."""

    def offer(self, rows: Sequence[Row], rejections: Sequence[Rejection] = (),
              on_done: Callable[[], object] | None = None) -> bool: ...

    async def submit(self, rows: Sequence[Row], rejections: Sequence[Rejection] = (), *,
                     wait: bool = False, on_done: Callable[[], object] | None = None) -> None: ...

    def flush(self, *, if_idle: bool = False) -> None: ...


class _Total(Collector):
    """A counter incremented as a plain integer (no lock: the event loop is the only writer)."""

    def __init__(self, name: str, doc: str, registry: CollectorRegistry) -> None:
        self._name = name
        self._doc = doc
        self.value = 0
        registry.register(self)

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(self._name, self._doc, value=self.value)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter("ecowarn_mqtt_messages_total", "MQTT messages received",
                                registry=registry)
        self.connected = Gauge("ecowarn_mqtt_connected", "1 while connected to the broker",
                               registry=registry)
        self.reconnects = Counter("ecowarn_mqtt_reconnects_total",
                                  "Connection attempts after a loss or failure", registry=registry)
        self.unacked = Gauge("ecowarn_mqtt_unacked_messages",
                             "Messages received and not yet acknowledged (awaiting commit)",
                             registry=registry)
        # Counted per message on the hot path: a plain integer exported by a collector.
        self.acked = _Total("ecowarn_mqtt_acked",
                            "QoS 1 messages acknowledged after their commit", registry)
        self.sessions_lost = Counter(
            "ecowarn_mqtt_sessions_lost",
            "Reconnections on which the broker no longer held the collector's persistent session"
            " (messages it had accepted for the collector and not yet delivered are lost)",
            registry=registry)
        self.paused = Gauge("ecowarn_mqtt_reading_paused",
                            "1 while the collector has stopped reading from the broker because"
                            " ingest is blocked (backpressure)", registry=registry)


class _Connection:
    """Acknowledgement bookkeeping of one broker connection."""

    __slots__ = ("armed", "client", "flush_at", "loop", "metrics", "ready", "sink", "unacked")

    def __init__(self, client: AckingClient, sink: IngestSink, flush_at: int,
                 metrics: _Metrics) -> None:
        self.client = client
        self.sink = sink
        self.flush_at = flush_at
        self.metrics = metrics
        self.unacked = 0
        self.armed = True
        self.ready: list[paho.MQTTMessage] = []  # stored, PUBACK not yet written
        self.loop = asyncio.get_running_loop()

    def received(self) -> None:
        self.unacked += 1
        if self.armed and self.unacked >= self.flush_at:
            self.armed = False
            self.sink.flush()

    def stored(self, message: paho.MQTTMessage) -> None:
        """Pipeline callback: the message's data is committed or spooled.

        Callbacks come in arrival order, a batch at a time; the PUBACKs of a batch
        are written together right after it (FIFO ``call_soon`` keeps the order).
        """
        self.unacked -= 1
        if self.unacked < self.flush_at:
            self.armed = True
        if not self.ready:
            self.loop.call_soon(self.write_acks)
        self.ready.append(message)

    def write_acks(self) -> None:
        ready, self.ready = self.ready, []
        self.metrics.acked.value += self.client.ack_many(ready)


class MqttCollector:
    """Long-running subscriber; ``run()`` is meant to be a task in the service's TaskGroup."""

    def __init__(self, endpoint: MqttEndpoint, parser: TelemetryParser, sink: IngestSink,
                 metrics_registry: CollectorRegistry, *, client_id: str = "ecowarn-collector",
                 topic_prefix: str = "", shared_group: str | None = None,
                 clean_session: bool = False, last_arrival: dict[str, float] | None = None,
                 max_inflight: int = 1000, max_buffered: int | None = None) -> None:
        self._endpoint = endpoint
        self._parser = parser
        self._sink = sink
        self._metrics = _Metrics(metrics_registry)
        self._client_id = client_id
        self._prefix = topic_prefix
        self._filter = f"{topic_prefix}telemetry/+/+"
        if shared_group:
            self._filter = f"$share/{shared_group}/{self._filter}"
        self._clean_session = clean_session
        self._flush_at = max(1, max_inflight // 2)
        # Messages taken from the socket but not yet from the collector: past this many the
        # socket is not read (the broker's in-flight window is not a reliable bound, see docs).
        self._max_buffered = max_buffered or max(10_000, 4 * max_inflight)
        self._conn: _Connection | None = None
        self._metrics.unacked.set_function(lambda: self._conn.unacked if self._conn else 0)
        self._metrics.paused.set_function(
            lambda: 1 if self._conn is not None and self._conn.client.connected
            and not self._conn.client.reading else 0)
        self.state = "disconnected"
        self.subscribed = asyncio.Event()
        # True once this process has subscribed in a persistent session: from then on the
        # broker must present it on every reconnection.
        self._had_session = False
        # Wall-clock time of the last message per device (for silence detection).
        self.last_arrival: dict[str, float] = last_arrival if last_arrival is not None else {}

    async def run(self) -> None:
        backoff = Backoff(RECONNECT_INITIAL_S, RECONNECT_MAX_S)
        while True:
            try:
                client = AckingClient(
                    **self._endpoint.client_kwargs(), identifier=self._client_id, clean_session=self._clean_session,
                    keepalive=30, timeout=10, max_buffered=self._max_buffered,
                )
                async with client:
                    self._check_session(client)
                    await client.subscribe(self._filter, qos=1)
                    self._had_session = not self._clean_session
                    self._conn = _Connection(client, self._sink, self._flush_at, self._metrics)
                    self.state = "connected"
                    self._metrics.connected.set(1)
                    self.subscribed.set()
                    log.info("subscribed to %s on %s:%d", self._filter, self._endpoint.host,
                             self._endpoint.port)
                    backoff.reset()
                    await self._consume(client, self._conn)
            except aiomqtt.MqttError as exc:
                self.state = "disconnected"
                self.subscribed.clear()
                self._metrics.connected.set(0)
                self._metrics.reconnects.inc()
                wait = backoff.next_s()
                log.warning("MQTT connection to %s:%d lost or refused (%s); retrying in %.1f s",
                            self._endpoint.host, self._endpoint.port, exc, wait)
                await asyncio.sleep(wait)
            finally:
                self._metrics.connected.set(0)

    def _check_session(self, client: AckingClient) -> None:
        if self._had_session and not client.session_present:
            self._metrics.sessions_lost.inc()
            log.error("the broker at %s:%d no longer holds session %r: the messages it had"
                      " accepted for this collector and not yet delivered or acknowledged are"
                      " lost (was it restarted without its persistence file, or killed before"
                      " writing it? see docs/operations.md, \"Broker restarts\")",
                      self._endpoint.host, self._endpoint.port, self._client_id)

    async def _consume(self, client: AckingClient, conn: _Connection) -> None:
        sink = self._sink
        loop = asyncio.get_running_loop()
        last_message = time.monotonic()
        watch: asyncio.TimerHandle | None = None

        def watch_stall() -> None:
            nonlocal watch
            if (conn.unacked >= STALL_MIN_UNACKED and not client.buffered
                    and time.monotonic() - last_message >= STALL_S):
                sink.flush(if_idle=True)
            watch = loop.call_later(STALL_S, watch_stall)

        watch = loop.call_later(STALL_S, watch_stall)
        try:
            while True:
                batch = await client.receive()
                last_message = time.monotonic()
                await self._handle(batch, conn)
        finally:
            if watch is not None:
                watch.cancel()

    async def _handle(self, batch: list[paho.MQTTMessage], conn: _Connection) -> None:
        """Parse and queue one batch of messages, each acknowledged once stored."""
        parse = self._parser.parse_mqtt
        sink = self._sink
        prefix = self._prefix
        last_arrival = self.last_arrival
        self._metrics.messages.inc(len(batch))
        now = time.time()
        work = 0
        for message in batch:
            if work >= YIELD_EVERY:
                work = 0
                await asyncio.sleep(0)  # let the writers' I/O progress during a burst
            topic = message.topic
            if prefix and topic.startswith(prefix):
                topic = topic[len(prefix):]
            payload = message.payload
            if type(payload) is not bytes:
                payload = bytes(payload)
            try:
                result = parse(topic, payload)
            except Exception as exc:  # a parser bug must not lose the message or stop us
                log.exception("could not parse a message on %s; dead-lettered", topic)
                result = ParseResult(rejections=[Rejection(
                    source="mqtt", reason="internal_error", detail=f"parser failed: {exc!r}",
                    payload=payload, topic=topic)])
            parts = topic.split("/")
            if len(parts) == 3:
                last_arrival[parts[2]] = now
            work += 8 + len(result.rows)
            on_done = None
            if message.qos:
                conn.received()
                on_done = _Ack(conn, message)
            if not sink.offer(result.rows, result.rejections, on_done):
                sink.flush()
                await sink.submit(result.rows, result.rejections, on_done=on_done)


class _Ack:
    """Completion callback of one message (cheaper than a closure or a partial)."""

    __slots__ = ("conn", "message")

    def __init__(self, conn: _Connection, message: paho.MQTTMessage) -> None:
        self.conn = conn
        self.message = message

    def __call__(self) -> None:
        self.conn.stored(self.message)
