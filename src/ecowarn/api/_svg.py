"""Server-side SVG line charts for the console (no JavaScript, no external assets)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from ecowarn.api._time import CST

__all__ = ["Line", "line_chart"]

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_TICK_STEPS = tuple(timedelta(minutes=m) for m in
                    (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080))


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    points: Sequence[tuple[datetime, float | None]]  # ascending time


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / target
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if raw <= m * mag:
            return m * mag
    return 10.0 * mag


def _y_range(lines: Sequence[Line]) -> tuple[float, float]:
    values = [v for line in lines for _, v in line.points if v is not None]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    lo = min(lo, 0.0)  # non-negative series start at zero: levels read honestly
    if hi == lo:
        hi, lo = hi + 1.0, lo - (1.0 if lo != 0 else 0.0)
    step = _nice_step(hi - lo)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


def line_chart(
    lines: Sequence[Line], *, t0: datetime, t1: datetime, shade: tuple[datetime, datetime],
    title: str, shade_label: str, empty_label: str, limits: Sequence[tuple[str, float, str]] = (),
    width: int = 880, height: int = 280,
) -> Markup:
    """An SVG chart of ``lines`` over ``[t0, t1]`` with ``shade`` as a band and each of
    ``limits`` (label, value, unit) as a dashed line across, labelled at its right end."""
    left, right, top, bottom = 64, 16, 40, 36
    pw, ph = width - left - right, height - top - bottom
    span_s = max((t1 - t0).total_seconds(), 1.0)
    y0, y1 = _y_range([*lines, Line("", [(t0, v) for _, v, _ in limits])])

    def x(t: datetime) -> float:
        return left + pw * min(max((t - t0).total_seconds() / span_s, 0.0), 1.0)

    def y(v: float) -> float:
        return top + ph * (1 - (v - y0) / (y1 - y0))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
           f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet">',
           f"<title>{escape(title)}</title>",
           f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>']
    sx0, sx1 = x(shade[0]), x(shade[1])
    out.append(f'<rect x="{sx0:.1f}" y="{top}" width="{max(sx1 - sx0, 1.0):.1f}" height="{ph}" '
               f'fill="#ff9800" fill-opacity="0.18"><title>{escape(shade_label)}</title></rect>')
    step = _nice_step(y1 - y0)
    v = y0
    while v <= y1 + step / 2:
        yy = y(v)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" '
                   'stroke="#ddd" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" '
                   f'class="tick">{escape(_fmt(v))}</text>')
        v += step
    tick = next((s for s in _TICK_STEPS if span_s / s.total_seconds() <= 8), _TICK_STEPS[-1])
    local0 = t0.astimezone(CST)
    tick_s = int(tick.total_seconds())
    offset = (tick_s - (local0.hour * 3600 + local0.minute * 60 + local0.second) % tick_s) % tick_s
    t = (local0 + timedelta(seconds=offset)).replace(microsecond=0)
    fmt = "%m-%d %H:%M" if span_s > 86400 else "%H:%M"
    while t <= t1:
        xx = x(t)
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top + ph}" y2="{top + ph + 4}" '
                   'stroke="#666"/>')
        out.append(f'<text x="{xx:.1f}" y="{top + ph + 18}" text-anchor="middle" '
                   f'class="tick">{escape(t.strftime(fmt))}</text>')
        t += tick
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for name, value, unit in limits:
        text = escape(f"{name} {_fmt(value)} {unit}".rstrip())
        yy = y(value)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#b71c1c" '
                   f'stroke-width="1.2" stroke-dasharray="6 4" class="limit"><title>{text}</title></line>')
        out.append(f'<text x="{left + pw - 4}" y="{yy - 4:.1f}" text-anchor="end" class="limit-label" '
                   f'fill="#b71c1c">{text}</text>')
    if not any(v is not None for line in lines for _, v in line.points):
        out.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" '
                   f'class="empty">{escape(empty_label)}</text>')
    lx = left + 8
    for i, line in enumerate(lines):
        color = COLORS[i % len(COLORS)]
        out.append(f'<path d="{_path(line.points, x, y)}" fill="none" stroke="{color}" '
                   'stroke-width="1.5" stroke-linejoin="round"/>')
        out.append(f'<rect x="{lx}" y="{top - 14}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="{top - 5}" class="legend">{escape(line.label)}</text>')
        lx += 24 + _text_width(line.label)
    out.append("</svg>")
    return Markup("".join(out))


def _text_width(text: str) -> int:
    """About how wide ``text`` is drawn at the charts' 11 px: a Chinese character is a square."""
    return sum(11 if ord(ch) > 0x2e80 else 7 for ch in text)


def _path(points: Sequence[tuple[datetime, float | None]], x: Callable[[datetime], float],
          y: Callable[[float], float]) -> str:
    """Polyline through the points, broken at nulls and at gaps over 3 sampling steps."""
    deltas = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(points)]
    gap_s = 3 * min(deltas) if deltas else 0.0
    parts: list[str] = []
    prev: datetime | None = None
    for t, v in points:
        if v is None:
            prev = None
            continue
        cmd = "L" if prev is not None and (t - prev).total_seconds() <= gap_s else "M"
        parts.append(f"{cmd}{x(t):.1f},{y(v):.1f}")
        prev = t
    return " ".join(parts)
