"""Streaming statistics of one layer's activations: running totals (float64), fixed-bin histograms computed in
place chunk by chunk, and the unit-by-unit shift between a clean and an adversarial pass. Used by the forward-hook
monitor in core/activations.py; nothing here holds the activations themselves."""

from __future__ import annotations

import math

import numpy as np
import torch

from advstudio.core.types import LayerShift, LayerStats

NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
CHUNK = 1 << 20  # values per histogram step: 4 MB of float32, which stays in cache
HISTC_CHUNK = 1 << 24  # histc counts in floats: keep each call's counts exact (≤ 2**24)
NUMPY_FLOAT = {torch.float32: np.float32, torch.float64: np.float64}


def nice_ceil(x: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is ≥ x (1.0 for x ≤ 0 or not finite)."""
    if not (x > 0.0 and math.isfinite(x)):
        return 1.0
    k = math.floor(math.log10(x))
    for m in NICE:
        # m / 10**-k rather than m * 10**k, so that 0.3 comes out as 0.3, not 0.30000000000000004
        v = m * 10.0**k if k >= 0 else m / 10.0**-k
        if v >= x * (1 - 1e-12):
            return v
    return 10.0 ** (k + 1)


class HistogramScratch:
    """Reusable chunk-sized buffers for the histogram, so no batch allocates (and page-faults) its own."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def get(self, like: torch.Tensor, index_dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        key = (like.device, like.dtype, index_dtype)
        if key not in self._buffers:
            self._buffers.clear()
            n = CHUNK
            self._buffers[key] = (torch.empty(n, dtype=like.dtype, device=like.device),
                                  torch.empty(n, dtype=index_dtype, device=like.device))
        return self._buffers[key]


def histogram(
    flat: torch.Tensor, bins: int, top: float, scratch: HistogramScratch, method: str | None = None, mx: float | None = None
) -> np.ndarray:
    """Counts of a flat non-negative tensor: [zeros, bin 1 … bin `bins`, above top], bin k holding the values
    between (k−1)·w and k·w for w = top / bins (a value exactly on an inner edge may go either way).

    Two ways, picked by `method` or else by torch's thread count: "bincount" (one thread): ceil(x / w) is the
    index, 0 exactly for x = 0, so one bincount over small integers counts zeros, bins and overflow at once,
    chunk by chunk in cache with reused buffers; "histc" (several threads): torch.histc is parallel where
    bincount is not, and its lower bound at the smallest positive float leaves the zeros out."""
    if method is None:
        method = "bincount" if torch.get_num_threads() == 1 or flat.numel() <= CHUNK else "histc"
    total = torch.zeros(bins + 2, dtype=torch.int64, device=flat.device)
    if method == "histc":
        smallest = float(np.nextafter(np.zeros(1, dtype=NUMPY_FLOAT[flat.dtype]), 1)[0])
        for chunk in flat.split(HISTC_CHUNK):
            total[1:-1] += torch.histc(chunk, bins, min=smallest, max=top).to(torch.int64)
        if (float(flat.amax()) if mx is None else mx) > top:
            total[-1] = torch.count_nonzero(flat > top)
        total[0] = flat.numel() - total[1:].sum()
        return total.cpu().numpy()
    index_dtype = torch.uint8 if bins + 1 <= 255 else torch.int32
    values, index = scratch.get(flat, index_dtype)
    scale = bins / top
    for chunk in flat.split(CHUNK):
        n = chunk.numel()
        v, i = values[:n], index[:n]
        torch.mul(chunk, scale, out=v)
        v.ceil_().clamp_(0, bins + 1)
        i.copy_(v)
        total += torch.bincount(i, minlength=bins + 2)
    return total.cpu().numpy()


class LayerAccumulator:
    """Running totals of one layer for one tag."""

    __slots__ = ("name", "shape", "samples", "total", "total_sq", "max", "min", "hist", "overflow", "active", "map")

    def __init__(self, name: str, shape: tuple[int, ...], bins: int) -> None:
        self.name = name
        self.shape = shape
        self.samples = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.max = -math.inf
        self.min = math.inf
        self.hist = np.zeros(bins, dtype=np.int64)
        self.overflow = 0
        self.active = 0
        self.map: np.ndarray | None = None

    @property
    def count(self) -> int:
        return self.samples * (int(np.prod(self.shape)) if self.shape else 1)

    def snapshot(self, edges: np.ndarray) -> LayerStats:
        n = self.count
        mean = self.total / n if n else math.nan
        var = max(self.total_sq / n - mean * mean, 0.0) if n else math.nan
        return LayerStats(
            name=self.name,
            shape=self.shape,
            samples=self.samples,
            mean=mean,
            std=math.sqrt(var) if n else math.nan,
            min=self.min if n else math.nan,
            max=self.max if n else math.nan,
            active_fraction=self.active / n if n else math.nan,
            hist_counts=self.hist,
            hist_edges=edges,
            overflow=self.overflow,
            active_count=self.active,
        )


class ShiftAccumulator:
    """Running totals of one layer's clean-to-adversarial change: |Δa|, units switched on or off."""

    __slots__ = ("abs_change", "clean_abs", "flips", "on_to_off", "count")

    def __init__(self) -> None:
        self.abs_change = 0.0
        self.clean_abs = 0.0
        self.flips = 0
        self.on_to_off = 0
        self.count = 0

    def snapshot(self, name: str) -> LayerShift:
        n = self.count
        if not n:
            return LayerShift(name, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
        change, clean = self.abs_change / n, self.clean_abs / n
        return LayerShift(
            name=name,
            mean_abs_change=change,
            clean_mean_abs=clean,
            relative_shift=change / clean if clean > 0 else math.nan,
            flip_fraction=self.flips / n,
            on_to_off_fraction=self.on_to_off / n,
            off_to_on_fraction=(self.flips - self.on_to_off) / n,
        )
