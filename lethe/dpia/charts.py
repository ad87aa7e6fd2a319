"""Small inline SVG charts for reports: no script, no external asset, every label escaped.

The SVG is meant to sit inside an HTML page (no ``xmlns``: the HTML parser puts it in the SVG namespace),
with a ``<title>`` and ``aria-label`` so it reads as an image with a text alternative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
STATUS_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "error": "#ef6c00"}
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _nice_max(value: float) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 times a power of ten)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _open(width: int, height: int, title: str) -> list[str]:
    label = escape(title, quote=True)
    return [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{label}">',
        f"<title>{escape(title)}</title>",
    ]


def bar_chart(
    bars: Sequence[tuple[str, int, str]], *, title: str, width: int = 420, height: int = 220
) -> str:
    """Vertical bars of (label, value, colour), with the value above each bar."""
    parts = _open(width, height, title)
    left, bottom, top = 40, height - 30, 20
    top_value = _nice_max(max((v for _, v, _ in bars), default=0))
    slot = (width - left - 10) / max(len(bars), 1)
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#888"/>')
    for i, (label, value, colour) in enumerate(bars):
        bar_height = (bottom - top) * value / top_value
        x = left + i * slot + slot * 0.2
        y = bottom - bar_height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.6:.1f}" height="{bar_height:.1f}" fill="{colour}">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
        centre = x + slot * 0.3
        parts.append(f'<text x="{centre:.1f}" y="{y - 4:.1f}" text-anchor="middle" {_FONT}>{value}</text>')
        parts.append(
            f'<text x="{centre:.1f}" y="{bottom + 16}" text-anchor="middle" {_FONT}>{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    series: Mapping[str, Sequence[tuple[datetime, int]]],
    *,
    title: str,
    width: int = 680,
    height: int = 280,
    empty_text: str = "no data yet",
) -> str:
    """One line (with point markers) per series over time; a legend on the right."""
    parts = _open(width, height, title)
    points = [p for values in series.values() for p in values]
    if not points:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {_FONT}>{escape(empty_text)}</text>'
        )
        parts.append("</svg>")
        return "\n".join(parts)
    left, right, top, bottom = 56, width - 190, 16, height - 36
    first = min(t for t, _ in points).timestamp()
    last = max(t for t, _ in points).timestamp()
    span = (last - first) or 1.0
    top_value = _nice_max(max(v for _, v in points))

    def x_of(moment: datetime) -> float:
        return left + (right - left) * ((moment.timestamp() - first) / span if last > first else 0.5)

    def y_of(value: int) -> float:
        return bottom - (bottom - top) * value / top_value

    for i in range(5):
        value = top_value * i / 4
        y = bottom - (bottom - top) * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{value:g}</text>')
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#888"/>')
    stamps = sorted({min(t for t, _ in points), max(t for t, _ in points)})
    for moment in stamps:
        label = escape(moment.strftime("%Y-%m-%d %H:%M"))
        parts.append(
            f'<text x="{x_of(moment):.1f}" y="{bottom + 18}" text-anchor="middle" {_FONT}>{label}</text>'
        )
    for i, (name, values) in enumerate(sorted(series.items())):
        colour = PALETTE[i % len(PALETTE)]
        ordered = sorted(values)
        coords = " ".join(f"{x_of(t):.1f},{y_of(v):.1f}" for t, v in ordered)
        if len(ordered) > 1:
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for moment, value in ordered:
            tip = f"{escape(name)}: {value} at {escape(moment.isoformat(timespec='seconds'))}"
            parts.append(
                f'<circle cx="{x_of(moment):.1f}" cy="{y_of(value):.1f}" r="3" fill="{colour}"><title>{tip}</title></circle>'
            )
        legend_y = top + 16 * i + 8
        parts.append(f'<rect x="{right + 14}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{right + 30}" y="{legend_y + 1}" {_FONT}>{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
