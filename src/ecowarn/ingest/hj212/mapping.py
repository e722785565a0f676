"""From a parsed data upload to ecowarn rows (CONTRACT sections 1 and 4).

Commands and values
-------------------
2011 real-time data stores each factor's ``-Rtd``; 2051 (minute), 2061 (hourly)
and 2031 (daily) store ``-Avg``. ``-Flag`` is the value's HJ 212 flag
(N F M S D C T B; ``N`` when absent). The row's metric is the factor's
ecowarn name (a21026 -> so2...; 2005-era codes too, see
:mod:`ingest.hj212.dialect`) and ``device_id`` is the packet's MN.

Time
----
``DataTime`` (``yyyyMMddHHmmss``) is local time, UTC+8, whatever the server's
zone; for 2051/2061/2031 it is the *start* of the interval. Rows carry it as
an aware UTC datetime, so ``20261123080000`` is 2026-11-23T00:00:00Z.

What is not stored, and why
---------------------------
``-Min``/``-Max`` are dropped: the contract stores one value per metric and
time, and for interval data that value is the mean (``-Avg``).
``-ZsRtd``/``-ZsAvg``/``-ZsMin``/``-ZsMax`` (converted to reference O2) are
dropped too: ``config/metrics.py`` has no converted metrics (no ``so2_zs``),
and the contract has the service convert itself, from the measured value, O2
and the outlet's ``ref_o2`` (CONTRACT section 3, HJ 75-2017), so a logger's
own figure (with its own, possibly edited, coefficients) is not needed. ``-Cou``,
``-EFlag`` and ``-SampleTime`` are dropped as well. Each dropped field is
reported as a :class:`Skipped` entry (reason ``ignored_field``) and counted
by the gateway.

A factor whose code is unknown, a value that is not a number and a flag that is
not one of the eight letters are skipped the same way (``unknown_code``,
``bad_value``, ``bad_value_flag``); the rest of the packet is still stored. A
metric sent twice (a 2017 and a 2005 code for the same thing) keeps the first
(``duplicate_metric``). An empty value (``a21026-Rtd=``) is stored as ``None``:
"no value this time". A packet without a usable ``DataTime`` raises
:class:`MappingError`: none of its values has a time.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from ecowarn.config.registry import Device
from ecowarn.ingest.hj212.dialect import Dialect
from ecowarn.ingest.hj212.errors import MappingError
from ecowarn.ingest.hj212.segment import Packet
from ecowarn.store.model import Row

__all__ = ["CHINA_TZ", "Mapped", "Route", "Skipped", "format_data_time", "packet_to_rows",
           "parse_data_time"]

CHINA_TZ = timezone(timedelta(hours=8), "UTC+08:00")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATA_TIME = re.compile(r"\d{14}")


@dataclass(frozen=True, slots=True)
class Skipped:
    """A CP field that did not become a row, with why."""

    field: str  # e.g. "a21026-ZsRtd", or the code for unknown_code
    reason: str  # ignored_field, unknown_code, bad_value, bad_value_flag, duplicate_metric
    value: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    """Where the factors of one MN's packets go: code -> (device id, metric).

    A CEMS outlet's route is the dialect's flue-gas codes (2017 and 2005-era), a water
    outlet's the w-codes, a sub-metering terminal's the codes of each of its meters
    (``codes`` in the registry), so one packet may carry several meters. ``run_states``:
    the route maps ``SBxxx`` codes to ``rs`` (CN 2021/2022 are stored).
    """

    codes: Mapping[str, tuple[str, str]]
    run_states: bool = False

    @classmethod
    def for_devices(cls, devices: Sequence[Device], dialect: Dialect) -> Route:
        first = devices[0]
        if first.kind == "cems":
            table = {**dialect.legacy_codes, **dialect.codes}
            return cls({c: (first.id, m) for c, m in table.items()})
        if first.kind == "water":
            return cls({c: (first.id, m) for c, m in dialect.water_codes.items()})
        codes = {c: (d.id, m) for d in devices for c, m in d.codes.items()}
        return cls(codes, run_states=any(m == "rs" for _, m in codes.values()))


@dataclass(frozen=True, slots=True)
class Mapped:
    """The rows of one data upload and the fields left out."""

    rows: tuple[Row, ...]
    skipped: tuple[Skipped, ...]
    ts: datetime

    @property
    def unknown_codes(self) -> tuple[str, ...]:
        return tuple(s.field for s in self.skipped if s.reason == "unknown_code")


def parse_data_time(text: str) -> datetime:
    """``yyyyMMddHHmmss`` in UTC+8 -> aware UTC datetime; raise MappingError."""
    return _parse_data_time(text)


@functools.lru_cache(maxsize=4096)  # loggers reporting the same minute share one entry
def _parse_data_time(text: str) -> datetime:
    # Fourteen digits leave every field exactly two digits (four for the year),
    # so slicing reads what strptime("%Y%m%d%H%M%S") would, at a tenth of the cost;
    # out-of-range fields raise ValueError in both. Errors are not cached.
    if not _DATA_TIME.fullmatch(text):
        raise MappingError("bad_datatime", f"DataTime {text!r} is not yyyyMMddHHmmss")
    try:
        local = datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]),
                         int(text[10:12]), int(text[12:14]), tzinfo=CHINA_TZ)
    except ValueError as exc:
        raise MappingError("bad_datatime", f"DataTime {text!r} is not a valid time") from exc
    return local.astimezone(UTC)


def format_data_time(ts: datetime) -> str:
    """Aware datetime -> ``yyyyMMddHHmmss`` in UTC+8 (naive times are refused)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("DataTime needs an aware datetime (China is UTC+8)")
    return ts.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")


def packet_to_rows(packet: Packet, dialect: Dialect, *, lenient: bool = True,
                   route: Route | None = None) -> Mapped:
    """The rows of a data upload (CN in ``dialect.row_commands``, or a run-state upload in
    ``dialect.state_commands`` when ``route.run_states``).

    ``route`` says which device and metric each factor code is (default: a CEMS whose id
    is the MN, the dialect's codes). ``lenient`` accepts lower-case flag letters; strict
    mode skips them.
    Raises :class:`MappingError` for a command that carries no rows, a missing
    MN or a missing or invalid ``DataTime``.
    """
    cn = packet.cn or ""
    suffix = dialect.row_commands.get(cn)
    if suffix is None and route is not None and route.run_states:
        suffix = dialect.state_commands.get(cn)
    if suffix is None:
        raise MappingError("not_data", f"CN {cn!r} carries no values to store")
    mn = packet.mn
    if not mn:
        raise MappingError("missing_field", "the data upload has no MN")
    data_time: str | None = None
    by_code: dict[str, dict[str, str]] = {}  # in order of first appearance
    skipped: list[Skipped] = []
    for item in packet.cp:
        for key, value in item:
            if key == "DataTime":
                if data_time is None:
                    data_time = value
                continue
            code, dash, field = key.partition("-")
            if not dash:
                skipped.append(Skipped(key, "ignored_field", value))
                continue
            fields = by_code.get(code)
            if fields is None:
                by_code[code] = {field: value}
            elif field not in fields:
                fields[field] = value
    if data_time is None:
        raise MappingError("missing_datatime", f"CN {cn} upload has no DataTime")
    ts = parse_data_time(data_time)

    rows: list[Row] = []
    seen: set[tuple[str, str]] = set()
    codes, legacy, value_flags = dialect.codes, dialect.legacy_codes, dialect.value_flags
    routed = None if route is None else route.codes
    for code, fields in by_code.items():
        if routed is None:
            metric = codes.get(code) or legacy.get(code)  # Dialect.metric_for, inlined
            device = mn
        else:
            target = routed.get(code)
            device, metric = target if target is not None else (mn, None)
        if metric is None:
            skipped.append(Skipped(code, "unknown_code"))
            continue
        for field, value in fields.items():
            if field != suffix and field != "Flag":
                skipped.append(Skipped(f"{code}-{field}", "ignored_field", value))
        raw_value = fields.get(suffix)
        if raw_value is None:
            continue
        if (device, metric) in seen:
            skipped.append(Skipped(f"{code}-{suffix}", "duplicate_metric", raw_value))
            continue
        number: float | None
        if raw_value == "":
            number = None
        elif _NUMBER.fullmatch(raw_value) and math.isfinite(float(raw_value)):
            number = float(raw_value)
        else:
            skipped.append(Skipped(f"{code}-{suffix}", "bad_value", raw_value))
            continue
        flag = fields.get("Flag", "N")
        if lenient:
            flag = flag.strip().upper()
        if flag not in value_flags:
            skipped.append(Skipped(f"{code}-Flag", "bad_value_flag", flag))
            continue
        seen.add((device, metric))
        rows.append(Row(device, metric, ts, number, flag))
    return Mapped(rows=tuple(rows), skipped=tuple(skipped), ts=ts)
