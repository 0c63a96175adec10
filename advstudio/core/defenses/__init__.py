"""Defenses: input transforms as model wrappers (with BPDA/EOT for adaptive attackers), logit-averaging
ensembles, and randomized smoothing (Cohen et al., 2019) certification.

A defense is only credited with what it holds against an attacker who knows it: `DefendedModel(adaptive=True)`
gives the attacker BPDA (identity gradient through non-differentiable transforms) and EOT (logits averaged over
random draws), so any gradient attack in core.attacks becomes the adaptive attack on that defense."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.certification import binomial_lower_bound, certified_radius


class InputTransform(nn.Module):
    """A preprocessing defense applied to [0, 1] images before the model."""

    name = "transform"
    differentiable = True  # False: its true gradient is zero or undefined (BPDA needed)
    randomized = False  # True: each call draws new randomness (EOT needed)

    def params(self) -> dict:
        return {}

    def describe(self) -> str:
        p = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.name}({p})"


class BitDepthReduction(InputTransform):
    """Quantize to 2^bits grey levels (Xu et al., feature squeezing)."""

    name = "bit_depth"
    differentiable = False

    def __init__(self, bits: int = 2) -> None:
        super().__init__()
        if not 1 <= bits <= 8:
            raise ValueError("bits must be 1–8")
        self.bits = bits

    def params(self) -> dict:
        return {"bits": self.bits}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = 2**self.bits - 1
        return torch.round(x * levels) / levels


class MedianFilter(InputTransform):
    """k×k median filter (reflect padding); differentiable almost everywhere (it selects one pixel)."""

    name = "median"

    def __init__(self, size: int = 3) -> None:
        super().__init__()
        if size < 1 or size % 2 == 0:
            raise ValueError("the median filter size must be odd and positive")
        self.size = size

    def params(self) -> dict:
        return {"size": self.size}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.size
        if k == 1:
            return x
        pad = k // 2
        padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        patches = padded.unfold(2, k, 1).unfold(3, k, 1)  # N×C×H×W×k×k
        return patches.reshape(*patches.shape[:4], k * k).median(dim=-1).values


class JpegCompression(InputTransform):
    """JPEG encode/decode at a quality (Das et al., Guo et al.); no gradient path at all."""

    name = "jpeg"
    differentiable = False

    def __init__(self, quality: int = 50) -> None:
        super().__init__()
        if not 1 <= quality <= 95:
            raise ValueError("JPEG quality must be 1–95")
        self.quality = quality

    def params(self) -> dict:
        return {"quality": self.quality}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        arr = (x.detach().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        out = np.empty_like(arr)
        for i in range(arr.shape[0]):
            for c in range(arr.shape[1]):
                buf = io.BytesIO()
                Image.fromarray(arr[i, c], mode="L").save(buf, format="JPEG", quality=self.quality)
                buf.seek(0)
                with Image.open(buf) as im:
                    out[i, c] = np.asarray(im.convert("L"))
        return torch.from_numpy(out.astype(np.float32) / 255.0).to(x.device)


class GaussianNoise(InputTransform):
    """Add N(0, σ²) noise and clamp to [0, 1]; a fresh draw on every call."""

    name = "gaussian_noise"
    randomized = True

    def __init__(self, sigma: float = 0.3) -> None:
        super().__init__()
        if sigma < 0:
            raise ValueError("σ must be ≥ 0")
        self.sigma = float(sigma)

    def params(self) -> dict:
        return {"sigma": self.sigma}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.sigma * torch.randn_like(x)).clamp(0.0, 1.0)


TRANSFORMS = {
    "bit_depth": BitDepthReduction,
    "median": MedianFilter,
    "jpeg": JpegCompression,
    "gaussian_noise": GaussianNoise,
}


class _StraightThrough(torch.autograd.Function):
    """BPDA: the forward pass applies the transform, the backward pass treats it as the identity."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, transformed: torch.Tensor) -> torch.Tensor:  # noqa: D401
        return transformed

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class DefendedModel(nn.Module):
    """model ∘ transform. `adaptive=False` is what a naive attacker differentiates (the true gradient: zero
    through quantization, none through JPEG, one noise draw); `adaptive=True` adds BPDA for
    non-differentiable transforms and EOT over `eot_samples` draws for randomized ones."""

    def __init__(self, model: nn.Module, transform: InputTransform, adaptive: bool = False,
                 eot_samples: int = 16) -> None:
        super().__init__()
        self.model = model
        self.transform = transform
        self.adaptive = adaptive
        self.eot_samples = max(1, int(eot_samples))

    def _once(self, x: torch.Tensor) -> torch.Tensor:
        t = self.transform
        if t.differentiable:
            return self.model(t(x))
        with torch.no_grad():
            tx = t(x.detach())
        if self.adaptive:
            return self.model(_StraightThrough.apply(x, tx))
        # the true gradient of a quantizer / JPEG codec is zero: expose exactly that to a naive attacker
        return self.model(tx + 0.0 * x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.adaptive and self.transform.randomized and torch.is_grad_enabled():
            return torch.stack([self._once(x) for _ in range(self.eot_samples)]).mean(0)
        return self._once(x)

    def describe(self) -> str:
        how = "adaptive (BPDA/EOT)" if self.adaptive else "plain"
        return f"{self.transform.describe()} against a {how} attacker"


class Ensemble(nn.Module):
    """Average the logits of several models of the same input space."""

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        self.members = nn.ModuleList(models)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


# ---------------------------------------------------------------------------------------------------------
# Randomized smoothing (Cohen, Rosenfeld and Kolter, 2019). Certifies an L2 radius, not an L∞ ball.


@dataclass(frozen=True)
class Certificate:
    """The smoothed classifier's answer for one input: a class with a certified L2 radius, or abstain."""

    label: int | None  # None: abstain
    radius: float  # certified L2 radius in [0, 1] pixel space (0 when abstaining)
    p_lower: float  # one-sided (1 − α) lower confidence bound on the top class's probability
    counts: tuple[int, ...]  # class counts among the n certification samples
    sigma: float
    n0: int
    n: int
    alpha: float


@torch.no_grad()
def _sample_counts(model: nn.Module, x: torch.Tensor, sigma: float, num: int, batch: int) -> np.ndarray:
    """How often each of the model's K classes wins over `num` Gaussian draws around x."""
    counts: np.ndarray | None = None
    remaining = num
    while remaining > 0:
        b = min(batch, remaining)
        noisy = x.expand(b, *x.shape[1:]) + sigma * torch.randn(b, *x.shape[1:], device=x.device)
        out = model(noisy)
        if counts is None:
            counts = np.zeros(int(out.shape[1]), dtype=np.int64)
        counts += np.bincount(out.argmax(1).cpu().numpy(), minlength=len(counts))
        remaining -= b
    return counts if counts is not None else np.zeros(10, dtype=np.int64)


def certify(model: nn.Module, x: torch.Tensor, sigma: float = 0.25, n0: int = 100, n: int = 1000,
            alpha: float = 0.001, batch: int = 500) -> Certificate:
    """CERTIFY from Cohen et al.: guess the top class from n0 noisy samples, then bound its probability
    from n fresh samples; radius = σ·Φ⁻¹(p_lower) when p_lower > ½, else abstain. x is 1×1×28×28."""
    was_training = model.training
    model.eval()
    try:
        guess = int(np.argmax(_sample_counts(model, x, sigma, n0, batch)))
        counts = _sample_counts(model, x, sigma, n, batch)
    finally:
        model.train(was_training)
    p_lower = binomial_lower_bound(int(counts[guess]), n, alpha)
    if p_lower <= 0.5:
        return Certificate(None, 0.0, p_lower, tuple(int(c) for c in counts), sigma, n0, n, alpha)
    radius = certified_radius(sigma, p_lower)
    return Certificate(guess, radius, p_lower, tuple(int(c) for c in counts), sigma, n0, n, alpha)


def certified_accuracy(certificates: Sequence[Certificate], labels: Sequence[int],
                       radii: Sequence[float]) -> list[float]:
    """Certified accuracy at each L2 radius: the share certified correct with a radius of at least r."""
    total = max(1, len(certificates))
    return [
        sum(1 for c, y in zip(certificates, labels) if c.label == int(y) and c.radius >= r) / total for r in radii
    ]


# ---------------------------------------------------------------------------------------------------------
# Detection quality


def roc_curve(scores_clean: np.ndarray, scores_adv: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC of a detector whose score is higher for adversarial inputs: (false positive rates, true positive
    rates, AUC). AUC is the probability that an adversarial input outscores a clean one (ties count half)."""
    s = np.concatenate([np.asarray(scores_clean, float), np.asarray(scores_adv, float)])
    y = np.concatenate([np.zeros(len(scores_clean)), np.ones(len(scores_adv))])
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = np.cumsum(1 - y)[distinct]
    tpr = np.r_[0.0, tps / max(1, y.sum())]
    fpr = np.r_[0.0, fps / max(1, (1 - y).sum())]
    auc = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
    return fpr, tpr, auc
