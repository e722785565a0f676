"""Metrics, units and alert evidence as a reader of the console meets them.

A chart's legend names the metric and its unit in the page's language (功率（kW）, power (kW)),
never the metric's code; units are written as printed (mg/m³, μg/m³, ℃). An alert's evidence
and its rule's parameters are shown as a table, one row per fact, each named in the page's
language with its unit, device ids replaced by the devices' names, metric codes by the
metrics' names, times (``*_s`` epoch seconds) in China Standard Time; the key path stays in
the row's ``data-key`` for whoever compares the page with the API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ecowarn.api._time import CST
from ecowarn.config.metrics import UNITS
from ecowarn.config.registry import Device, Registry
from ecowarn.i18n import CATALOGS, Lang, catalog, label, rule_name

__all__ = ["FieldRow", "document_rows", "evidence_rows", "file_kind", "metric_label", "metric_name", "metric_unit",
           "unit_symbol"]

# Suffixes of evidence keys that carry their unit (STYLE: durations carry their unit in the name).
_SUFFIX_UNITS = {"_kw": "kW", "_min": "min", "_pct": "%", "_km": "km", "_deg": "deg", "_ms": "m/s",
                 "_ugm3": "ug/m3"}
# Keys whose value is in the unit of the alert's metric.
_METRIC_VALUED = frozenset({
    "limit", "hourly_converted", "max_hourly_converted", "mean_hourly_converted", "min_hourly_converted",
    "converted", "value", "max_value", "min_value", "mean_value", "max", "min", "mean", "means", "max_mean",
    "mean_excess", "max_excess", "neighbour_median_mean", "band_low", "band_high", "flow_threshold", "flow_mean",
    "flow_max", "raw"})
_STAGE_INDEXES = frozenset({"stages_off", "stage"})  # 0-based in the facts; stage 1 is the first
_HOURS = frozenset({"hours", "high_hours", "min_hours", "min_valid_hours"})
_EPOCH_2000 = 946_684_800  # a ``*_s`` value past this is a time, not a duration
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")


def unit_symbol(unit: str, lang: Lang) -> str:
    """How a page writes the unit code ``unit`` (mg/m3 -> mg/m³; minutes -> 分钟)."""
    symbols: dict[str, str] = CATALOGS[lang].UNIT_SYMBOLS
    return symbols.get(unit, unit)


def file_kind(content_type: str, lang: Lang) -> str:
    """A file's type as a reader names it (PDF 文档), from its content type."""
    return catalog(lang, "FILE_KINDS").get(content_type.split(";")[0].strip().lower(), content_type)


def metric_name(metric: str, lang: Lang) -> str:
    return catalog(lang, "METRICS").get(metric, metric)


def metric_unit(kind: str, metric: str) -> str:
    """The unit code of ``metric`` on a device of ``kind`` ('' when unknown)."""
    units: Mapping[str, str] = UNITS.get(kind, {})  # type: ignore[call-overload]
    return units.get(metric, "")


def metric_label(kind: str, metric: str, lang: Lang) -> str:
    """功率（kW） / power (kW); the name alone for a metric without unit (pH, run state)."""
    unit = unit_symbol(metric_unit(kind, metric), lang)
    name = metric_name(metric, lang)
    if not unit:
        return name
    if lang == "en":
        return f"{name} ({unit})"
    return f"{name[:-1]}，{unit}）" if name.endswith("）") else f"{name}（{unit}）"


@dataclass(frozen=True, slots=True)
class FieldRow:
    key: str  # the key path, e.g. facts.production_mean_kw
    name: str  # in the page's language
    value: str  # formatted, with its unit


def _number(x: float) -> str:
    if float(x).is_integer():
        return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))
    return f"{x:,.3f}".rstrip("0").rstrip(".") if abs(x) < 1000 else f"{x:,.1f}"


class _Worder:
    def __init__(self, registry: Registry | None, lang: Lang, metric_unit_code: str, prefix: str = "") -> None:
        self.devices: Mapping[str, Device] = registry.devices if registry is not None else {}
        self.lang = lang
        self.metric_unit = metric_unit_code
        names = catalog(lang, "EVIDENCE_FIELDS")
        # A document's fields (``doc.`` keys) over the evidence fields of the same name.
        self.names = {**names, **{k.removeprefix(prefix): v for k, v in names.items() if prefix and
                                  k.startswith(prefix)}}
        self.prefix = prefix
        self.bureau = catalog(lang, "BUREAU")
        self.sep = "、" if lang == "zh" else ", "

    def name(self, key: str) -> str:
        if key in self.names:
            return self.names[key]
        if key in catalog(self.lang, "RULES"):
            return rule_name(key, self.lang)
        if key in catalog(self.lang, "METRICS"):
            return metric_name(key, self.lang)
        device = self.devices.get(key)
        if device is not None:
            return device.label
        return key

    def unit_of(self, key: str) -> str:
        if key in _METRIC_VALUED:
            return self.metric_unit
        if key in _HOURS:
            return "h"
        return next((u for suffix, u in _SUFFIX_UNITS.items() if key.endswith(suffix)), "")

    def scalar(self, key: str, value: Any) -> str:
        if key in _STAGE_INDEXES and isinstance(value, int) and not isinstance(value, bool):
            return catalog(self.lang, "DOSSIER")["stage_n"].format(n=value + 1, meters="").rstrip("：: ")
        if isinstance(value, bool):
            return self.bureau["yes" if value else "no"]
        if isinstance(value, int | float):
            if key.endswith("_s"):
                if value > _EPOCH_2000:
                    return datetime.fromtimestamp(value, UTC).astimezone(CST).strftime("%Y-%m-%d %H:%M")
                return f"{_number(value)} {unit_symbol('s', self.lang)}"
            unit = unit_symbol(self.unit_of(key), self.lang)
            return f"{_number(value)} {unit}".rstrip() if unit not in ("%", "°") else f"{_number(value)}{unit}"
        if value is None:
            return "—"
        text = str(value)
        if _ISO_TIME.match(text):
            return datetime.fromisoformat(text).astimezone(CST).strftime("%Y-%m-%d %H:%M")
        if self.prefix and f"{key}_{text}" in self.names:
            return self.names[f"{key}_{text}"]
        device = self.devices.get(text)
        if device is not None:
            return device.label
        if key in ("metric", "metrics", "by_metric", "metrics_marked"):
            return metric_name(text, self.lang)
        if key == "severity":
            return label(text, self.lang)
        if text in catalog(self.lang, "RULES"):
            return rule_name(text, self.lang)
        return text

    def rows(self, data: Any, key: str, path: str, name: str) -> list[FieldRow]:
        if isinstance(data, Mapping):
            out: list[FieldRow] = []
            for k, v in data.items():
                if isinstance(v, str) and str(k) in self.devices:
                    v = self.devices[str(k)].label  # a device's name as the registry has it now
                sub_key = str(k) if str(k) in self.names or not key else key
                sub_path = f"{path}.{k}" if path else str(k)
                if not path and k == "facts":  # the facts are the evidence: no heading of their own
                    out.extend(self.rows(v, "", "facts", ""))
                    continue
                sub_name = self.name(str(k))
                out.extend(self.rows(v, sub_key, sub_path, f"{name} · {sub_name}" if name else sub_name))
            return out
        if isinstance(data, list | tuple):
            if all(not isinstance(v, Mapping | list | tuple) for v in data):
                return [FieldRow(path, name, self.sep.join(self.scalar(key, v) for v in data) or "—")]
            out = []
            for i, v in enumerate(data, 1):
                out.extend(self.rows(v, key, f"{path}.{i - 1}", f"{name} {i}" if name else str(i)))
            return out
        return [FieldRow(path, name, self.scalar(key, data))]


def evidence_rows(data: Mapping[str, Any], registry: Registry | None, lang: Lang, *, kind: str = "",
                  metric: str = "") -> list[FieldRow]:
    """``data`` (an alert's evidence or its rule's parameters) as named rows in ``lang``;
    values in the unit of ``metric`` on a device of ``kind`` where the key says so."""
    return _Worder(registry, lang, metric_unit(kind, metric)).rows(dict(data), "", "", "")


def document_rows(body: Mapping[str, Any], registry: Registry | None, lang: Lang, *,
                  shown: frozenset[str] = frozenset()) -> list[FieldRow]:
    """The fields of a filed document kept in the chain (a rectification submission, a repair
    application) as named rows in ``lang``, leaving out those the page shows apart (``shown``)."""
    return _Worder(registry, lang, "", prefix="doc.").rows(
        {k: v for k, v in body.items() if k not in shown}, "", "", "")
