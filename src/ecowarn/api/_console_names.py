"""How the console names an alert's enterprise and equipment, shared by every list and page.

An air station's alert has no enterprise: its station is named in the enterprise's place
(空气站 长安区网格1), so no row of a list is left blank.
"""

from __future__ import annotations

from collections.abc import Sequence

from ecowarn.config.registry import Registry
from ecowarn.i18n import Lang

__all__ = ["device_label", "enterprise_cell", "equipment"]

_STATION = {"zh": "空气站", "en": "Air station"}


def device_label(registry: Registry, device_id: str) -> str:
    station = registry.stations.get(device_id)
    if station is not None and station.name:
        return f"{station.name} ({device_id})"
    device = registry.devices.get(device_id)
    if device is None:
        return device_id
    if not device.equipment and device.outlet:
        return f"{device.outlet} ({device.id})"  # a CEMS is known by its outlet
    return device.label


def equipment(registry: Registry, device_ids: Sequence[str], lang: Lang) -> str:
    return ("、" if lang == "zh" else ", ").join(device_label(registry, d) for d in device_ids)


def enterprise_cell(registry: Registry, enterprise_id: str | None, device_ids: Sequence[str],
                    lang: Lang) -> str:
    """The enterprise's registered name; for a station's alert, the station."""
    if enterprise_id is not None:
        enterprise = registry.enterprises.get(enterprise_id)
        return enterprise.name if enterprise else enterprise_id
    stations = [registry.stations[d] for d in device_ids if d in registry.stations]
    if not stations:
        return ""
    sep = "、" if lang == "zh" else ", "
    return f"{_STATION[lang]} " + sep.join(s.name or s.id for s in stations)
