"""Server-side SVG charts people read at a glance: every bar and point carries its own label (the
value and what it counts: "2 ok", "1 failed", "5.2 h"), the title names the unit, so nobody hunts
for a legend. Written with ElementTree (which escapes every text) rather than a charting library:
two chart shapes do not justify one. Pure: data in, SVG text out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from deployer.observe.dora import Figures

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 40, 70
OK, FAILED, LINE, INK, GRID = "#2e7d32", "#c62828", "#1565c0", "#222222", "#dddddd"


@dataclass(frozen=True)
class Segment:
    name: str
    """What it counts, as its label says it: "ok", "failed"."""
    value: float
    colour: str


@dataclass(frozen=True)
class Bar:
    label: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Point:
    label: str
    value: float


def _add(parent: ET.Element, tag: str, text: str | None = None, /, **attrs: str) -> ET.Element:
    """A child element; ``font_size`` is written font-size, ``class_`` class (SVG's hyphenated names)."""
    element = ET.SubElement(parent, tag, {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()})
    element.text = text
    return element


def _svg(title: str) -> ET.Element:
    svg = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": str(WIDTH), "height": str(HEIGHT),
                             "viewBox": f"0 0 {WIDTH} {HEIGHT}", "role": "img", "font-family": "sans-serif"})
    _add(svg, "title", title)
    _add(svg, "text", title, x=str(WIDTH // 2), y="22", text_anchor="middle", font_size="15", font_weight="bold",
         fill=INK, class_="chart-title")
    return svg


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _axis(svg: ET.Element, top_value: float) -> None:
    base = HEIGHT - BOTTOM
    _add(svg, "line", x1=str(LEFT), y1=str(base), x2=str(WIDTH - RIGHT), y2=str(base), stroke=INK)
    for fraction in (0.5, 1.0):
        y = base - fraction * (base - TOP - 20)
        _add(svg, "line", x1=str(LEFT), y1=f"{y:.1f}", x2=str(WIDTH - RIGHT), y2=f"{y:.1f}", stroke=GRID)
        _add(svg, "text", _number(top_value * fraction), x=str(LEFT - 6), y=f"{y + 4:.1f}", text_anchor="end",
             font_size="11", fill=INK)


def _x_label(svg: ET.Element, x: float, text: str) -> None:
    y = HEIGHT - BOTTOM + 14
    _add(svg, "text", text, x=f"{x:.1f}", y=str(y), transform=f"rotate(-45 {x:.1f} {y})", text_anchor="end",
         font_size="10", fill=INK, class_="x-label")


def bar_chart(title: str, bars: Sequence[Bar]) -> str:
    """Stacked bars; each non-zero segment is labelled above its bar with its value and name."""
    svg = _svg(title)
    top_value = max([sum(s.value for s in bar.segments) for bar in bars] + [1.0])
    _axis(svg, top_value)
    base, height = HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP - 20
    slot = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    for i, bar in enumerate(bars):
        x, y = LEFT + i * slot + slot * 0.15, float(base)
        for segment in bar.segments:
            if segment.value <= 0:
                continue
            h = segment.value / top_value * height
            y -= h
            _add(svg, "rect", x=f"{x:.1f}", y=f"{y:.1f}", width=f"{slot * 0.7:.1f}", height=f"{h:.1f}",
                 fill=segment.colour)
        words = [(f"{_number(s.value)} {s.name}", s.colour) for s in bar.segments if s.value > 0]
        centre = x + slot * 0.35
        for n, (text, colour) in enumerate(words):
            # Narrow bars get their labels upright, stacked from the bar's top; wide ones one above another.
            if slot < 60:
                at = y - 4 - n * 46
                _add(svg, "text", text, x=f"{centre + 4:.1f}", y=f"{at:.1f}",
                     transform=f"rotate(-90 {centre + 4:.1f} {at:.1f})", font_size="10", fill=colour,
                     class_="bar-label")
            else:
                _add(svg, "text", text, x=f"{centre:.1f}", y=f"{y - 4 - n * 13:.1f}", text_anchor="middle",
                     font_size="11", fill=colour, class_="bar-label")
        _x_label(svg, centre, bar.label)
    return ET.tostring(svg, encoding="unicode")


def line_chart(title: str, points: Sequence[Point], unit: str, median: float | None = None) -> str:
    """A line through the points, each labelled with its value and ``unit``; ``median`` as a dashed,
    labelled line."""
    svg = _svg(title)
    top_value = max([p.value for p in points] + [median or 0.0, 1.0]) * 1.1
    _axis(svg, top_value)
    base, height = HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP - 20
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)

    def y_of(value: float) -> float:
        return base - value / top_value * height

    if median is not None:
        y = y_of(median)
        _add(svg, "line", x1=str(LEFT), y1=f"{y:.1f}", x2=str(WIDTH - RIGHT), y2=f"{y:.1f}", stroke=INK,
             stroke_dasharray="4 3")
        _add(svg, "text", f"median {_number(median)} {unit}", x=str(WIDTH - RIGHT), y=f"{y - 4:.1f}",
             text_anchor="end", font_size="11", fill=INK, class_="median-label")
    xy = [(LEFT + (i + 0.5) * slot, y_of(p.value)) for i, p in enumerate(points)]
    if len(xy) > 1:
        _add(svg, "polyline", points=" ".join(f"{x:.1f},{y:.1f}" for x, y in xy), fill="none", stroke=LINE,
             stroke_width="2")
    for (x, y), point in zip(xy, points, strict=True):
        _add(svg, "circle", cx=f"{x:.1f}", cy=f"{y:.1f}", r="3.5", fill=LINE)
        _add(svg, "text", f"{_number(point.value)} {unit}", x=f"{x:.1f}", y=f"{y - 8:.1f}", text_anchor="middle",
             font_size="11", fill=LINE, class_="point-label")
        _x_label(svg, x, point.label)
    if not points:
        _add(svg, "text", "nothing to show in this period", x=str(WIDTH // 2), y=str(HEIGHT // 2),
             text_anchor="middle", font_size="13", fill=INK)
    return ET.tostring(svg, encoding="unicode")


def deploys_per_day(figures: Figures) -> str:
    return bar_chart(f"Deploys per day to {figures.environment} (count of deploys, UTC days)",
                     [Bar(d.date.strftime("%b %d"),
                          (Segment("ok", d.succeeded, OK), Segment("failed", d.failed, FAILED)))
                      for d in figures.days])


def lead_time(figures: Figures) -> str:
    return line_chart(f"Lead time, commit to {figures.environment} (hours, per deploy)",
                      [Point(t.strftime("%b %d %H:%M"), s / 3600) for t, s in figures.lead_times], "h",
                      figures.lead_time_median / 3600 if figures.lead_time_median is not None else None)


def time_to_restore(figures: Figures) -> str:
    return line_chart(f"Time to restore {figures.environment} (minutes, per failed deploy)",
                      [Point(t.strftime("%b %d %H:%M"), s / 60) for t, s in figures.restores], "min",
                      figures.time_to_restore_median / 60 if figures.time_to_restore_median is not None else None)


def change_failure_rate(figures: Figures) -> str:
    """The rate as one bar split into failed and ok deploys, labelled with counts and the percentage."""
    rate = figures.change_failure_rate
    percent = f"{rate * 100:.0f}%" if rate is not None else "no deploys"
    return bar_chart(f"Change failure rate of {figures.environment}: {percent} (deploys that failed)",
                     [Bar(f"{figures.since:%b %d} to {figures.until:%b %d}",
                          (Segment("ok", figures.deploys - figures.failures, OK),
                           Segment("failed", figures.failures, FAILED)))])
