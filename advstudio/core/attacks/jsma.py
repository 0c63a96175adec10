"""JSMA, the Jacobian-based Saliency Map Attack (Papernot, McDaniel, Jha, Fredrikson, Celik & Swami, 2016, "The
Limitations of Deep Learning in Adversarial Settings"), an L0 attack in [0, 1] pixel space: it changes a few
pixels by a lot instead of every pixel by a little.

Each iteration asks the network how each pixel moves each class score (the forward derivative: the Jacobian of
the logits Z with respect to the input) and picks the PAIR of pixels p, q that best pushes towards the target
class t. With α = ∂Z_t/∂x_p + ∂Z_t/∂x_q (how the pair raises the target) and β = the same sum over every other
class (how it raises the rest), the pair must raise the target and lower the rest, α > 0 and β < 0, and among
those it maximizes the saliency −α·β. Both pixels move by θ (clamped to [0, 1]; θ < 0 darkens them, and then the
pair must lower the target less than the rest, α < 0 and β > 0) and leave the search domain, which starts as
every pixel that can still move by half a grey level in θ's direction. A sample stops when it reaches its goal,
when it has changed ⌊γ·784⌋ pixels (a last single pixel when one pixel of budget is left), or when no pair
qualifies (the gradients cannot change then, so nothing further would).

Untargeted, the target is the clean input's second most likely class (the nearest rival), and a sample stops as
soon as it is misclassified as any class. Targeted, the target is the class given to run()."""

from __future__ import annotations

import threading

import torch
from torch import nn

from advstudio.core.attacks.base import Attack
from advstudio.core.attacks.common import (
    L0_TOLERANCE,
    AttackOutput,
    TrajectoryRecorder,
    build_output,
    check_cancel,
    reached,
    starting_point,
)

__all__ = ["JSMA", "pixel_budget", "salient_pairs"]

# Pair scores held at once: samples per chunk × features², about 16 MB of float32 per temporary.
PAIR_BLOCK = 1 << 22


def pixel_budget(gamma: float, features: int) -> int:
    """The most pixels JSMA changes in an image of `features` values: ⌊γ·features⌋, at least 1."""
    return max(1, int(gamma * features + 1e-9))


def salient_pairs(a: torch.Tensor, b: torch.Tensor, domain: torch.Tensor, single: torch.Tensor,
                  increase: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The most salient pair per sample. a, b: (m, F) derivatives of the target logit and of the sum of the other
    logits; domain: (m, F) the pixels that may still change; single: (m,) only one pixel may change (then p = q).

    Returns (p, q, found): the pair's flat indices (p ≤ q; p = q for a single pixel) and whether any pair
    qualifies (α > 0, β < 0 for increase; α < 0, β > 0 otherwise). The score is −α·β on qualifying pairs, 0 on
    the rest, over an outer sum of the domain (chunks of samples); the diagonal (one pixel, α = 2a_p) is allowed
    only where a single pixel is wanted, or where the domain holds one pixel."""
    m, features = a.shape
    sign = 1.0 if increase else -1.0
    a, b = sign * a, sign * b  # now the condition is α > 0, β < 0 either way, and −α·β is unchanged
    eye = torch.eye(features, dtype=torch.bool, device=a.device)
    p = torch.zeros(m, dtype=torch.long, device=a.device)
    q = torch.zeros_like(p)
    found = torch.zeros(m, dtype=torch.bool, device=a.device)
    lone = single | (domain.sum(1) == 1)
    step = max(1, PAIR_BLOCK // (features * features))
    for s in range(0, m, step):
        e = slice(s, s + step)
        alpha = a[e, :, None] + a[e, None, :]
        beta = b[e, :, None] + b[e, None, :]
        score = alpha.clamp_min_(0.0).mul_(beta.neg_().clamp_min_(0.0))  # α·(−β) where α > 0 and β < 0, else 0
        allowed = domain[e, :, None] & domain[e, None, :]
        allowed &= torch.where(lone[e, None, None], eye, ~eye)
        score.masked_fill_(~allowed, 0.0)
        best, flat = score.flatten(1).max(1)  # the first maximum: row-major, so p < q for a pair
        p[e], q[e] = flat // features, flat % features
        found[e] = best > 0
    return p, q, found


class JSMA(Attack):
    """JSMA over pixel pairs. `theta`: the change per chosen pixel in pixel units (> 0 brightens, < 0 darkens),
    0 < |θ| ≤ 1; `gamma`: the most pixels changed, as a share of all pixels (0.1: 78 of MNIST's 784).
    early_stop=False keeps changing pixels of a sample that reached its goal until its budget is spent (for the
    animation); the result is still its first adversarial image. Deterministic: no seed."""

    name = "jsma"
    norm = "l0"
    iterative = True

    def __init__(
        self,
        theta: float = 1.0,
        gamma: float = 0.1,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
    ) -> None:
        theta = float(theta)
        if not L0_TOLERANCE <= abs(theta) <= 1.0:
            raise ValueError(f"θ must lie in [-1, 1] pixel space and move a pixel by half a grey level, got {theta}")
        gamma = float(gamma)
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"γ (the share of pixels changed) must lie in (0, 1], got {gamma}")
        self.theta = theta
        self.gamma = gamma
        self.set_modes(targeted, early_stop, record_trajectory)

    def params(self) -> dict:
        return {"theta": self.theta, "gamma": self.gamma, **self.mode_params()}

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        n = x.shape[0]
        features = x[0].numel()
        budget = pixel_budget(self.gamma, features)
        increase = self.theta > 0
        with torch.no_grad():
            clean_logits = model(x)
        clean_pred = clean_logits.argmax(1)
        eligible, success, success_step, best_x, best_logits = starting_point(x, clean_logits, y, tgt)
        goal = tgt if tgt is not None else clean_logits.argsort(1, descending=True)[:, 1]  # the nearest rival
        flat_x = x.flatten(1)
        domain = flat_x <= 1.0 - L0_TOLERANCE if increase else flat_x >= L0_TOLERANCE
        changed = torch.zeros(n, dtype=torch.long, device=x.device)
        x_cur = x.clone(memory_format=torch.contiguous_format)
        probs = torch.softmax(clean_logits, 1)
        recorder = TrajectoryRecorder(self.record_trajectory)
        recorder.add(x, probs, 0, 0)
        evals = 0

        idx = (eligible & ~success).nonzero().squeeze(1)
        for it in range(0, budget + 1):
            if idx.numel() == 0:
                break
            # The logits at the current images, with the graph for this iteration's derivatives.
            more = (changed[idx] < budget) & domain[idx].any(1)
            xa = x_cur[idx].detach().requires_grad_(bool(more.any()))
            with torch.set_grad_enabled(bool(more.any())):
                logits = model(xa)
            lg = logits.detach()
            if it > 0:
                hit = reached(lg, y[idx], None if tgt is None else tgt[idx])
                new = hit & ~success[idx]
                j = idx[new]
                success[j] = True
                success_step[j] = it
                best_x[j], best_logits[j] = x_cur[j], lg[new]
                still = ~success[idx]
                best_x[idx[still]], best_logits[idx[still]] = x_cur[idx[still]], lg[still]
                probs[idx] = torch.softmax(lg, 1)
                recorder.add(x_cur, probs, 0, it)
                if self.early_stop:
                    more &= ~hit
            if not more.any():
                break
            check_cancel(cancel)
            # Two input gradients from the one forward pass: ∂Z_t/∂x and ∂(Σ_k Z_k)/∂x, for the whole chunk at once
            # (samples are independent in eval mode); the other classes' derivative is their difference. Each
            # backward pass counts as one gradient evaluation per sample it runs on (as DeepFool counts one per
            # class), those that just stopped included: they are in the batch the backward pass computes.
            z_t = logits.gather(1, goal[idx][:, None])
            (g_t,) = torch.autograd.grad(z_t.sum(), xa, retain_graph=True)
            (g_all,) = torch.autograd.grad(logits.sum(), xa)
            evals += 2 * idx.numel()
            keep = more.nonzero().squeeze(1)
            i = idx[keep]
            a = g_t[keep].flatten(1)
            b = (g_all[keep] - g_t[keep]).flatten(1)
            p, q, found = salient_pairs(a, b, domain[i], budget - changed[i] == 1, increase)
            i, p, q = i[found], p[found], q[found]
            flat = x_cur.view(n, features)
            flat[i, p] = (flat[i, p] + self.theta).clamp(0.0, 1.0)
            flat[i, q] = (flat[i, q] + self.theta).clamp(0.0, 1.0)
            domain[i, p] = False
            domain[i, q] = False
            changed[i] += 1 + (p != q).long()
            idx = i
        return build_output(
            self.name, self.params(), x, best_x, best_logits, y, tgt, clean_pred, success, success_step, evals,
            recorder.result(),
        )
