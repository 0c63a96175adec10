"""Digit shapes as strokes in the canvas's 280×280 ink coordinates (for --demo, tests and benchmarks)."""

from __future__ import annotations

import numpy as np


def _arc(cx: float, cy: float, rx: float, ry: float, start_deg: float, end_deg: float, n: int = 24):
    t = np.radians(np.linspace(start_deg, end_deg, n))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


def digit_strokes(digit: int) -> list[list[tuple[float, float]]]:
    """A hand-drawn-looking stroke list for a few digits (y grows downward)."""
    if digit == 1:
        return [[(140.0, 50.0 + 9 * i) for i in range(21)]]
    if digit == 3:
        return [_arc(138, 92, 52, 44, -165, 95) + _arc(138, 188, 58, 50, -95, 160)]
    if digit == 7:
        return [[(80.0, 60.0), (200.0, 60.0)] + [(200 - 4.2 * i, 60 + 8.5 * i) for i in range(1, 21)]]
    if digit == 0:
        return [_arc(140, 140, 60, 90, 0, 360, 48)]
    raise ValueError(f"no demo strokes for {digit}")
