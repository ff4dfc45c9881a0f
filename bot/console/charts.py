"""Accessible inline SVG charts drawn on the server: bars and lines, each with a title and a description."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

# Every caller-given string (titles, labels, series names) is escaped before it enters the markup.

# Colours with at least 4.5:1 contrast on white, told apart by more than hue (dashes for lines).
PALETTE = ("#1d4e89", "#a4161a", "#2b6a30", "#6a3d9a", "#7a4b00")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 56


def bar_chart(
    chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], *, description: str = ""
) -> Markup:
    """A vertical bar chart as an inline <svg role="img"> with <title> and <desc>."""
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(values))
    parts = _frame(chart_id, title, description, top)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * (value / top) if top else 0
        x = LEFT + i * step + step * 0.15
        y = TOP + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" fill="{PALETTE[0]}">'
            f"<title>{escape(str(label))} : {_num(value)}</title></rect>"
        )
        parts.append(_x_label(LEFT + i * step + step / 2, label, len(values)))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label and title inside went through escape()


def horizontal_bar_chart(
    chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], *, description: str = ""
) -> Markup:
    """Horizontal bars, for categories with long names (intents, ticket categories)."""
    label_w, row_h, top_pad = 190, 26, 8
    height = top_pad * 2 + row_h * max(1, len(values)) + 20
    top = _nice_max(max(values, default=0))
    plot_w = WIDTH - label_w - RIGHT - 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description or title)}</desc>',
        f'<line x1="{label_w}" y1="{top_pad}" x2="{label_w}" y2="{height - 20}" stroke="#767676"/>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top_pad + i * row_h
        w = plot_w * (value / top) if top else 0
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row_h * 0.65:.1f}" font-size="12" text-anchor="end" '
            f'fill="#1a1a1a">{escape(str(label))}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{PALETTE[0]}">'
            f"<title>{escape(str(label))} : {_num(value)}</title></rect>"
        )
        parts.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + row_h * 0.65:.1f}" font-size="12" '
            f'fill="#1a1a1a">{_num(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label and title inside went through escape()


def line_chart(
    chart_id: str, title: str, x_labels: Sequence[str], series: dict[str, Sequence[float]], *, description: str = ""
) -> Markup:
    """A line chart (one line per series, with a legend) as an inline <svg role="img">."""
    top = _nice_max(max((v for values in series.values() for v in values), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(x_labels)
    step = plot_w / max(1, n - 1) if n > 1 else 0

    def point(i: int, v: float) -> tuple[float, float]:
        x = LEFT + (i * step if n > 1 else plot_w / 2)
        return x, TOP + plot_h - (plot_h * v / top if top else 0)

    parts = _frame(chart_id, title, description, top)
    for k, (name, values) in enumerate(series.items()):
        colour, dash = PALETTE[k % len(PALETTE)], DASHES[k % len(DASHES)]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, v) for i, v in enumerate(values)))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr}/>')
        for i, v in enumerate(values):
            x, y = point(i, v)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"><title>{escape(name)}, '
                f"{escape(str(x_labels[i]))} : {_num(v)}</title></circle>"
            )
        lx = LEFT + k * 120
        parts.append(
            f'<line x1="{lx}" y1="{HEIGHT - 12}" x2="{lx + 24}" y2="{HEIGHT - 12}" stroke="{colour}" '
            f'stroke-width="2.5"{dash_attr}/><text x="{lx + 30}" y="{HEIGHT - 8}" font-size="12" '
            f'fill="#1a1a1a">{escape(name)}</text>'
        )
    every = max(1, n // 10)
    for i, label in enumerate(x_labels):
        if i % every == 0:
            parts.append(_x_label(point(i, 0)[0], label, n))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label and title inside went through escape()


def _frame(chart_id: str, title: str, description: str, top: float) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description or title)}</desc>',
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#767676" '
            f'stroke-width="{1 if fraction == 0 else 0.5}"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end" fill="#1a1a1a">'
            f"{_num(top * fraction)}</text>"
        )
    return parts


def _x_label(x: float, label: object, count: int) -> str:
    text, y = escape(str(label)), HEIGHT - BOTTOM + 16
    if count > 8:
        return (
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="end" fill="#1a1a1a" '
            f'transform="rotate(-35 {x:.1f} {y:.1f})">{text}</text>'
        )
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="12" text-anchor="middle" fill="#1a1a1a">{text}</text>'


def _nice_max(value: float) -> float:
    """A round upper bound for the axis (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return float(factor * magnitude)
    return float(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".replace(".", ",")
