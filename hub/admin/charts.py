"""Bar charts drawn on the server as inline SVG: no charting library, no script, nothing
fetched — the overview renders the same in a data centre without internet and in a test.
Statuses fold into four colours an admin reads at a glance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from markupsafe import Markup, escape

__all__ = ["GROUPS", "bars", "group_of"]

# group: (statuses, colour)
GROUPS: dict[str, tuple[tuple[str, ...], str]] = {
    "delivered": (("delivered",), "#2e7d32"),
    "in_flight": (("routed", "queued", "delivering", "retrying"), "#1565c0"),
    "failed": (("failed", "dead"), "#c62828"),
    "other": (("discarded", "unroutable"), "#9e9e9e"),
}


def group_of(status: str) -> str:
    for name, (statuses, _) in GROUPS.items():
        if status in statuses:
            return name
    return "other"


def bars(
    series: Sequence[tuple[datetime, dict[str, int]]],
    label: Callable[[datetime], str],
    title: str,
    *,
    scale: float = 1.0,
    width: int = 720,
    height: int = 160,
) -> Markup:
    """Stacked bars, one per bucket, each stacked by status group; ``scale`` turns counts into
    the unit shown (1/60 shows an hour's count as messages per minute). Every bar has a
    ``<title>`` with its numbers, shown on hover."""
    top = max((sum(c.values()) for _, c in series), default=0) * scale or 1.0
    left, bottom = 40, 18
    plot_w, plot_h = width - left - 4, height - bottom - 6
    slot = plot_w / max(len(series), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="2" y="12" font-size="10" fill="#555">{_number(top)}</text>',
        f'<line x1="{left}" y1="{6 + plot_h}" x2="{width}" y2="{6 + plot_h}" stroke="#bbb"/>',
    ]
    for i, (when, counts) in enumerate(series):
        grouped = {g: 0 for g in GROUPS}
        for status, n in counts.items():
            grouped[group_of(status)] += n
        x = left + i * slot
        y = 6 + plot_h
        tip = ", ".join(f"{g}: {n}" for g, n in grouped.items() if n) or "0"
        parts.append(f"<g><title>{escape(label(when))} — {escape(tip)}</title>")
        for name, n in grouped.items():
            if not n:
                continue
            h = n * scale / top * plot_h
            y -= h
            parts.append(
                f'<rect class="bar-{name}" x="{x + 1:.1f}" y="{y:.1f}" '
                f'width="{max(slot - 2, 1):.1f}" height="{h:.1f}" fill="{GROUPS[name][1]}"/>'
            )
        parts.append("</g>")
        if i % max(len(series) // 6, 1) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - 4}" font-size="10" fill="#555">'
                f"{escape(label(when))}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"
