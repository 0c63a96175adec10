"""Argument types for argparse that refuse non-finite and out-of-range numbers with a usage message, shared by
the CLI's commands and the window's start-up flags (no torch, no Qt). Every numeric option has a range: a
value past it would only cost memory or time (a 5,000-fold scale, 5,000 histogram bins) or train a NaN model."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            v = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must lie in {lo}–{hi}, got {v}")
        return v

    parse.__name__ = "integer"
    return parse


def float_in(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[str], float]:
    """A finite number in [lo, hi] (in (lo, hi] with lo_open)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if v < lo or v > hi or (lo_open and v == lo):
            where = f"({lo:g}, {hi:g}]" if lo_open else f"[{lo:g}, {hi:g}]"
            raise argparse.ArgumentTypeError(f"must lie in {where}, got {v:g}")
        return v

    parse.__name__ = "number"
    return parse


# Shared ranges (the CLI's commands and the window use the same ones).
SEED = int_in(0, 2**32 - 1)
SAMPLES = int_in(1, 10_000_000)  # --limit and friends: more than any IDX file may hold is pointless
BATCH = int_in(1, 65_536)
EPOCHS = int_in(1, 1000)
LEARNING_RATE = float_in(0.0, 1.0, lo_open=True)  # Adam's lr: 1e-3 is the recipe; past 1 it only diverges
