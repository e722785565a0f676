"""AckingClient against a real Mosquitto: application acks, redelivery, batched receive."""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt
import pytest
from conftest import eventually

from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.ingest._mqtt_ack import AckingClient


async def publish(url: str, topic: str, payloads: list[bytes]) -> None:
    ep = parse_mqtt_url(url)
    async with aiomqtt.Client(ep.host, ep.port) as client:
        for p in payloads:
            await client.publish(topic, p, qos=1)


def client_for(url: str, client_id: str) -> AckingClient:
    ep = parse_mqtt_url(url)
    return AckingClient(ep.host, ep.port, identifier=client_id, clean_session=False, timeout=10)


async def receive_n(client: AckingClient, n: int) -> list[bytes]:
    got: list[bytes] = []
    async with asyncio.timeout(10):
        while len(got) < n:
            got += [m.payload for m in await client.receive()]
    return got


def test_relies_on_aiomqtt_internals_that_still_exist() -> None:
    """The private aiomqtt and paho members AckingClient overrides or uses are still there."""
    import paho.mqtt.client as paho
    for name in ("_on_connect", "_on_message", "_on_socket_open", "_on_socket_close", "_misc_loop"):
        assert callable(getattr(aiomqtt.Client, name)), name
    assert callable(paho.Client._packet_queue)
    assert callable(paho.Client.manual_ack_set) and callable(paho.Client.ack)


async def test_unacknowledged_messages_come_back_and_acknowledged_ones_do_not(
        mqtt_url: str, topic_prefix: str) -> None:
    """Of four messages, the two not acked are redelivered to the next connection of the session
    (whose CONNACK says the session is present; the first one's did not)."""
    cid = f"ack-{uuid.uuid4().hex[:8]}"
    topic = f"{topic_prefix}telemetry/power/X"
    client = client_for(mqtt_url, cid)
    assert client.session_present is None
    async with client:
        assert client.session_present is False
        await client.subscribe(f"{topic_prefix}telemetry/+/+", qos=1)
    await publish(mqtt_url, topic, [b"m1", b"m2", b"m3", b"m4"])
    client = client_for(mqtt_url, cid)
    async with client:
        assert client.session_present is True
        messages = []
        async with asyncio.timeout(10):
            while len(messages) < 4:
                messages += await client.receive()
        assert [m.payload for m in messages] == [b"m1", b"m2", b"m3", b"m4"]
        assert client.ack_many(messages[:2]) == 2
        # Leaving the block sends DISCONNECT after the queued PUBACKs, in order.
    client = client_for(mqtt_url, cid)
    async with client:
        again = await receive_n(client, 2)
        assert again == [b"m3", b"m4"]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await client.receive()
    # Clean up the persistent session.
    ep = parse_mqtt_url(mqtt_url)
    async with aiomqtt.Client(ep.host, ep.port, identifier=cid, clean_session=True):
        pass


async def test_receive_hands_over_everything_buffered_at_once(mqtt_url: str, topic_prefix: str) -> None:
    """Messages that arrived while nobody was receiving come out of one receive() call together."""
    ep = parse_mqtt_url(mqtt_url)
    client = AckingClient(ep.host, ep.port, clean_session=True, timeout=10)
    async with client:
        await client.subscribe(f"{topic_prefix}telemetry/+/+", qos=1)
        await publish(mqtt_url, f"{topic_prefix}telemetry/power/Y", [b"%d" % i for i in range(50)])
        await eventually(lambda: client.buffered >= 50, 10, "50 buffered messages")
        batch = await client.receive()
        assert len(batch) > 1
        rest = await receive_n(client, 50 - len(batch)) if len(batch) < 50 else []
        assert [m.payload for m in batch] + rest == [b"%d" % i for i in range(50)]
        for m in batch:
            client.ack(m)


async def test_receive_raises_when_the_connection_is_lost(mqtt_url: str, topic_prefix: str) -> None:
    """A session taken over by another client ends receive() with MqttError, not a hang."""
    cid = f"ack-{uuid.uuid4().hex[:8]}"
    ep = parse_mqtt_url(mqtt_url)
    client = AckingClient(ep.host, ep.port, identifier=cid, clean_session=True, timeout=10)
    async with client:
        waiting = asyncio.create_task(client.receive())
        async with aiomqtt.Client(ep.host, ep.port, identifier=cid, clean_session=True):
            with pytest.raises(aiomqtt.MqttError):
                await asyncio.wait_for(waiting, 10)
        assert not client.connected


async def test_messages_of_a_lost_connection_are_never_acknowledged_on_the_next(
        mqtt_url: str, topic_prefix: str) -> None:
    """A PUBACK for a message of a dropped connection is not written (the broker may have given
    its packet id to another message on the new one); the message comes back and is acked there."""
    cid = f"ack-{uuid.uuid4().hex[:8]}"
    topic = f"{topic_prefix}telemetry/power/Z"
    first = client_for(mqtt_url, cid)
    async with first:
        await first.subscribe(f"{topic_prefix}telemetry/+/+", qos=1)
        await publish(mqtt_url, topic, [b"a1", b"a2", b"a3"])
        old = []
        async with asyncio.timeout(10):
            while len(old) < 3:
                old += await first.receive()
        # The session is taken over (as after a broker restart): the first connection drops.
        second = client_for(mqtt_url, cid)
        async with second:
            await eventually(lambda: not first.connected, 10, "the first connection to drop")
            assert first.ack_many(old) == 0
            again = await second.receive()
            async with asyncio.timeout(10):
                while len(again) < 3:
                    again += await second.receive()
            assert [m.payload for m in again] == [b"a1", b"a2", b"a3"]
            assert all(m.dup for m in again)
            assert second.ack_many(again) == 3
        with pytest.raises(aiomqtt.MqttError):
            await first.receive()
    ep = parse_mqtt_url(mqtt_url)
    async with aiomqtt.Client(ep.host, ep.port, identifier=cid, clean_session=True):
        pass
