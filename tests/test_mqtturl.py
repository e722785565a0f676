"""The one broker-URL parser shared by settings, collector, simulator and warning publisher."""

from __future__ import annotations

import ssl

import pytest

from ecowarn.config.settings import SettingsError, load_settings
from ecowarn.core.mqtturl import parse_mqtt_url


def test_parse_mqtt_url() -> None:
    """mqtt://user:pass@host:port is split into its parts, with 1883 as the default port."""
    t = parse_mqtt_url("mqtt://sim%40x:p%3Ass@broker.local:11883")
    assert (t.host, t.port, t.username, t.password, t.tls) == ("broker.local", 11883, "sim@x", "p:ss", False)
    t = parse_mqtt_url("mqtt://127.0.0.1")
    assert (t.host, t.port, t.username, t.password) == ("127.0.0.1", 1883, None, None)
    for bad, why in [("http://h", "scheme"), ("mqtt://", "no host"), ("mqtt://h:x", "port"),
                     ("mqtt://h/topic", "path"), ("ws://h", "scheme"), ("h:1883", "scheme")]:
        with pytest.raises(ValueError, match=why):
            parse_mqtt_url(bad)


def test_schemes_tcp_and_mqtts() -> None:
    """tcp:// is plain MQTT on 1883; mqtts:// is TLS on 8883 and hands aiomqtt a TLS context."""
    t = parse_mqtt_url("tcp://broker:1884")
    assert (t.host, t.port, t.tls) == ("broker", 1884, False)
    assert "tls_context" not in t.client_kwargs()
    s = parse_mqtt_url("mqtts://u:p@broker.example")
    assert (s.host, s.port, s.username, s.password, s.tls) == ("broker.example", 8883, "u", "p", True)
    kw = s.client_kwargs()
    assert (kw["hostname"], kw["port"], kw["username"], kw["password"]) == ("broker.example", 8883, "u", "p")
    assert isinstance(kw["tls_context"], ssl.SSLContext)
    assert kw["tls_context"].verify_mode == ssl.CERT_REQUIRED


def test_settings_use_the_same_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL the service could not connect with fails when settings load, naming the key;
    every scheme the parser accepts passes."""
    for good in ("mqtt://h", "tcp://h:1", "mqtts://h"):
        monkeypatch.setenv("ECOWARN_MQTT_URL", good)
        assert load_settings().mqtt_url == good
    for bad in ("mqtt://h/path", "http://h", "mqtt://h:port"):
        monkeypatch.setenv("ECOWARN_MQTT_URL", bad)
        with pytest.raises(SettingsError, match="MQTT_URL"):
            load_settings()
