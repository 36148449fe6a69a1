"""Server-rendered bar charts (no JavaScript): numbers people compare, drawn."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    percent: float  # of the largest bar, for the bar's width


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    total: int


def bar_chart(title: str, counts: Mapping[str, int], order: Iterable[str]) -> BarChart:
    """Bars in `order` first (zeros included), then any other label seen."""
    labels = list(order)
    labels += sorted(k for k in counts if k not in labels)
    values = [counts.get(label, 0) for label in labels]
    peak = max(values, default=0)
    bars = [
        Bar(label, value, round(100 * value / peak, 1) if peak else 0.0)
        for label, value in zip(labels, values, strict=True)
    ]
    return BarChart(title=title, bars=bars, total=sum(values))
