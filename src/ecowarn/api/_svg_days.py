"""Server-side SVG bar chart of counts per day (no JavaScript, no external assets).

Drawn like the line charts of ``api/_svg.py``: a title, a legend, grid lines at whole
numbers and day ticks in China Standard Time. Used for a rectification's data check: how
often the alert's rule fired again, day by day, over the days checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from ecowarn.api._svg import COLORS

__all__ = ["DaySeries", "day_chart"]


@dataclass(frozen=True, slots=True)
class DaySeries:
    label: str
    counts: Mapping[date, int]


def _step(top: int) -> int:
    """Grid step at whole numbers: about four lines."""
    raw = max(top / 4, 1)
    mag = 10 ** math.floor(math.log10(raw))
    return next(int(m * mag) for m in (1, 2, 5, 10) if raw <= m * mag)


def day_chart(series: Sequence[DaySeries], *, first: date, last: date, title: str, empty_label: str,
              width: int = 880, height: int = 200) -> Markup:
    """Bars per day from ``first`` to ``last`` (inclusive), the series side by side."""
    left, right, top, bottom = 40, 16, 40, 30
    pw, ph = width - left - right, height - top - bottom
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    highest = max((s.counts.get(d, 0) for s in series for d in days), default=0)
    step = _step(highest)
    y_max = max(step, math.ceil(highest / step) * step)
    slot = pw / len(days)
    bar = max(slot * 0.8 / max(len(series), 1), 1.0)

    def y(v: float) -> float:
        return top + ph * (1 - v / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart day-chart" role="img" '
           f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet">',
           f"<title>{escape(title)}</title>",
           f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>']
    for v in range(0, y_max + 1, step):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   'stroke="#ddd" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{v}</text>')
    every = max(1, math.ceil(len(days) / 10))
    for i, d in enumerate(days):
        x0 = left + i * slot
        for j, s in enumerate(series):
            n = s.counts.get(d, 0)
            if n:
                out.append(f'<rect x="{x0 + slot * 0.1 + j * bar:.1f}" y="{y(n):.1f}" width="{bar:.1f}" '
                           f'height="{ph - (y(n) - top):.1f}" fill="{COLORS[j % len(COLORS)]}">'
                           f"<title>{escape(d.isoformat())} {escape(s.label)}: {n}</title></rect>")
        if i % every == 0:
            out.append(f'<text x="{x0 + slot / 2:.1f}" y="{top + ph + 18}" text-anchor="middle" '
                       f'class="tick">{escape(d.strftime("%m-%d"))}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    if highest == 0:
        out.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" '
                   f'class="empty">{escape(empty_label)}</text>')
    lx = left + 8
    for j, s in enumerate(series):
        color = COLORS[j % len(COLORS)]
        out.append(f'<rect x="{lx}" y="{top - 14}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="{top - 5}" class="legend">{escape(s.label)}</text>')
        lx += 40 + 12 * len(s.label)
    out.append("</svg>")
    return Markup("".join(out))
