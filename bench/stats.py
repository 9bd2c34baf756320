"""The pure part of the benchmark: medians over rounds, ratios, and rendering them as the
Markdown tables and SVG charts of docs/benchmarks.md. No I/O, so tests/unit/test_bench.py checks
it from inline data."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from html import escape

DEPLOYER = "deployer"


@dataclass
class Case:
    """One benchmark case: wall times per tool over rounds, and the load average at its start."""

    key: str
    title: str
    target: str = ""
    """What the issue asks of deployer here (shown in the table), e.g. '3x kubectl'."""
    seconds: dict[str, list[float]] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)
    cpu: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    """Per tool and round: CPU seconds of deployer's process, of the platform's processes (API
    servers, etcd, controllers, kwok) and of the whole machine while it ran (fan-out only)."""

    def add(self, tool: str, seconds: float) -> None:
        self.seconds.setdefault(tool, []).append(seconds)

    def median(self, tool: str) -> float | None:
        values = self.seconds.get(tool)
        return statistics.median(values) if values else None

    def ratio(self, peer: str) -> float | None:
        """How many times faster deployer is than ``peer`` (peer median / deployer median)."""
        return ratio(self.median(peer), self.median(DEPLOYER))


def ratio(peer: float | None, ours: float | None) -> float | None:
    if peer is None or ours is None or ours <= 0:
        return None
    return peer / ours


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _load(values: list[float]) -> str:
    return "-" if not values else f"{min(values):.1f}-{max(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def markdown_table(cases: list[Case], peers: tuple[str, ...]) -> str:
    """One row per case: deployer's median, each peer's median and deployer's speed-up over it."""
    head = ["case", "deployer"]
    for peer in peers:
        head += [peer, "ratio"]
    head += ["target", "runs", "load avg"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + "---|"]
    for case in cases:
        cells = [case.title, _seconds(case.median(DEPLOYER))]
        for peer in peers:
            cells += [_seconds(case.median(peer)), _times(case.ratio(peer))]
        rounds = max((len(v) for v in case.seconds.values()), default=0)
        cells += [case.target or "-", str(rounds), _load(case.load)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fanout_table(points: dict[int, Case], tools: tuple[str, ...]) -> str:
    """B3: rows per cluster count, a column per measured command, and each one's time over its
    time at the smallest count (the issue's target: 10 clusters within 1.5x of 1)."""
    counts = sorted(points)
    base = points[counts[0]] if counts else None
    head = ["clusters", *[f"{t} ({'vs ' + str(counts[0]) if counts else ''})" for t in tools], "load avg"]
    lines = ["| " + " | ".join(head) + " |", "|---:|" + "---:|" * len(tools) + "---|"]
    for count in counts:
        case = points[count]
        cells = [str(count)]
        for tool in tools:
            now = case.median(tool)
            first = base.median(tool) if base else None
            growth = ratio(now, first)
            cells.append(f"{_seconds(now)} ({_times(growth)})")
        cells.append(_load(case.load))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


FLOOR = "floor"
FLOOR_LIBRARIES = "floor + pydantic + click"


def floor_table(case: Case, peer: str = "kubectl") -> str:
    """What bounds B2: deployer beside the floor (bench/floor.py: the requests a no-change sync must
    make, with google-auth, nothing else) and the floor with deployer's libraries imported, each as
    a speed-up over ``peer``, and what the target's time would be."""
    head = "| run | median | " + peer + " / run |"
    lines = [head, "|---|---:|---:|"]
    for tool in (DEPLOYER, FLOOR_LIBRARIES, FLOOR, peer):
        speed_up = ratio(case.median(peer), case.median(tool))
        lines.append(f"| {tool} | {_seconds(case.median(tool))} | {_times(speed_up)} |")
    return "\n".join(lines)


PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b7791f")


def bar_chart(cases: list[Case], tools: tuple[str, ...], title: str) -> str:
    """Horizontal grouped bars of the medians, one group per case, one bar per tool; each group
    scaled to its own slowest tool (cases differ by orders of magnitude) with the seconds written
    on every bar."""
    bar, gap, label_w, plot_w = 14, 12, 260, 420
    groups = [c for c in cases if any(c.median(t) is not None for t in tools)]
    height = 50 + sum(gap + bar * sum(c.median(t) is not None for t in tools) for c in groups) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 90}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, tool in enumerate(tools):
        x = 10 + i * 150
        out.append(f'<rect x="{x}" y="30" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{x + 16}" y="41">{escape(tool)}</text>')
    y = 55
    for case in groups:
        present = [(i, t, case.median(t)) for i, t in enumerate(tools) if case.median(t) is not None]
        longest = max(v for _, _, v in present if v is not None) or 1.0
        y += gap
        out.append(f'<text x="10" y="{y + bar * len(present) / 2 + 4:.0f}">{escape(case.title[:40])}</text>')
        for i, _tool, value in present:
            assert value is not None
            width = max(1.0, plot_w * value / longest)
            out.append(f'<rect class="bar" x="{label_w}" y="{y}" width="{width:.1f}" height="{bar - 2}" '
                       f'fill="{PALETTE[i % len(PALETTE)]}"/>'
                       f'<text x="{label_w + width + 4:.1f}" y="{y + bar - 4}">{_seconds(value)}</text>')
            y += bar
    out.append("</svg>")
    return "\n".join(out) + "\n"


def line_chart(points: dict[int, Case], tools: tuple[str, ...], title: str) -> str:
    """B3: wall time against cluster count, a line per measured command."""
    width, height, left, bottom, top = 560, 300, 60, 40, 50
    counts = sorted(points)
    values = [v for c in counts for t in tools if (v := points[c].median(t)) is not None]
    if not counts or not values:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40">'
                '<text y="20">no data</text></svg>\n')
    top_value = max(values) * 1.1
    max_count = max(counts)
    def sx(count: int) -> float:
        return left + (width - left - 20) * (count / max_count)
    def sy(value: float) -> float:
        return height - bottom - (height - bottom - top) * (value / top_value)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#444"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#444"/>',
           f'<text x="{left - 50}" y="{top - 5}">seconds</text>',
           f'<text x="{width - 90}" y="{height - 8}">clusters</text>',
           f'<text x="{left - 30}" y="{top + 4}">{top_value:.1f}</text>']
    for count in counts:
        out.append(f'<text x="{sx(count) - 4:.0f}" y="{height - bottom + 15}">{count}</text>')
    for i, tool in enumerate(tools):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(sx(c), sy(v)) for c in counts if (v := points[c].median(tool)) is not None]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                   f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}"/>')
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in pts]
        out.append(f'<rect x="{left + 10 + i * 170}" y="30" width="12" height="12" fill="{colour}"/>'
                   f'<text x="{left + 26 + i * 170}" y="41">{escape(tool)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def fanout_cpu_table(points: dict[int, Case], tools: tuple[str, ...], cores: int) -> str:
    """Where the fan-out's wall time goes: median wall, deployer's CPU and the platform's CPU per
    measurement, the floor their sum sets on ``cores`` cores (CPU seconds / cores), and the CPU
    the machine's other processes (other engineers' work) took meanwhile."""
    lines = ["| clusters | case | wall | deployer CPU | platform CPU | CPU floor on "
             f"{cores} cores | floor / wall | other processes' CPU meanwhile |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for count, case in sorted(points.items()):
        for tool in tools:
            samples = case.cpu.get(tool)
            wall = case.median(tool)
            if not samples or wall is None:
                continue
            ours = statistics.median(s[0] for s in samples)
            theirs = statistics.median(s[1] for s in samples)
            others = statistics.median(max(0.0, s[2] - s[0] - s[1]) for s in samples)
            floor = (ours + theirs) / cores
            lines.append(f"| {count} | {tool} | {_seconds(wall)} | {ours:.1f} s | {theirs:.1f} s | "
                         f"{_seconds(floor)} | {floor / wall:.0%} | {others:.1f} s |")
    return "\n".join(lines)
