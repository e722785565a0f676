"""An aiomqtt client that lets the application acknowledge QoS 1 messages.

aiomqtt 2.x acknowledges every QoS 1 message as soon as paho has decoded it,
before the application has seen it, so a crash loses whatever was received but
not yet stored. paho-mqtt 2.x (aiomqtt's engine, ``client._client``) has a
documented switch for this: ``manual_ack_set(True)`` before connecting, then
``ack(mid, qos)`` per message (`paho.mqtt.client.Client.manual_ack_set`). The
broker keeps every unacknowledged message of a persistent session
(``clean_session=False``) and sends it again after a reconnect; it also stops
sending once ``max_inflight_messages`` (Mosquitto) messages wait for their
acknowledgement, which is what bounds the messages held in memory here.

:class:`AckingClient` is a small subclass of ``aiomqtt.Client`` that

- turns manual acknowledgements on and exposes :meth:`AckingClient.ack`, to be
  called from the event loop thread (aiomqtt drives paho's socket from it);
- delivers messages in batches with :meth:`AckingClient.receive` instead of the
  one-task-per-message ``messages`` iterator (most of aiomqtt's ~55 us per
  message), keeping paho's own ``MQTTMessage`` objects;
- reads every packet available when the socket is readable, not one per event
  loop turn (asking the kernel with ``FIONREAD`` whether more bytes wait, rather
  than letting a read fail);
- stops reading the socket while ``max_buffered`` messages wait to be taken
  (QoS 0 messages are not bounded by the broker's in-flight window), and
  starts again once they are taken;
- records the CONNACK's "session present" flag (:attr:`AckingClient.session_present`):
  a persistent session the broker no longer holds means the messages it had
  accepted for it are gone (see ``docs/operations.md``).

It relies on these aiomqtt 2.5 internals, each exercised by
``tests/test_mqtt_ack.py``: the paho client in ``_client``, the callbacks
``_on_connect``, ``_on_message``, ``_on_socket_open`` and ``_on_socket_close`` that aiomqtt's
constructor registers with paho, and the ``_loop``, ``_connected``,
``_disconnected``, ``_misc_loop`` and ``_misc_task`` members they use; and on
paho's ``Client._packet_queue`` to write a batch of PUBACKs at once.
"""

from __future__ import annotations

import array
import asyncio
import logging
import struct
from collections import deque
from collections.abc import Iterable
from typing import Any

try:  # ask the kernel how many bytes wait instead of failing a read (Unix)
    import fcntl
    import termios
    _FIONREAD: int | None = termios.FIONREAD
except ImportError:  # pragma: no cover - Windows
    _FIONREAD = None

import aiomqtt
import paho.mqtt.client as mqtt

__all__ = ["AckingClient"]

log = logging.getLogger(__name__)

# Packets handled per readable event before giving other tasks a turn.
MAX_PACKETS_PER_READ = 1000

_PUBACK = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id
_PUBACK_HEADER = 0x40


class AckingClient(aiomqtt.Client):
    """aiomqtt client with application acknowledgements and batched delivery (see module doc)."""

    def __init__(self, *args: Any, max_buffered: int = 20_000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client.manual_ack_set(True)
        self._max_buffered = max_buffered
        self._buffer: deque[mqtt.MQTTMessage] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._sock_fd: int | None = None
        self._reading = False
        self._avail = array.array("i", [0])
        self._tls_pending: Any = None
        # The CONNACK's "session present" flag; None until connected.
        self.session_present: bool | None = None

    # -- paho callbacks (replacing aiomqtt's) -----------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
                    reason_code: Any, properties: Any = None) -> None:
        if not self._connected.done():
            self.session_present = bool(flags.session_present)
        super()._on_connect(client, userdata, flags, reason_code, properties)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._buffer.append(message)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()
        tls_pending = getattr(sock, "pending", None)  # decrypted bytes held by a TLS socket

        def opened() -> None:  # on the event loop thread
            self._sock_fd = fd
            self._tls_pending = tls_pending
            self._start_reading()
            self._misc_task = self._loop.create_task(self._misc_loop())

        # paho calls this from the executor thread that runs connect().
        self._loop.call_soon_threadsafe(opened)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._reading and self._sock_fd is not None:
            self._loop.remove_reader(self._sock_fd)
        self._reading = False
        self._sock_fd = None
        if self._misc_task is not None and not self._misc_task.done():
            self._loop.call_soon_threadsafe(self._misc_task.cancel)
        self._wake()

    # -- reading -----------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._reading and self._sock_fd is not None:
            self._loop.add_reader(self._sock_fd, self._read_ready)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading and self._sock_fd is not None:
            self._loop.remove_reader(self._sock_fd)
            self._reading = False

    def _more_to_read(self) -> bool:
        """Bytes wait on the socket (or in TLS buffers): ask the kernel rather than fail a read."""
        pending = self._tls_pending
        if pending is not None and pending() > 0:
            return True
        if self._sock_fd is None or _FIONREAD is None:
            return True  # no way to ask: let paho try (it returns on EAGAIN)
        try:
            fcntl.ioctl(self._sock_fd, _FIONREAD, self._avail)
        except OSError:
            return True
        return self._avail[0] > 0

    def _read_ready(self) -> None:
        client = self._client
        buffer = self._buffer
        try:
            for _ in range(MAX_PACKETS_PER_READ):
                if client.loop_read() != mqtt.MQTT_ERR_SUCCESS or not self._more_to_read():
                    break
        except Exception as exc:  # paho raises on a broken socket: that is a disconnection
            if not self._disconnected.done():
                self._disconnected.set_exception(exc)
        if buffer:
            if len(buffer) >= self._max_buffered:
                self._stop_reading()
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def receive(self) -> list[mqtt.MQTTMessage]:
        """Every message received and not yet taken (at least one); waits for one.

        Raises :class:`aiomqtt.MqttError` when the connection is lost.
        """
        while not self._buffer:
            if self._disconnected.done():
                exc = self._disconnected.exception() if not self._disconnected.cancelled() else None
                raise aiomqtt.MqttError("Disconnected during message iteration") from exc
            waiter = self._loop.create_future()
            self._waiter = waiter

            def wake(_: object, waiter: asyncio.Future[None] = waiter) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            self._disconnected.add_done_callback(wake)
            try:
                await waiter
            finally:
                self._waiter = None
                self._disconnected.remove_done_callback(wake)
        batch = list(self._buffer)
        self._buffer.clear()
        self._start_reading()
        return batch

    # -- acknowledging -----------------------------------------------------------------

    @property
    def reading(self) -> bool:
        """False while reading from the broker is paused (``max_buffered`` messages not taken)."""
        return self._reading

    @property
    def buffered(self) -> int:
        """Messages received and not yet taken by :meth:`receive`."""
        return len(self._buffer)

    @property
    def connected(self) -> bool:
        return self._connected.done() and not self._disconnected.done()

    def ack(self, message: mqtt.MQTTMessage) -> bool:
        """Acknowledge one QoS 1/2 message to the broker; False if this connection is gone.

        Call from the event loop thread, in the order the messages were received
        (MQTT requires PUBACKs in order). A message of a lost connection is not
        acknowledged: the broker sends it again on the next one.
        """
        return self.ack_many((message,)) == 1

    def ack_many(self, messages: Iterable[mqtt.MQTTMessage]) -> int:
        """Acknowledge messages in the given order, QoS 1 PUBACKs written as one packet run.

        paho's public ``ack()`` queues one packet per message and the socket then
        takes one ``send()`` per PUBACK; here the 4-byte PUBACKs of a completed
        batch are joined and queued together (``Client._packet_queue``, the queue
        ``ack()`` itself uses), so a batch of acks costs one write. Returns how
        many were acknowledged (none if this connection is gone).
        """
        if not self.connected:
            return 0
        client = self._client
        run: list[bytes] = []
        n = 0
        for message in messages:
            if message.qos == 1:
                run.append(_PUBACK.pack(_PUBACK_HEADER, 2, message.mid))
                n += 1
            elif message.qos == 2:  # not used by ecowarn (QoS 1 subscription); kept correct
                if run:
                    client._packet_queue(mqtt.PUBACK, b"".join(run), 0, 0)
                    run.clear()
                if client.ack(message.mid, 2) == mqtt.MQTT_ERR_SUCCESS:
                    n += 1
        if run:
            rc = client._packet_queue(mqtt.PUBACK, b"".join(run), 0, 0)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                log.debug("PUBACKs not queued (%s); the broker will redeliver",
                          mqtt.error_string(rc))
                return 0
        return n
