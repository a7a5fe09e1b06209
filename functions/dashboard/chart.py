"""The overview's throughput chart, drawn on the server as SVG bars: no script, no library."""

from __future__ import annotations

from dataclasses import dataclass

from common.stats import Minute

WIDTH, HEIGHT, AXIS = 720, 180, 28  # the plot's size in px, and the room left for labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "succeeded" or "failed": the CSS class that colours it
    title: str  # the tooltip: the minute and its count


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    peak: int  # the count the plot's top stands for
    first: str  # labels of the time axis, as HH:MM UTC
    last: str
    width: int = WIDTH
    height: int = HEIGHT
    axis: int = AXIS


def throughput_chart(minutes: list[Minute]) -> Chart:
    """Stacked bars per minute: succeeded below, failed above."""
    peak = max([m.succeeded + m.failed for m in minutes] + [1])
    step = WIDTH / max(len(minutes), 1)
    scale = (HEIGHT - 8) / peak
    bars = []
    for index, minute in enumerate(minutes):
        x, at = index * step + 1, minute.start.strftime("%H:%M")
        done = minute.succeeded * scale
        bars.append(
            Bar(
                x, HEIGHT - done, step - 2, done, "succeeded", f"{at}: {minute.succeeded} succeeded"
            )
        )
        failed = minute.failed * scale
        bars.append(
            Bar(
                x,
                HEIGHT - done - failed,
                step - 2,
                failed,
                "failed",
                f"{at}: {minute.failed} failed",
            )
        )
    first = minutes[0].start.strftime("%H:%M") if minutes else ""
    last = minutes[-1].start.strftime("%H:%M") if minutes else ""
    return Chart([bar for bar in bars if bar.height > 0], peak, first, last)
