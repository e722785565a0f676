"""Broker URLs: the one parser used by settings, the collector, the simulator and the warning publisher.

Accepted schemes:

==========  ==============  ===============
scheme      transport       default port
==========  ==============  ===============
``mqtt``    plain TCP       1883
``tcp``     plain TCP       1883 (an alias some brokers' docs use)
``mqtts``   TLS             8883
==========  ==============  ===============

``user`` and ``password`` are percent-decoded (``sim%40x`` -> ``sim@x``). Anything else
(another scheme, a path, a query, a bad port, no host) is a :class:`ValueError` naming
what is wrong, so a bad ``ECOWARN_MQTT_URL`` fails when settings load, not later at start.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["SCHEMES", "MqttEndpoint", "parse_mqtt_url"]

SCHEMES: dict[str, tuple[bool, int]] = {"mqtt": (False, 1883), "tcp": (False, 1883), "mqtts": (True, 8883)}


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    """Where a broker is and how to log in to it."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``aiomqtt.Client`` (host, port, login, TLS context)."""
        kw: dict[str, Any] = {"hostname": self.host, "port": self.port,
                              "username": self.username, "password": self.password}
        if self.tls:
            kw["tls_context"] = ssl.create_default_context()
        return kw


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """``mqtt[s]://[user[:pass]@]host[:port]`` -> :class:`MqttEndpoint`."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"MQTT URL {url!r}: invalid port ({exc})") from exc
    if parts.scheme not in SCHEMES:
        raise ValueError(f"MQTT URL {url!r}: scheme must be one of "
                         f"{', '.join(s + '://' for s in SCHEMES)}, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT URL {url!r}: no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"MQTT URL {url!r}: unexpected path, query or fragment")
    tls, default_port = SCHEMES[parts.scheme]
    return MqttEndpoint(
        host=parts.hostname,
        port=port if port is not None else default_port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
    )
