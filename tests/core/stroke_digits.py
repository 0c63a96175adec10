"""Digit-like test images made of blurred pen strokes (numpy-made: the project holds no dataset bytes), shared by
the explanation tests."""

from __future__ import annotations

import numpy as np
import torch


def strokes(n: int, seed: int = 0) -> torch.Tensor:
    """n digit-like N×1×28×28 images: two or three blurred pen strokes each (numpy-made, no dataset bytes)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    out = np.zeros((n, 1, 28, 28), np.float32)
    for k in range(n):
        for _ in range(int(rng.integers(2, 4))):
            p0, p1 = rng.uniform(6, 22, 2), rng.uniform(6, 22, 2)
            for t in np.linspace(0.0, 1.0, 24):
                c = p0 + t * (p1 - p0)
                out[k, 0] = np.maximum(out[k, 0], np.exp(-((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / 2.0))
    return torch.from_numpy(out)
