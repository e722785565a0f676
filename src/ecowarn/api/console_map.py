"""The map page (``GET /console/map``, officers): enterprises, outlets and air stations of the
jurisdiction drawn from their registered coordinates as inline SVG (``api/_svg_map.py``).

- an enterprise (square) sits at its registered ``lat``/``lon``, else at the mean position of
  its devices that have one; its fill is its credit level in the active scheme (best green to
  worst red), its ring the worst severity of its open alerts; it links to its file
  (一企一档, ``/console/enterprises/{id}/file``);
- an outlet (triangle: CEMS or water device with its own coordinates) is coloured by the
  worst severity of the open alerts naming it and links to its enterprise's file;
- an air station (dot, officers without a region only, as its alerts are) is coloured the same
  way and links to the station's alerts (``/console?device_id=``).

Enterprises without any coordinates are named under the map. No tile server, CDN or script:
the console's pages load nothing from anywhere, and a bureau's network may not reach one.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from ecowarn.api._console_bureau_db import SEVERITY_ORDER, enterprise_levels, worst_open_severity
from ecowarn.api._console_lang import lang_of, url_for, with_lang
from ecowarn.api._console_nav import nav_links
from ecowarn.api._db import connect
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api._svg_map import MapPoint, map_svg
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.config.registry import Enterprise, Registry
from ecowarn.i18n import Lang, catalog, label
from ecowarn.store.tokens import Principal

__all__ = ["SEVERITY_COLOURS", "build_map_console", "enterprise_position", "level_colours"]

Renderer = Callable[..., HTMLResponse]
SEVERITY_COLOURS: Final = {"high": "#c62828", "medium": "#ef6c00", "low": "#f9a825"}
_LEVEL_PALETTE: Final = ("#1b5e20", "#7cb342", "#fdd835", "#fb8c00", "#c62828")
_QUIET_OUTLET: Final = "#ffffff"
_QUIET_STATION: Final = "#64b5f6"


def level_colours(level_ids: list[str]) -> dict[str, str]:
    """A colour per level, highest first: green to red, spread over the palette."""
    n = len(level_ids)
    if n == 1:
        return {level_ids[0]: _LEVEL_PALETTE[0]}
    last = len(_LEVEL_PALETTE) - 1
    return {lv: _LEVEL_PALETTE[round(i * last / (n - 1))] for i, lv in enumerate(level_ids)}


def enterprise_position(registry: Registry, enterprise: Enterprise) -> tuple[float, float] | None:
    """Its registered coordinates, else the mean of its devices' (None without either)."""
    if enterprise.lat is not None and enterprise.lon is not None:
        return enterprise.lat, enterprise.lon
    placed = [(d.lat, d.lon) for d_id in enterprise.device_ids
              if (d := registry.devices.get(d_id)) is not None and d.lat is not None and d.lon is not None]
    if not placed:
        return None
    return sum(p[0] for p in placed) / len(placed), sum(p[1] for p in placed) / len(placed)


def build_map_console(ctx: ApiContext, auth: Auth, render: Renderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    officers = auth.require_cookie("officer")
    reg = ctx.registry

    @router.get("/map")
    async def map_page(request: Request, principal: Annotated[Principal, Depends(officers)]) -> Response:
        lang = lang_of(request)
        b = catalog(lang, "BUREAU")
        seen = visibility(ctx, principal)
        async with connect(ctx) as conn:
            levels = await enterprise_levels(conn, reg, seen, ctx.credit_model.level_for)
            by_enterprise, by_device = await worst_open_severity(conn, seen.ids())
        scheme = ctx.credit_model.scheme
        colours = level_colours([lv.id for lv in scheme.levels])
        points: list[MapPoint] = []
        unplaced: list[str] = []
        for enterprise in sorted(reg.enterprises.values(), key=lambda e: e.id):
            if not seen.sees(enterprise.id):
                continue
            at = enterprise_position(reg, enterprise)
            if at is None:
                unplaced.append(enterprise.name)
                continue
            level = levels.get(enterprise.id, (0, ""))[1]
            worst = by_enterprise.get(enterprise.id)
            file_url = with_lang(f"{CONSOLE_PREFIX}/enterprises/{enterprise.id}/file", lang)
            points.append(MapPoint(at[0], at[1], "square", colours.get(level, "#9e9e9e"),
                                   SEVERITY_COLOURS.get(worst or ""), file_url,
                                   _title(enterprise.name, level, worst, b, lang), enterprise.name))
            for device_id in enterprise.device_ids:
                device = reg.devices.get(device_id)
                if device is None or device.kind not in ("cems", "water") or device.lat is None or device.lon is None:
                    continue
                dworst = by_device.get(device_id)
                points.append(MapPoint(device.lat, device.lon, "triangle",
                                       SEVERITY_COLOURS.get(dworst or "", _QUIET_OUTLET), None, file_url,
                                       _title(f"{enterprise.name} {device.outlet or ''} ({device_id})", None,
                                              dworst, b, lang)))
        if seen.unlimited:
            for station in sorted(reg.stations.values(), key=lambda s: s.id):
                sworst = by_device.get(station.id)
                points.append(MapPoint(station.lat, station.lon, "circle",
                                       SEVERITY_COLOURS.get(sworst or "", _QUIET_STATION), None,
                                       url_for(CONSOLE_PREFIX, lang, device_id=station.id),
                                       _title(f"{station.name or station.id} ({station.id})", None, sworst, b, lang)))
        svg = (map_svg(points, title=b["map_title"], north=b["map_north"], km_label=b["map_km"])
               if points else None)
        legend = {
            "levels": [(lv.id, lv.name.zh if lang == "zh" else lv.name.en, colours[lv.id]) for lv in scheme.levels],
            "severities": [(label(s, lang), SEVERITY_COLOURS[s]) for s in SEVERITY_ORDER],
            "quiet_outlet": _QUIET_OUTLET, "quiet_station": _QUIET_STATION,
        }
        return render(request, "map.html", b=catalog(lang, "BUREAU"), svg=svg, legend=legend,
                      unplaced=("、" if lang == "zh" else ", ").join(unplaced),
                      markers=len(points), nav=nav_links(principal, lang),
                      logout=with_lang(f"{CONSOLE_PREFIX}/logout", lang))

    return router


def _title(name: str, level: str | None, worst: str | None, b: dict[str, str], lang: Lang) -> str:
    """A marker's hover text: its name, level and worst open alert."""
    bits = [name]
    if level:
        bits.append(b["map_level"].format(level=level))
    bits.append(b["map_worst"].format(severity=label(worst, lang)) if worst else b["map_no_alert"])
    return ("；" if lang == "zh" else "; ").join(bits)
