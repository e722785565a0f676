"""Parse and validate telemetry payloads (CONTRACT section 1).

A payload is one reading object or an array of them. Each reading is accepted or
rejected on its own: a batch with one bad reading stores the others, and the bad
one goes to the dead-letter table with a reason code.

Reason codes: ``bad_topic``, ``malformed_json``, ``invalid_payload``,
``missing_timestamp``, ``bad_timestamp``, ``naive_timestamp``,
``future_timestamp``, ``invalid_value``, ``non_finite_value``,
``unknown_metric``, ``bad_flag``, ``unknown_device``, ``kind_mismatch``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ecowarn.config.metrics import FLAGS, KIND_METRICS, KINDS
from ecowarn.config.registry import Registry
from ecowarn.store.model import Rejection, Row

__all__ = ["ParseResult", "TelemetryParser", "parse_ts"]

_decoder = msgspec.json.Decoder()


class _Reading(msgspec.Struct):
    """The shape of a valid reading, for the typed fast path (unknown keys are ignored)."""

    ts: int | str
    values: dict[str, float | None]
    flags: dict[str, str] = {}


_typed_decoder = msgspec.json.Decoder(list[_Reading] | _Reading)


@dataclass(slots=True)
class ParseResult:
    rows: list[Row] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    readings: int = 0  # readings accepted (each may hold several rows)


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_ts(raw: object) -> datetime:
    """RFC 3339 with an explicit offset, or integer epoch milliseconds -> aware UTC datetime."""
    if isinstance(raw, bool):
        raise _Reject("bad_timestamp", f"ts {raw!r} is not a timestamp")
    if isinstance(raw, int):
        try:
            return datetime.fromtimestamp(raw / 1000, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise _Reject("bad_timestamp", f"ts {raw} is out of range as epoch milliseconds") from exc
    if isinstance(raw, str):
        if "T" not in raw and " " not in raw:
            raise _Reject("bad_timestamp", f"ts {raw!r} is not an RFC 3339 date-time")
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise _Reject("bad_timestamp", f"ts {raw!r} is not an RFC 3339 date-time") from exc
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise _Reject("naive_timestamp",
                          f"ts {raw!r} has no UTC offset; send e.g. {raw}+08:00")
        return ts.astimezone(UTC)
    raise _Reject("bad_timestamp", f"ts must be an RFC 3339 string or epoch milliseconds, got {type(raw).__name__}")


def _decode(payload: bytes) -> Any:
    try:
        return _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        # Standard JSON has no NaN/Infinity; loggers still send them. Tell the
        # sender that the number is the problem, not the syntax.
        try:
            obj = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise _Reject("malformed_json", f"payload is not valid UTF-8 JSON: {exc}") from exc
        return obj


class TelemetryParser:
    """Turns (topic, payload) into rows and rejections against a registry."""

    def __init__(self, registry: Registry, *, max_future_s: float = 300.0) -> None:
        self._registry = registry
        self._max_future = timedelta(seconds=max_future_s)

    @property
    def registry(self) -> Registry:
        return self._registry

    def parse_mqtt(self, topic: str, payload: bytes, *, now: datetime | None = None,
                   source: str = "mqtt") -> ParseResult:
        """Parse one message from ``telemetry/{kind}/{device_id}``."""
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != "telemetry" or not parts[2]:
            return self._whole(source, topic, None, payload, "bad_topic",
                               f"topic {topic!r} is not telemetry/{{kind}}/{{device_id}}")
        kind, device_id = parts[1], parts[2]
        if kind not in KINDS:
            return self._whole(source, topic, device_id, payload, "bad_topic",
                               f"unknown kind {kind!r} in topic; expected one of {', '.join(KINDS)}")
        device = self._registry.devices.get(device_id)
        if device is None:
            return self._whole(source, topic, device_id, payload, "unknown_device",
                               f"device {device_id!r} is not in the registry")
        if device.kind != kind:
            return self._whole(source, topic, device_id, payload, "kind_mismatch",
                               f"device {device_id!r} is registered as {device.kind}, "
                               f"published under {kind}")
        now = now or datetime.now(UTC)
        fast = self._fast(device_id, kind, payload, now)
        if fast is not None:
            return fast
        try:
            obj = _decode(payload)
        except _Reject as r:
            return self._whole(source, topic, device_id, payload, r.reason, r.detail)
        items = obj if isinstance(obj, list) else [obj]
        out = ParseResult()
        for item in items:
            try:
                out.rows.extend(self._reading(device_id, kind, item, now))
                out.readings += 1
            except _Reject as r:
                raw = payload if len(items) == 1 and not isinstance(obj, list) else _dump(item)
                out.rejections.append(Rejection(source=source, reason=r.reason, detail=r.detail,
                                                payload=raw, topic=topic, device_id=device_id))
        return out

    def parse_batch(self, items: Sequence[Any], *, now: datetime | None = None,
                    source: str = "http") -> list[tuple[list[Row], Rejection | None]]:
        """Parse readings that each carry their own ``device_id`` (HTTP batch ingest).

        Returns, per item in order, its rows and its rejection (one of the two is empty).
        """
        now = now or datetime.now(UTC)
        out: list[tuple[list[Row], Rejection | None]] = []
        for item in items:
            device_id = item.get("device_id") if isinstance(item, dict) else None
            try:
                if not isinstance(device_id, str) or not device_id:
                    raise _Reject("invalid_payload", "each reading needs a device_id string")
                device = self._registry.devices.get(device_id)
                if device is None:
                    raise _Reject("unknown_device", f"device {device_id!r} is not in the registry")
                body = {k: v for k, v in item.items() if k != "device_id"}
                out.append((self._reading(device_id, device.kind, body, now), None))
            except _Reject as r:
                topic = None
                if isinstance(device_id, str) and device_id in self._registry.devices:
                    topic = f"telemetry/{self._registry.devices[device_id].kind}/{device_id}"
                out.append(([], Rejection(source=source, reason=r.reason, detail=r.detail,
                                          payload=_dump(item), topic=topic,
                                          device_id=device_id if isinstance(device_id, str) else None)))
        return out

    def _fast(self, device_id: str, kind: str, payload: bytes, now: datetime) -> ParseResult | None:
        """The common case, all of it valid, through a typed decoder; None means "take the slow path".

        It accepts only what the slow path accepts as a whole, so rejections (and
        their reasons) always come from the slow path.
        """
        try:
            obj = _typed_decoder.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        items = obj if isinstance(obj, list) else (obj,)
        allowed = KIND_METRICS[kind]  # type: ignore[index]
        max_future = self._max_future
        out = ParseResult()
        rows = out.rows
        for item in items:
            raw_ts = item.ts
            if isinstance(raw_ts, int):
                try:
                    ts = datetime.fromtimestamp(raw_ts / 1000, UTC)
                except (OverflowError, OSError, ValueError):
                    return None
            else:
                try:
                    ts = parse_ts(raw_ts)
                except _Reject:
                    return None
            if ts - now > max_future:
                return None
            values, flags = item.values, item.flags
            if not values:
                return None
            for metric, value in values.items():
                if metric not in allowed or (value is not None and not math.isfinite(value)):
                    return None
                flag = flags.get(metric, "N") if flags else "N"
                if flag not in FLAGS:
                    return None
                rows.append(Row(device_id, metric, ts, value, flag))
            if flags and any(m not in values for m in flags):
                return None
        out.readings = len(items)
        return out

    def _whole(self, source: str, topic: str, device_id: str | None, payload: bytes,
               reason: str, detail: str) -> ParseResult:
        return ParseResult(rejections=[Rejection(source=source, reason=reason, detail=detail,
                                                 payload=payload, topic=topic, device_id=device_id)])

    def _reading(self, device_id: str, kind: str, item: Any, now: datetime) -> list[Row]:
        if not isinstance(item, dict):
            raise _Reject("invalid_payload", "a reading must be a JSON object")
        if "ts" not in item:
            raise _Reject("missing_timestamp", "reading has no ts")
        ts = parse_ts(item["ts"])
        if ts - now > self._max_future:
            raise _Reject("future_timestamp",
                          f"ts {ts.isoformat()} is more than {self._max_future.total_seconds():.0f} s "
                          "ahead of the server clock")
        values = item.get("values")
        if not isinstance(values, dict) or not values:
            raise _Reject("invalid_payload", "reading needs a non-empty values object")
        flags = item.get("flags") or {}
        if not isinstance(flags, dict):
            raise _Reject("invalid_payload", "flags must be an object of metric -> letter")
        allowed = KIND_METRICS[kind]  # type: ignore[index]
        rows = []
        for metric, value in values.items():
            if metric not in allowed:
                raise _Reject("unknown_metric",
                              f"metric {metric!r} is not a {kind} metric; expected one of "
                              f"{', '.join(sorted(allowed))}")
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise _Reject("invalid_value", f"value of {metric} must be a number or null, "
                                  f"got {value!r}")
                value = float(value)
                if not math.isfinite(value):
                    raise _Reject("non_finite_value", f"value of {metric} is {value}, not a finite number")
            flag = flags.get(metric, "N")
            if not isinstance(flag, str) or flag not in FLAGS:
                raise _Reject("bad_flag", f"flag of {metric} is {flag!r}; expected one of "
                              f"{''.join(sorted(FLAGS))}")
            rows.append(Row(device_id, metric, ts, value, flag))
        for metric in flags:
            if metric not in values:
                raise _Reject("invalid_payload", f"flag given for {metric!r}, which has no value")
        return rows


def _dump(item: Any) -> bytes:
    try:
        return json.dumps(item, ensure_ascii=False, allow_nan=True).encode()
    except (TypeError, ValueError):
        return repr(item).encode()
