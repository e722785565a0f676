"""A QoS 1 publisher for fault tests: keeps publishing through broker outages, retrying.

Readings go round-robin to ``devices``; reading ``i`` has event time ``T0 + i
minutes`` on its device's clock, so per device publication order is event-time
order. A publish that fails (broker gone, no PUBACK in time) is retried on a
new connection until the broker acknowledges it; a retried message may reach
the collector twice, which the readings key absorbs.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiomqtt

from ecowarn.core.mqtturl import parse_mqtt_url

__all__ = ["T0", "Publisher"]

T0 = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass
class Publisher:
    mqtt_url: str
    prefix: str
    devices: tuple[str, ...] = ("PWR-KILN-1", "PWR-BAG-1", "PWR-SCR-1")
    interval_s: float = 0.004  # publishing rate, not synchronisation
    sent: int = 0
    failures: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def reading(self, i: int) -> tuple[str, str, bytes]:
        dev = self.devices[i % len(self.devices)]
        ts = T0 + timedelta(minutes=i)
        payload = {"ts": int(ts.timestamp() * 1000), "values": {"p": float(i)}}
        return dev, f"{self.prefix}telemetry/power/{dev}", json.dumps(payload).encode()

    def expected(self, n: int) -> set[tuple[str, datetime]]:
        """(device, ts) of the first ``n`` readings."""
        return {(self.devices[i % len(self.devices)], T0 + timedelta(minutes=i)) for i in range(n)}

    async def run(self, n: int | None = None) -> None:
        """Publish until ``n`` readings are acknowledged by the broker or ``stop`` is set."""
        ep = parse_mqtt_url(self.mqtt_url)
        while not self.stop.is_set() and (n is None or self.sent < n):
            try:
                async with aiomqtt.Client(ep.host, ep.port, timeout=2) as client:
                    while not self.stop.is_set() and (n is None or self.sent < n):
                        _, topic, payload = self.reading(self.sent)
                        await client.publish(topic, payload, qos=1, timeout=2)
                        self.sent += 1
                        await asyncio.sleep(self.interval_s)
            except aiomqtt.MqttError:
                self.failures += 1
                await asyncio.sleep(0.05)
