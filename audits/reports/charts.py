"""Charts as inline SVG, drawn on the server from a report's figures.

No script and no style attribute (the portal's CSP allows neither inline); colours and sizes are SVG
presentation attributes. Each chart has a <title> and a <desc> and sits beside a table with the same figures,
so it reads without sight. Bars and points link to the records behind them (relative links: the report page
is ``…/reports/<id>/`` and its drill-downs ``…/reports/<id>/drill/<ref>/``).
"""

from __future__ import annotations

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

SERIES_COLOURS = ("#1f5fbf", "#b42318", "#1b7a3e", "#9a5b00")
AXIS = "#5b6470"
GRID = "#d9dde3"
FONT = 'font-family="system-ui, sans-serif"'


def _svg(template: str, *args) -> SafeString:
    """format_html with coordinates rounded to one decimal (it escapes its arguments into strings first)."""
    return format_html(template, *(f"{a:.1f}".rstrip("0").rstrip(".") if isinstance(a, float) else a for a in args))


def drill_href(ref: str | None) -> str:
    from urllib.parse import quote

    return f"drill/{quote(ref, safe='')}/" if ref else ""


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if value <= step * 4:
            return step * 4
    return value


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%"
    return f"{value:g}" if isinstance(value, float) else str(value)


def bar_chart(*, chart_id: str, title: str, desc: str, bars: list[dict], unit: str = "") -> SafeString:
    """Horizontal bars: each {"label", "value", "ref"}; values 0-1 with unit "%" are shown as percentages."""
    label_w, bar_w, row_h, top = 200, 250, 30, 8
    height = top + row_h * max(len(bars), 1) + 24
    width = label_w + bar_w + 70
    values = [(b["value"] or 0) * (100 if unit == "%" else 1) for b in bars]
    top_value = 100 if unit == "%" else _nice_max(max(values, default=0))
    parts = [
        _svg(
            '<svg class="chart" id="{}" role="img" aria-labelledby="{}-t {}-d" viewBox="0 0 {} {}" '
            'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
            '<title id="{}-t">{}</title><desc id="{}-d">{}</desc>',
            chart_id,
            chart_id,
            chart_id,
            width,
            height,
            chart_id,
            title,
            chart_id,
            desc,
        )
    ]
    for tick in range(5):
        x = label_w + bar_w * tick / 4
        parts.append(
            _svg(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>'
                '<text x="{}" y="{}" font-size="11" fill="{}" text-anchor="middle" ' + FONT + ">{}</text>",
                x,
                top,
                x,
                height - 20,
                GRID,
                x,
                height - 6,
                AXIS,
                _fmt(top_value * tick / 4, unit),
            )
        )
    if not bars:
        parts.append(
            _svg(
                '<text x="{}" y="{}" font-size="13" fill="{}" ' + FONT + ">No data</text>",
                label_w + 8,
                top + 20,
                AXIS,
            )
        )
    for i, (bar, value) in enumerate(zip(bars, values, strict=True)):
        y = top + i * row_h
        length = 0 if top_value == 0 else bar_w * min(value, top_value) / top_value
        colour = SERIES_COLOURS[1] if bar.get("alert") else SERIES_COLOURS[0]
        shown = "—" if bar["value"] is None else _fmt(value, unit)
        rect = _svg(
            '<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="{}"><title>{}: {}</title></rect>'
            '<text x="{}" y="{}" font-size="13" font-weight="700" fill="#17191c" ' + FONT + ">{}</text>",
            label_w,
            y + 5,
            max(length, 1.5),
            row_h - 10,
            colour,
            bar["label"],
            shown,
            label_w + length + 6,
            y + row_h / 2 + 5,
            shown,
        )
        href = drill_href(bar.get("ref"))
        if href:
            rect = _svg('<a href="{}" aria-label="{}: {} (open the records)">{}</a>', href, bar["label"], shown, rect)
        parts.append(
            _svg(
                '<text x="{}" y="{}" font-size="13" fill="#17191c" text-anchor="end" ' + FONT + ">{}</text>{}",
                label_w - 8,
                y + row_h / 2 + 5,
                _truncate(bar["label"], 25),
                rect,
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every part is format_html-escaped)


def line_chart(*, chart_id: str, title: str, desc: str, labels: list[str], series: list[dict]) -> SafeString:
    """Lines over time: series are {"name", "values", "refs"}; each point links to its records."""
    left, right, top, bottom, width, height = 40, 28, 12, 52, 540, 250
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((v for s in series for v in s["values"]), default=0))
    n = max(len(labels), 1)

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    parts = [
        _svg(
            '<svg class="chart" id="{}" role="img" aria-labelledby="{}-t {}-d" viewBox="0 0 {} {}" width="100%" '
            'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
            '<title id="{}-t">{}</title><desc id="{}-d">{}</desc>',
            chart_id,
            chart_id,
            chart_id,
            width,
            height,
            chart_id,
            title,
            chart_id,
            desc,
        )
    ]
    for tick in range(5):
        value = top_value * tick / 4
        y = y_of(value)
        parts.append(
            _svg(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>'
                '<text x="{}" y="{}" font-size="11" fill="{}" text-anchor="end" ' + FONT + ">{}</text>",
                left,
                y,
                width - right,
                y,
                GRID,
                left - 6,
                y + 4,
                AXIS,
                _fmt(value, ""),
            )
        )
    for i, label in enumerate(labels):
        parts.append(
            _svg(
                '<text x="{}" y="{}" font-size="11" fill="{}" text-anchor="middle" ' + FONT + ">{}</text>",
                x_of(i),
                height - bottom + 16,
                AXIS,
                label,
            )
        )
    for index, line in enumerate(series):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(line["values"]))
        parts.append(_svg('<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5"/>', points, colour))
        for i, value in enumerate(line["values"]):
            dot = _svg(
                '<circle cx="{}" cy="{}" r="5" fill="{}"><title>{} {}: {}</title></circle>',
                x_of(i),
                y_of(value),
                colour,
                line["name"],
                labels[i],
                value,
            )
            href = drill_href(line.get("refs", [None] * n)[i])
            if href:
                dot = _svg('<a href="{}" aria-label="{} {}: {}">{}</a>', href, line["name"], labels[i], value, dot)
            parts.append(dot)
        legend_x = left + index * 200
        parts.append(
            _svg(
                '<rect x="{}" y="{}" width="14" height="4" fill="{}"/>'
                '<text x="{}" y="{}" font-size="12" fill="#17191c" ' + FONT + ">{}</text>",
                legend_x,
                height - 14,
                colour,
                legend_x + 20,
                height - 9,
                line["name"],
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every part is format_html-escaped)


def _truncate(text: str, length: int) -> str:
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "…"


__all__ = ["bar_chart", "drill_href", "escape", "line_chart"]
