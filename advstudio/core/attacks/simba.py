"""SimBA, the Simple Black-box Attack (Guo, Gardner, You, Wilson & Weinberger, 2019, "Simple Black-box Adversarial
Attacks"), L∞ in [0, 1] pixel space: a score-based attack that asks the model only for its probabilities, never
for a gradient.

The idea fits in one line: walk along random directions taken from a fixed orthonormal basis, one at a time,
and keep a step when it makes the model less sure of the true class. Per iteration it takes the next direction q
of a random order of the basis, asks the model about x − ε·q and, if that did not help, about x + ε·q, and keeps
the first that lowers the probability of the true class (targeted: raises the probability of the target). The
comparison is made on the log-odds log(p / (1 − p)) = z_y − log Σ_{k≠y} exp(z_k), which orders points exactly as
the probability p does but does not saturate: a float32 softmax rounds p to 1.0, and log-softmax to 0.0, once the
model is very sure (a logit gap past about 17, 8 of the first 50 MNIST test images on the bundled model), and
then no step would ever look better.

Two bases, as in the paper:
- "pixel": the standard basis, one pixel per direction. Each pixel is visited once per pass over the basis, so
  the perturbation stays within ‖δ‖∞ ≤ ε by construction.
- "dct": the 2-D discrete cosine basis with the low frequencies first (SimBA-DCT): the lowest quarter of the
  frequencies in each direction in a random order, then each next ring of frequencies (max(u, v) one higher) in
  a random order. A direction is scaled so its largest pixel change is 1 (the paper's have unit L2, its ε being
  an L2 step), so one step moves the pixels it moves most by ε, as a pixel step does. Cosine directions overlap,
  so every candidate is projected onto the ε-box around x (and into [0, 1]) before the model is asked about it:
  what is kept is what was queried, and ‖δ‖∞ ≤ ε holds.

When the budget outlasts one pass over the basis (784 directions on MNIST) the same order is walked again;
the ε-box projection keeps the budget. A candidate that the clamping leaves unchanged (a black background pixel
pushed below 0) tells nothing and costs no query. Every model call on a point counts as one query; the clean
check that every attack makes does not. Each point stops once it is fooled (early_stop)."""

from __future__ import annotations

import math
import threading

import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.attacks.base import Attack
from advstudio.core.attacks.common import (
    AttackOutput,
    TrajectoryRecorder,
    build_output,
    check_cancel,
    reached,
    starting_point,
)

__all__ = ["SimBA", "BASES", "dct_matrix", "basis_order", "basis_directions"]

BASES = ("pixel", "dct")
LOW_FREQUENCY_FRACTION = 0.25  # SimBA-DCT: the first block holds this fraction of the frequencies per side


def dct_matrix(n: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """The orthonormal DCT-II matrix (n × n): row k is the k-th cosine, a(k)·cos(π(2i + 1)k / 2n)."""
    i = torch.arange(n, dtype=torch.float64)
    k = torch.arange(n, dtype=torch.float64)[:, None]
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] = 1.0 / math.sqrt(n)
    return m.to(dtype=dtype, device=device)


def basis_order(basis: str, n: int, shape: tuple[int, int, int], gen: torch.Generator,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Per sample, the order (n × C·H·W indices) in which the basis is walked. Pixel: a random permutation.
    DCT: index c·H·W + u·W + v is frequency (u, v) of channel c; the low block first, then ring after ring,
    each in a random order (ring 0 is max(u, v) below a quarter of the side, ring k adds k to that bound)."""
    channels, height, width = shape
    dims = channels * height * width
    keys = torch.rand((n, dims), generator=gen, device=device)
    if basis == "dct":
        low = max(1, round(LOW_FREQUENCY_FRACTION * min(height, width)))
        u = torch.arange(height, device=device)[:, None].expand(height, width)
        v = torch.arange(width, device=device)[None, :].expand(height, width)
        ring = (torch.maximum(u, v) - low + 1).clamp_min(0).flatten().repeat(channels)
        keys = keys + ring.to(keys.dtype)
    return keys.argsort(1)


def basis_directions(basis: str, index: torch.Tensor, shape: tuple[int, int, int], cosines: tuple | None = None,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The directions (m × C × H × W) with the given basis indices, each with a largest entry of magnitude 1.
    `cosines`: the (H × H, W × W) DCT matrices, peak-normalized per row (needed for "dct")."""
    channels, height, width = shape
    m = index.shape[0]
    if basis == "pixel":
        return F.one_hot(index, channels * height * width).to(dtype).view(m, channels, height, width)
    cos_h, cos_w = cosines
    c, rest = index // (height * width), index % (height * width)
    u, v = rest // width, rest % width
    plane = cos_h[u][:, :, None] * cos_w[v][:, None, :]  # (m, H, W)
    chan = F.one_hot(c, channels).to(dtype)[:, :, None, None]
    return chan * plane[:, None]


class SimBA(Attack):
    """SimBA, L∞: random basis directions of step ε, kept when they lower the true class's probability (targeted:
    raise the target's). `queries`: the most model queries per point (the clean check not counted); each
    iteration costs one or two. `basis`: "pixel" or "dct" (low frequencies first, projected onto the ε-box).
    The random order comes from a generator seeded with `seed`. early_stop=False goes on lowering the true
    class's probability of a fooled point until the budget is spent (for the animation); the result is still its
    first adversarial image."""

    name = "simba"
    norm = "linf"
    iterative = True

    def __init__(
        self,
        eps: float,
        queries: int = 1000,
        basis: str = "pixel",
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        seed: int | None = 0,
    ) -> None:
        if int(queries) < 1:
            raise ValueError(f"queries must be at least 1, got {queries}")
        if basis not in BASES:
            raise ValueError(f"unknown basis {basis!r}: use 'pixel' or 'dct'")
        self.eps = self.check_eps(eps)
        self.queries = int(queries)
        self.basis = basis
        self.set_modes(targeted, early_stop, record_trajectory)
        self.seed = seed

    def params(self) -> dict:
        return {
            "eps": self.eps,
            "queries": self.queries,
            "steps": self.queries,  # at most one iteration per query: tables that print steps print the budget
            "basis": self.basis,
            "seed": self.seed,
            **self.mode_params(),
        }

    @staticmethod
    def score(logits: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None) -> torch.Tensor:
        """What the attack lowers: the log-odds of the true class, log(p_y / (1 − p_y)), or minus the target's
        (a strictly increasing function of the probability, computed without rounding it to 1)."""
        goal = y if tgt is None else tgt
        z = logits.float()
        own = z.gather(1, goal[:, None]).squeeze(1)
        rest = z.masked_fill(F.one_hot(goal, z.shape[1]).bool(), float("-inf")).logsumexp(1)
        return own - rest if tgt is None else rest - own

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        with torch.no_grad():
            return self._search(model, x, y, tgt, cancel)

    def _search(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        eps = self.eps
        n, channels, height, width = x.shape
        shape = (channels, height, width)
        dims = channels * height * width
        lo, hi = (x - eps).clamp(0.0, 1.0), (x + eps).clamp(0.0, 1.0)
        gen = torch.Generator(device=x.device)
        gen.manual_seed(0 if self.seed is None else int(self.seed))
        cosines = None
        if self.basis == "dct":
            cosines = tuple(dct_matrix(k, x.dtype, x.device) for k in (height, width))
            cosines = tuple(c / c.abs().amax(1, keepdim=True) for c in cosines)
        order = basis_order(self.basis, n, shape, gen, x.device)

        clean_logits = model(x)
        clean_pred = clean_logits.argmax(1)
        eligible, success, success_step, best_x, best_logits = starting_point(x, clean_logits, y, tgt)
        queries = torch.zeros(n, dtype=torch.long, device=x.device)
        recorder = TrajectoryRecorder(self.record_trajectory)
        probs = torch.softmax(clean_logits, 1)
        recorder.add(x, probs, 0, 0, queries)
        x_cur = x.clone()
        score_cur = self.score(clean_logits, y, tgt)
        idx = (eligible & ~success).nonzero().squeeze(1)
        if eps == 0.0:
            idx = idx[:0]  # no step can move: nothing to ask

        for it in range(1, self.queries + 1):
            idx = idx[queries[idx] < self.queries]
            if idx.numel() == 0:
                break
            check_cancel(cancel)
            q = basis_directions(self.basis, order[idx, (it - 1) % dims], shape, cosines, x.dtype)
            cur = x_cur[idx]
            taken = torch.zeros(idx.numel(), dtype=torch.bool, device=x.device)
            for sign in (-1.0, 1.0):
                cand = torch.maximum(torch.minimum(cur + sign * eps * q, hi[idx]), lo[idx])
                ask = ~taken & (cand != cur).flatten(1).any(1) & (queries[idx] < self.queries)
                if not ask.any():
                    continue
                i, pts = idx[ask], cand[ask]
                logits = model(pts)
                queries[i] += 1
                ti = None if tgt is None else tgt[i]
                hit = reached(logits, y[i], ti)
                s = self.score(logits, y[i], ti)
                better = (s < score_cur[i]) | hit
                new = hit & ~success[i]
                j = i[new]
                success[j] = True
                success_step[j] = it
                best_x[j], best_logits[j] = pts[new], logits[new]
                j = i[better]
                x_cur[j], score_cur[j] = pts[better], s[better]
                probs[j] = torch.softmax(logits[better], 1)
                keep = better & ~success[i]  # an unfooled point's result is its latest iterate
                best_x[i[keep]], best_logits[i[keep]] = pts[keep], logits[keep]
                taken[ask.nonzero().squeeze(1)[better]] = True
            if taken.any():
                recorder.add(x_cur, probs, 0, it, queries)
            if self.early_stop:
                idx = idx[~success[idx]]
        return build_output(
            self.name, self.params(), x, best_x, best_logits, y, tgt, clean_pred, success, success_step, 0,
            recorder.result(), queries,
        )
