"""Server-side SVG bar charts for the console's statistics (no JavaScript, no external assets).

Horizontal bars, one band per category (a rule, a month, a region, an enterprise), one bar
per series in each band, the value written at the end of each bar; a category without a value
for a series (a rate with nothing to divide by) shows a dash and no bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Series", "bar_chart", "percent", "plain"]

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_LABEL_W = 230
_BAR_H = 14
_GAP = 10


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[float | None]  # one per category


def plain(v: float) -> str:
    return f"{v:.0f}" if v == int(v) else f"{v:.1f}"


def percent(v: float) -> str:
    return f"{100 * v:.0f}%"


def _text_width(text: str, size: float = 12.0) -> float:
    """Rough rendered width: CJK characters a full em, others about 0.6 em."""
    return sum(size if ord(ch) >= 0x2E80 else 0.6 * size for ch in text)


def _fit(text: str, width: float) -> str:
    if _text_width(text) <= width:
        return text
    out = ""
    for ch in text:
        if _text_width(out + ch + "…") > width:
            break
        out += ch
    return out + "…"


def _nice_top(hi: float, *, integer: bool = False) -> tuple[float, float]:
    """A round axis end at or above ``hi`` and its tick step (a whole number with ``integer``)."""
    if hi <= 0:
        return (1.0, 1.0) if integer else (1.0, 0.25)
    raw = hi / 4
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if raw <= m * mag)
    if integer:
        step = max(1.0, math.ceil(step))
    return math.ceil(hi / step - 1e-9) * step, step


def bar_chart(categories: Sequence[str], series: Sequence[Series], *, title: str, empty_label: str,
              fmt: Callable[[float], str] = plain, top: float | None = None, integer: bool = False,
              width: int = 880) -> Markup:
    """A horizontal bar chart of ``series`` over ``categories``; ``top``: the axis end (e.g. 1
    for rates), default a round number above the largest value; ``integer``: counts, ticks on
    whole numbers."""
    values = [v for s in series for v in s.values if v is not None]
    end, step = (top, top / 4) if top is not None else _nice_top(max(values, default=0.0), integer=integer)
    left, right, head = _LABEL_W + 10, 56, 46
    band = len(series) * _BAR_H + _GAP
    plot_h = max(len(categories), 1) * band
    height = head + plot_h + 28
    pw = width - left - right

    def x(v: float) -> float:
        return left + pw * min(max(v / end, 0.0), 1.0)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bars" role="img" '
           f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
           f"<title>{escape(title)}</title>",
           f'<text x="4" y="16" class="chart-title">{escape(title)}</text>']
    lx = left
    for i, s in enumerate(series):
        color = COLORS[i % len(COLORS)]
        out.append(f'<rect x="{lx}" y="26" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="35" class="legend">{escape(s.label)}</text>')
        lx += int(24 + _text_width(s.label, 11))
    ticks = round(end / step)
    for k in range(ticks + 1):
        tv = k * step
        xx = x(tv)
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{head}" y2="{head + plot_h}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{xx:.1f}" y="{head + plot_h + 16}" text-anchor="middle" '
                   f'class="tick">{escape(fmt(tv))}</text>')
    if not categories or not values:
        out.append(f'<text x="{left + pw / 2}" y="{head + plot_h / 2 + 4}" text-anchor="middle" '
                   f'class="empty">{escape(empty_label)}</text>')
    for c, name in enumerate(categories):
        y0 = head + c * band + _GAP / 2
        out.append(f'<text x="{_LABEL_W}" y="{y0 + len(series) * _BAR_H / 2 + 4:.1f}" text-anchor="end" '
                   f'class="tick"><title>{escape(name)}</title>{escape(_fit(name, _LABEL_W - 4))}</text>')
        for i, s in enumerate(series):
            v = s.values[c] if c < len(s.values) else None
            yy = y0 + i * _BAR_H
            if v is None:
                out.append(f'<text x="{left + 4}" y="{yy + _BAR_H - 3:.1f}" class="tick">–</text>')
                continue
            w = max(x(v) - left, 0.0)
            color = COLORS[i % len(COLORS)]
            out.append(f'<rect x="{left}" y="{yy:.1f}" width="{w:.1f}" height="{_BAR_H - 2}" fill="{color}">'
                       f"<title>{escape(s.label)}: {escape(fmt(v))}</title></rect>")
            out.append(f'<text x="{left + w + 4:.1f}" y="{yy + _BAR_H - 3:.1f}" class="tick">{escape(fmt(v))}</text>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{head}" y2="{head + plot_h}" stroke="#999"/>')
    out.append("</svg>")
    return Markup("".join(out))
