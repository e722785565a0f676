"""Publishing simulated readings over MQTT: URL parsing, flow control, pacing, a real broker."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import datetime

import aiomqtt
import pytest

from ecowarn.config.registry import Registry
from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.simulator import (
    CST,
    PublishError,
    generate,
    run_simulation,
    select_enterprises,
)
from ecowarn.simulator import publish as pub
from ecowarn.simulator.errors import ClientQueueFull

START = datetime(2026, 11, 23, 8, 0, tzinfo=CST)
CEMENT = "91130105MA0CXXXX1X"


@pytest.fixture
def cement(sample_registry: Registry) -> Registry:
    """The sample registry's cement works alone: six devices (kiln, bag filter, two
    desulfurisation towers on duty/standby, SCR, CEMS)."""
    return select_enterprises(sample_registry, [CEMENT])


class FakeBroker:
    """Stands in for the client: acknowledges after a delay, records concurrency and payloads."""

    def __init__(self, delay_s: float = 0.0, refuse_first: int = 0, fail_on: int = -1) -> None:
        self.delay_s = delay_s
        self.refuse_first = refuse_first
        self.fail_on = fail_on
        self.calls = 0
        self.inflight = 0
        self.max_inflight = 0
        self.received: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes) -> None:
        self.calls += 1
        if self.calls <= self.refuse_first:
            raise ClientQueueFull("full")
        if self.calls == self.fail_on:
            raise PublishError("broker went away")
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            await asyncio.sleep(self.delay_s)
            self.received.append((topic, payload))
        finally:
            self.inflight -= 1


async def test_inflight_messages_are_bounded(cement: Registry) -> None:
    """Never more than max_inflight unacknowledged publishes, and the bound is actually used."""
    broker = FakeBroker(delay_s=0.002)
    minutes = generate(cement, START, 60, seed=1)
    stats = await pub.publish_minutes(broker.publish, minutes, total=60, max_inflight=16)
    assert broker.max_inflight == 16
    assert stats.messages == stats.readings == 360 == len(broker.received)


async def test_client_queue_full_is_retried_not_dropped(cement: Registry,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages the client refuses (MQTT_ERR_QUEUE_SIZE) are retried until sent, each exactly once."""
    monkeypatch.setattr(pub, "QUEUE_FULL_RETRY_S", 0.001)
    broker = FakeBroker(refuse_first=25)
    stats = await pub.publish_minutes(broker.publish, generate(cement, START, 10, seed=1),
                                      total=10, max_inflight=4)
    assert stats.retries == 25
    assert stats.messages == len(broker.received) == 60
    keys = Counter((t, json.loads(p)["ts"]) for t, p in broker.received)
    assert len(keys) == 60 and set(keys.values()) == {1}


async def test_a_failed_publish_fails_the_run(cement: Registry) -> None:
    """A publish error ends the run with PublishError instead of skipping the message."""
    broker = FakeBroker(fail_on=7)
    with pytest.raises(PublishError, match="broker went away"):
        await pub.publish_minutes(broker.publish, generate(cement, START, 10, seed=1),
                                  total=10, max_inflight=4)


async def test_batches_carry_consecutive_readings_per_device(cement: Registry) -> None:
    """batch=7 sends arrays of up to 7 readings per device, all readings once, in time order."""
    broker = FakeBroker()
    progress: list[tuple[int, int]] = []
    stats = await pub.publish_minutes(broker.publish, generate(cement, START, 60, seed=1),
                                      total=60, batch=7, topic_prefix="x/",
                                      progress=lambda d, t: progress.append((d, t)))
    assert stats.readings == 360 and stats.messages == 6 * 9  # ceil(60 / 7) per device
    per_topic: dict[str, list[str]] = {}
    for topic, payload in broker.received:
        batch = json.loads(payload)
        assert isinstance(batch, list) and 1 <= len(batch) <= 7
        per_topic.setdefault(topic, []).extend(r["ts"] for r in batch)
    assert set(per_topic) == {f"x/telemetry/{cement.devices[d].kind}/{d}" for d in cement.devices}
    for ts in per_topic.values():
        assert len(ts) == 60 and ts == sorted(ts)
    assert progress[-1] == (60, 60) and len(progress) == 60


async def test_speed_paces_simulated_minutes(cement: Registry) -> None:
    """speed=600 spends 0.1 s of wall time per simulated minute; burst mode does not wait."""
    broker = FakeBroker()
    t0 = time.monotonic()
    await pub.publish_minutes(broker.publish, generate(cement, START, 6, seed=1), total=6,
                              speed=600)
    paced = time.monotonic() - t0
    assert 0.45 <= paced < 1.5
    t0 = time.monotonic()
    await pub.publish_minutes(broker.publish, generate(cement, START, 6, seed=1), total=6,
                              speed=None)
    assert time.monotonic() - t0 < 0.3


async def test_an_hour_arrives_complete_at_a_real_broker(cement: Registry, mqtt_url: str,
                                                         topic_prefix: str) -> None:
    """Burst-publishing an hour of one enterprise delivers every reading, unchanged, to a subscriber."""
    expected = {
        (f"{topic_prefix}telemetry/{kind}/{did}", r["ts"]): r
        for m in generate(cement, START, 60, seed=42) for kind, did, r in m.messages
    }
    target = parse_mqtt_url(mqtt_url)
    received: dict[tuple[str, str], object] = {}
    async with aiomqtt.Client(target.host, target.port, username=target.username,
                              password=target.password, identifier=f"{topic_prefix}sub") as sub:
        await sub.subscribe(f"{topic_prefix}telemetry/#", qos=1)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(run_simulation(
                mqtt_url, cement, start=START, minutes=60, speed=None, seed=42, injections=(),
                topic_prefix=topic_prefix))
            async with asyncio.timeout(15):
                async for message in sub.messages:
                    reading = json.loads(message.payload)  # type: ignore[arg-type]
                    received[(str(message.topic), reading["ts"])] = reading
                    if len(received) == len(expected):
                        break
        stats = task.result()
    assert stats.messages == stats.readings == len(expected) == 360
    assert received == expected


async def test_batched_hour_at_a_real_broker(cement: Registry, mqtt_url: str,
                                             topic_prefix: str) -> None:
    """With batch=10 the broker carries 36 arrays holding all 360 readings."""
    target = parse_mqtt_url(mqtt_url)
    readings = 0
    messages = 0
    async with aiomqtt.Client(target.host, target.port, username=target.username,
                              password=target.password, identifier=f"{topic_prefix}sub") as sub:
        await sub.subscribe(f"{topic_prefix}telemetry/#", qos=1)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(run_simulation(
                mqtt_url, cement, start=START, minutes=60, speed=0, seed=1, injections=(),
                topic_prefix=topic_prefix, batch=10))
            async with asyncio.timeout(15):
                async for message in sub.messages:
                    messages += 1
                    readings += len(json.loads(message.payload))  # type: ignore[arg-type]
                    if messages == 36:
                        break
    assert (messages, readings) == (36, 360)
    assert (task.result().messages, task.result().readings) == (36, 360)


async def test_unreachable_broker_raises_publish_error(cement: Registry) -> None:
    """A broker that refuses the connection ends the run with PublishError naming it."""
    with pytest.raises(PublishError, match=r"127\.0\.0\.1:1\b"):
        await run_simulation("mqtt://127.0.0.1:1", cement, start=START, minutes=5, speed=None,
                             seed=1, injections=())
