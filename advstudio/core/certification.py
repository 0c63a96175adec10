"""The certification maths of randomized smoothing (Cohen et al., 2019), torch-free so that the CLI, the report and
the window's views can use it alike: the Clopper–Pearson bound, the certified L2 radius σ·Φ⁻¹(p), the largest
radius n samples can certify, and the L2 size of an L∞ ball. The sampling itself is core.defenses.certify."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def binomial_lower_bound(k: int, n: int, alpha: float) -> float:
    """One-sided Clopper–Pearson lower bound: the p with P(Bin(n, p) ≥ k) = α (0 when k = 0)."""
    if k <= 0:
        return 0.0
    if k >= n:
        return alpha ** (1.0 / n)
    j = np.arange(k, n + 1)
    log_binom = np.array([math.lgamma(n + 1) - math.lgamma(v + 1) - math.lgamma(n - v + 1) for v in j])

    def tail(p: float) -> float:
        logs = log_binom + j * math.log(p) + (n - j) * math.log1p(-p)
        m = logs.max()
        return float(math.exp(m) * np.exp(logs - m).sum())

    lo, hi = 0.0, k / n
    for _ in range(80):
        mid = (lo + hi) / 2
        if mid <= 0.0:
            break
        if tail(mid) < alpha:
            lo = mid
        else:
            hi = mid
    return lo


def certified_radius(sigma: float, p_lower: float) -> float:
    """σ·Φ⁻¹(p_lower): the L2 radius certified when the top class's probability is at least p_lower (> ½)."""
    return float(sigma * NormalDist().inv_cdf(p_lower))


def max_certifiable_radius(sigma: float, n: int, alpha: float) -> float:
    """σ·Φ⁻¹(α^(1/n)): the radius when all n samples agree; no larger radius can be certified with this n, α."""
    return certified_radius(sigma, alpha ** (1.0 / n))


def linf_as_l2(eps: float, shape: tuple[int, ...] = (28, 28)) -> float:
    """The largest L2 norm inside an L∞ ball of radius ε over an image of this shape: ε·√(pixels)."""
    return float(eps * math.sqrt(int(np.prod(shape))))
