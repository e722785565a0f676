"""Transports of risk warnings: signed HTTP webhooks and MQTT.

Webhook request (one per attempt, identical bytes on every attempt)::

    POST <the enterprise's notify.webhook>
    Content-Type: application/json; charset=utf-8
    X-Ecowarn-Event: risk_warning | enforcement_notice
    X-Ecowarn-Delivery: <uuid>            same on retries: the receiver's idempotency key
    X-Ecowarn-Signature: sha256=<hex>     HMAC-SHA256 of the raw body with the shared secret

A 2xx answer is a delivery; anything else (another status, a timeout, a refused
connection) is a failed attempt that the dispatcher retries. Redirects are not
followed. Receivers that report errors inside a 200 (IM group robots answer
``{"errcode": 310000, ...}``) are judged by a ``check`` of the answer's body.
MQTT: the same body published with QoS 1 on ``warnings/{enterprise_id}``; the
broker's PUBACK is the delivery.

Each attempt returns an :class:`AttemptResult`; transports never raise for a
failed delivery, so one bad receiver cannot stop the dispatcher.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiomqtt
import httpx

from ecowarn.core.mqtturl import MqttEndpoint

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "AttemptResult",
    "MqttWarningPublisher",
    "ResponseCheck",
    "WebhookSender",
    "sign",
    "signature_matches",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Ecowarn-Signature"
DELIVERY_HEADER = "X-Ecowarn-Delivery"
EVENT_HEADER = "X-Ecowarn-Event"
_MAX_ERROR_CHARS = 500
# At most this much of a 2xx answer is read for a ``check``.
_MAX_CHECKED_BYTES = 64 * 1024

# Judges a 2xx answer's body: an error message, or None when it reports success.
ResponseCheck = Callable[[bytes], str | None]


def sign(body: bytes, secret: str) -> str:
    """The ``X-Ecowarn-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver does: compare the header with its own signature in constant time."""
    return header is not None and hmac.compare_digest(sign(body, secret), header.strip())


@dataclass(frozen=True, slots=True)
class AttemptResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None  # the receiver's Retry-After, when it sent one
    duration_s: float = 0.0


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date; the backoff schedule decides
    return seconds if seconds >= 0 else None


class WebhookSender:
    """Posts signed warning bodies over a shared ``httpx.AsyncClient`` (owned by the caller)."""

    def __init__(self, client: httpx.AsyncClient, *, timeout_s: float, user_agent: str) -> None:
        self._client = client
        self._timeout = httpx.Timeout(timeout_s)
        self._timeout_s = timeout_s
        self._user_agent = user_agent

    async def send(self, url: str, body: bytes, *, delivery_id: str, secret: str | None,
                   event: str = "risk_warning", check: ResponseCheck | None = None) -> AttemptResult:
        """One signed POST; with ``check``, a 2xx answer whose body it faults is a failure."""
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": self._user_agent,
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
        }
        if secret:
            headers[SIGNATURE_HEADER] = sign(body, secret)
        t0 = time.monotonic()
        try:
            # The overall bound covers a receiver that trickles its answer byte by byte.
            async with asyncio.timeout(self._timeout_s * 2):
                async with self._client.stream("POST", url, content=body, headers=headers,
                                               timeout=self._timeout) as response:
                    status = response.status_code
                    reason = response.reason_phrase
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    answer = b""
                    if check is not None and 200 <= status < 300:
                        async for chunk in response.aiter_bytes():
                            answer += chunk
                            if len(answer) >= _MAX_CHECKED_BYTES:
                                break
        except (httpx.HTTPError, httpx.InvalidURL, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
            return AttemptResult(False, None, error, None, time.monotonic() - t0)
        elapsed = time.monotonic() - t0
        if 200 <= status < 300:
            fault = check(answer) if check is not None else None
            if fault is not None:
                return AttemptResult(False, status, fault[:_MAX_ERROR_CHARS], None, elapsed)
            return AttemptResult(True, status, None, None, elapsed)
        return AttemptResult(False, status, f"HTTP {status} {reason}".strip()[:_MAX_ERROR_CHARS],
                             retry_after, elapsed)


class MqttWarningPublisher:
    """Publishes warning bodies with QoS 1; connects on first use and again after a failure.

    An async context manager: leaving it disconnects. A failed publish closes the
    connection and reports the failure; the dispatcher's retry reconnects.
    """

    def __init__(self, endpoint: MqttEndpoint, *, timeout_s: float, client_id: str | None = None) -> None:
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._client_id = client_id or f"ecowarn-warnings-{uuid.uuid4().hex[:10]}"
        self._lock = asyncio.Lock()
        self._stack: AsyncExitStack | None = None
        self._client: aiomqtt.Client | None = None

    async def __aenter__(self) -> MqttWarningPublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._disconnect()

    async def _connected(self) -> aiomqtt.Client:
        async with self._lock:
            if self._client is None:
                stack = AsyncExitStack()
                client = aiomqtt.Client(
                    **self._endpoint.client_kwargs(), identifier=self._client_id,
                    clean_session=True, timeout=self._timeout_s)
                async with asyncio.timeout(self._timeout_s):
                    await stack.enter_async_context(client)
                self._stack, self._client = stack, client
            return self._client

    async def _disconnect(self) -> None:
        async with self._lock:
            stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            try:
                async with asyncio.timeout(self._timeout_s):
                    await stack.aclose()
            except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
                log.debug("closing the warning publisher's connection: %s", exc)

    async def publish(self, topic: str, body: bytes) -> AttemptResult:
        t0 = time.monotonic()
        try:
            client = await self._connected()
            await client.publish(topic, body, qos=1, timeout=self._timeout_s)
        except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
            await self._disconnect()
            error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
            return AttemptResult(False, None, error, None, time.monotonic() - t0)
        return AttemptResult(True, None, None, None, time.monotonic() - t0)
