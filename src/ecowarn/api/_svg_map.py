"""A map as inline SVG from coordinates alone: no tile server, no script, no external asset.

Equirectangular projection around the points' mean latitude (x = longitude x cos(mean
latitude), y = latitude), scaled so that one pixel is the same distance east-west and
north-south and the points' bounding box (plus a margin) fills the drawing. At the scale of
a city or a province the distortion is well under the precision of registered coordinates.
A scale bar (1, 2 or 5 x 10^n km, about a fifth of the width), a north arrow; markers are
links. Region boundaries are not drawn: no boundary data ships with the service.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

__all__ = ["KM_PER_DEG", "MapPoint", "Projection", "map_svg", "nice_km"]

KM_PER_DEG = 111.32  # one degree of latitude (and of longitude at the equator), km
Shape = Literal["square", "triangle", "circle"]


@dataclass(frozen=True, slots=True)
class MapPoint:
    """A marker: where, what shape, colours, the link it opens and its hover text."""

    lat: float
    lon: float
    shape: Shape
    fill: str
    ring: str | None
    url: str
    title: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class Projection:
    """Degrees to pixels for a drawing of ``width`` x ``height`` (margin ``pad`` px)."""

    lat0: float
    lon0: float
    lat1: float
    lon1: float
    px_per_km: float
    width: int
    height: int
    pad: int

    @classmethod
    def fit(cls, points: Sequence[tuple[float, float]], width: int, max_height: int, pad: int = 48,
            min_span_km: float = 2.0) -> Projection:
        """The projection that fits ``points`` (lat, lon) into ``width`` (and at most
        ``max_height``), keeping at least ``min_span_km`` in view."""
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        mid = (min(lats) + max(lats)) / 2
        cos = math.cos(math.radians(mid))
        half_lat = max((max(lats) - min(lats)) / 2, min_span_km / 2 / KM_PER_DEG)
        half_lon = max((max(lons) - min(lons)) / 2, min_span_km / 2 / KM_PER_DEG / cos)
        clat, clon = mid, (min(lons) + max(lons)) / 2
        span_x_km = 2 * half_lon * KM_PER_DEG * cos
        span_y_km = 2 * half_lat * KM_PER_DEG
        scale = min((width - 2 * pad) / span_x_km, (max_height - 2 * pad) / span_y_km)
        height = min(max_height, math.ceil(span_y_km * scale + 2 * pad))
        return cls(clat - half_lat, clon - half_lon, clat + half_lat, clon + half_lon, scale, width, height, pad)

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        cos = math.cos(math.radians((self.lat0 + self.lat1) / 2))
        cx, cy = self.width / 2, self.height / 2
        mid_lat, mid_lon = (self.lat0 + self.lat1) / 2, (self.lon0 + self.lon1) / 2
        x = cx + (lon - mid_lon) * KM_PER_DEG * cos * self.px_per_km
        y = cy - (lat - mid_lat) * KM_PER_DEG * self.px_per_km
        return x, y


def nice_km(target_km: float) -> float:
    """The largest 1, 2 or 5 x 10^n km not above ``target_km``."""
    if target_km <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(target_km))
    return max(m * base for m in (1.0, 2.0, 5.0) if m * base <= target_km)


def _fmt_km(km: float) -> str:
    return f"{km:g}"


def _marker(p: MapPoint, x: float, y: float) -> str:
    """The marker's shape (thin dark outline) and, when ``ring`` is set, a thick halo of that
    colour around it, apart from the fill so both colours read."""
    edge = 'stroke="#263238" stroke-width="1"'
    if p.shape == "square":
        halo = f'<rect x="{x - 11:.1f}" y="{y - 11:.1f}" width="22" height="22"'
        body = f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="{p.fill}" {edge}/>'
    elif p.shape == "triangle":
        halo = f'<path d="M{x:.1f},{y - 13:.1f} L{x + 11:.1f},{y + 8:.1f} L{x - 11:.1f},{y + 8:.1f} Z"'
        body = (f'<path d="M{x:.1f},{y - 7:.1f} L{x + 6:.1f},{y + 4:.1f} L{x - 6:.1f},{y + 4:.1f} Z" '
                f'fill="{p.fill}" {edge}/>')
    else:
        halo = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="10"'
        body = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{p.fill}" {edge}/>'
    ring = (f'{halo} fill="#ffffff" fill-opacity="0.6" stroke="{p.ring}" stroke-width="3" class="ring"/>'
            if p.ring else "")
    label = (f'<text x="{x + 14:.1f}" y="{y + 4:.1f}" class="map-label">{escape(p.label)}</text>'
             if p.label else "")
    return (f'<a href="{escape(p.url)}" class="marker marker-{p.shape}"><title>{escape(p.title)}</title>'
            f'{ring}{body}{label}</a>')


def map_svg(points: Sequence[MapPoint], *, title: str, north: str, km_label: str, width: int = 960,
            max_height: int = 640) -> Markup:
    """The SVG map of ``points`` (at least one). ``km_label`` has a ``{km}`` placeholder."""
    proj = Projection.fit([(p.lat, p.lon) for p in points], width, max_height)
    h = proj.height
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {width} {h}" '
             f'width="{width}" height="{h}" role="img" aria-label="{escape(title)}">',
             f'<rect x="0" y="0" width="{width}" height="{h}" fill="#f4f7f2" stroke="#c5cfc0"/>']
    # light quarter lines, so positions read at a glance (no coordinates are implied by them)
    for frac in (0.25, 0.5, 0.75):
        parts.append(f'<line x1="{width * frac:.0f}" y1="0" x2="{width * frac:.0f}" y2="{h}" class="grid"/>')
        parts.append(f'<line x1="0" y1="{h * frac:.0f}" x2="{width}" y2="{h * frac:.0f}" class="grid"/>')
    # markers: stations, then enterprises, then their outlets on top (an outlet a few hundred
    # metres from its works would otherwise hide under the works' square)
    order = {"circle": 0, "square": 1, "triangle": 2}
    for p in sorted(points, key=lambda p: order[p.shape]):
        x, y = proj.xy(p.lat, p.lon)
        parts.append(_marker(p, x, y))
    # scale bar, bottom left
    width_km = (width - 2 * proj.pad) / proj.px_per_km
    km = nice_km(width_km / 5)
    bar = km * proj.px_per_km
    x0, y0 = 16, h - 18
    parts.append(f'<g class="scale"><rect x="{x0 - 6}" y="{y0 - 22}" width="{bar + 12:.1f}" height="30" '
                 f'fill="#fff" fill-opacity="0.8"/>'
                 f'<path d="M{x0},{y0 - 5} L{x0},{y0} L{x0 + bar:.1f},{y0} L{x0 + bar:.1f},{y0 - 5}" '
                 f'fill="none" stroke="#222" stroke-width="2"/>'
                 f'<text x="{x0 + bar / 2:.1f}" y="{y0 - 8}" text-anchor="middle">'
                 f'{escape(km_label.format(km=_fmt_km(km)))}</text></g>')
    # north arrow, top right
    nx, ny = width - 30, 18
    parts.append(f'<g class="north"><path d="M{nx},{ny} L{nx + 9},{ny + 26} L{nx},{ny + 20} L{nx - 9},{ny + 26} Z" '
                 f'fill="#222"/><text x="{nx}" y="{ny + 42}" text-anchor="middle">{escape(north)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
