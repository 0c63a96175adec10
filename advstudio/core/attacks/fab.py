"""FAB-T, the targeted Fast Adaptive Boundary attack (Croce & Hein, 2020, "Minimally distorted adversarial
examples with a fast adaptive boundary attack"), L∞ and L2, in [0, 1] pixel space: the third attack of
AutoAttack. It looks for the smallest perturbation that crosses the boundary between the true class y and a
target class t, rather than the highest loss inside a budget.

Each step linearizes g = f_t − f_y at the iterate x_k (g(z) ≈ g(x_k) + ∇g·(z − x_k); the goal is g > 0) and
projects both x_k and the original x onto the hyperplane g = 0, within the pixel box [0, 1], at minimal norm:
δ_k from x_k, δ_0 from x. The next iterate mixes the two, leaning toward the original the further away it is:

    α = min(‖δ_k‖ / (‖δ_k‖ + ‖δ_0‖), α_max)                          (α_max = 0.1)
    x_{k+1} = clip((1 − α)·(x_k + η·δ_k) + α·(x + η·δ_0), 0, 1)      (η = 1.05, a small overshoot)

and once x_{k+1} is misclassified (the smallest such is kept) it steps back toward the original,
x_{k+1} ← (1 − β)·x + β·x_{k+1} (β = 0.9), so the walk follows the boundary inward.

The projection onto {w·d = b} ∩ box has a closed form up to one scalar: for L2, d = clip(λ·w, lo, hi); for L∞,
d = clip(τ·sign(b·w), lo, hi); w·d grows monotonically with λ (or τ), so 40 halvings of its interval find it
(the paper solves it exactly by sorting; halving to 1e-12 of the interval is as good in float32).

Untargeted (the AutoAttack way): one run toward each of the model's `target_classes` next-best classes on the
clean image, in turn. The L∞ attack takes ε: a point counts as broken when some run found a misclassified
point within ε of it (later runs skip it), and x_adv always lies in the ε-box. The L2 attack takes no budget:
every run goes on for every point, and x_adv is the smallest-L2 misclassified point of all runs."""

from __future__ import annotations

import threading

import torch
from torch import nn

from advstudio.core.attacks.base import Attack
from advstudio.core.attacks.common import (
    AttackOutput,
    TrajectoryRecorder,
    build_output,
    check_cancel,
    reached,
    starting_point,
    target_runs,
)

__all__ = ["FABT", "FABTL2", "project_hyperplane_box"]

ALPHA_MAX = 0.1  # the most weight the original point gets in a step
ETA = 1.05  # overshoot past the linearized boundary
BETA = 0.9  # the step back toward the original after a success
HALVINGS = 40


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


def project_hyperplane_box(z: torch.Tensor, w: torch.Tensor, b: torch.Tensor, norm: str) -> torch.Tensor:
    """Per sample, the smallest d (in the L∞ or L2 norm) with w·d = b and z + d in [0, 1]; where the box
    cannot reach the hyperplane, the d in the box that gets closest to it (w·d as near b as the box allows)."""
    flat_w, flat_z = w.flatten(1), z.flatten(1)
    lo, hi = -flat_z, 1.0 - flat_z
    s = torch.where(b >= 0, 1.0, -1.0).to(z.dtype)  # which side of the plane to move to
    target = (b * s)[:, None]  # |b|: s·w·d must reach it

    if norm == "l2":
        direction = s[:, None] * flat_w

        def d_of(scale: torch.Tensor) -> torch.Tensor:
            return torch.minimum(torch.maximum(scale * direction, lo), hi)

        # past this scale every coordinate with w ≠ 0 sits at its bound: d stops changing
        reach = torch.where(direction.abs() > 0, torch.maximum(lo.abs(), hi.abs()) / direction.abs().clamp_min(
            1e-30), torch.zeros_like(direction))
        top = reach.amax(1, keepdim=True).clamp_min(1e-12)
    elif norm == "linf":
        direction = s[:, None] * flat_w.sign()

        def d_of(scale: torch.Tensor) -> torch.Tensor:
            return torch.minimum(torch.maximum(scale * direction, lo), hi)

        top = torch.ones_like(target)  # no pixel can move by more than 1
    else:
        raise ValueError(f"unknown norm {norm!r}: use 'linf' or 'l2'")

    low = torch.zeros_like(target)
    high = top.clone()
    for _ in range(HALVINGS):
        mid = (low + high) / 2
        short = (s[:, None] * (flat_w * d_of(mid)).sum(1, keepdim=True)) < target
        low = torch.where(short, mid, low)
        high = torch.where(short, high, mid)
    return d_of(high).view_as(z)


class _FAB(Attack):
    """The shared walk; subclasses fix the norm and whether ε bounds the result."""

    iterative = True

    def __init__(self, eps: float | None, steps: int, target_classes: int, restarts: int, targeted: bool,
                 early_stop: bool, record_trajectory: bool, seed: int | None) -> None:
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if restarts < 1:
            raise ValueError(f"restarts must be at least 1, got {restarts}")
        if int(target_classes) < 1:
            raise ValueError(f"target_classes must be at least 1, got {target_classes}")
        self.eps = None if eps is None else self.check_eps(eps)
        self.steps = int(steps)
        self.target_classes = int(target_classes)
        self.restarts = int(restarts)
        self.set_modes(targeted, early_stop, record_trajectory)
        self.seed = seed

    def params(self) -> dict:
        out = {"steps": self.steps, "target_classes": self.target_classes, "restarts": self.restarts,
               "alpha_max": ALPHA_MAX, "eta": ETA, "beta": BETA, "seed": self.seed, **self.mode_params()}
        if self.eps is not None:
            out["eps"] = self.eps
        return out

    def _norm_of(self, d: torch.Tensor) -> torch.Tensor:
        flat = d.flatten(1)
        return flat.abs().amax(1) if self.norm == "linf" else flat.norm(dim=1)

    def _runs(self, clean_logits: torch.Tensor, tgt: torch.Tensor | None) -> list[torch.Tensor]:
        return target_runs(clean_logits, tgt, self.target_classes, self.restarts)

    def _start(self, x: torch.Tensor, restart: int, best_norm: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """The first restart starts at x; later ones at a random point within half the best norm so far (or
        half of ε), as the paper's restarts do."""
        if restart == 0:
            return x.clone()
        radius = best_norm.clone()
        if self.eps is not None:
            radius = torch.minimum(radius, torch.full_like(radius, self.eps))
        radius = torch.where(torch.isfinite(radius), radius, torch.full_like(radius, 0.3)) / 2
        u = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
        if self.norm == "l2":
            u = u / _col(u.flatten(1).norm(dim=1).clamp_min(1e-12), u)
        return (x + _col(radius, x) * u).clamp(0.0, 1.0)

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        with torch.no_grad():
            clean_logits = model(x)
        clean_pred = clean_logits.argmax(1)
        eligible, success, success_step, best_x, best_logits = starting_point(x, clean_logits, y, tgt)
        found = success.clone()  # a misclassified point was found (at any norm)
        best_norm = torch.where(success, 0.0, float("inf")).to(x.dtype)
        gen = torch.Generator(device=x.device)
        gen.manual_seed(0 if self.seed is None else int(self.seed))
        recorder = TrajectoryRecorder(self.record_trajectory)
        cur_x, cur_probs = x.clone(), torch.softmax(clean_logits, 1)
        evals = 0
        runs = self._runs(clean_logits, tgt)
        for r, aim in enumerate(runs):
            active = eligible & (aim != y)
            if self.eps is not None and self.early_stop:
                active &= ~(found & (best_norm <= self.eps + 1e-6))
            idx = active.nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            x0, y0, t0 = x[idx], y[idx], aim[idx]
            xk = self._start(x0, r % self.restarts, best_norm[idx], gen)
            if recorder.enabled and r == 0:
                recorder.add(cur_x, cur_probs, 0, 0)
            for k in range(self.steps):
                check_cancel(cancel)
                xa = xk.detach().requires_grad_(True)
                logits = model(xa)
                g = logits.gather(1, t0[:, None]).squeeze(1) - logits.gather(1, y0[:, None]).squeeze(1)
                (w,) = torch.autograd.grad(g.sum(), xa)
                evals += idx.numel()
                with torch.no_grad():
                    f = g.detach()
                    d_k = project_hyperplane_box(xk, w, -f, self.norm)
                    b0 = -f - (w * (x0 - xk)).flatten(1).sum(1)
                    d_0 = project_hyperplane_box(x0, w, b0, self.norm)
                    n_k, n_0 = self._norm_of(d_k), self._norm_of(d_0)
                    alpha = (n_k / (n_k + n_0).clamp_min(1e-12)).clamp(max=ALPHA_MAX)
                    a = _col(alpha, xk)
                    nxt = ((1 - a) * (xk + ETA * d_k) + a * (x0 + ETA * d_0)).clamp(0.0, 1.0)
                    out = model(nxt)
                    hit = reached(out, y0, None if tgt is None else t0)
                    size = self._norm_of(nxt - x0)
                    better = hit & (size < best_norm[idx])
                    j = idx[better]
                    first = better & ~found[idx]
                    success_step[idx[first]] = r * self.steps + k + 1
                    found[j] = True
                    best_norm[j] = size[better]
                    best_x[j] = nxt[better]
                    best_logits[j] = out[better]
                    if recorder.enabled:
                        cur_x[idx] = nxt
                        cur_probs[idx] = torch.softmax(out, 1)
                        recorder.add(cur_x, cur_probs, r, k + 1)
                    xk = torch.where(_col(hit, nxt), (1 - BETA) * x0 + BETA * nxt, nxt)
        return self._output(model, x, y, tgt, clean_logits, clean_pred, eligible, found, best_norm, best_x,
                            best_logits, success_step, evals, recorder)

    def _output(self, model, x, y, tgt, clean_logits, clean_pred, eligible, found, best_norm, best_x, best_logits,
                success_step, evals, recorder) -> AttackOutput:
        if self.eps is None:
            success = found & eligible
        else:
            # within budget, or pulled back into the ε-box (where it may still fool the model)
            outside = found & (best_norm > self.eps + 1e-6)
            if outside.any():
                j = outside.nonzero().squeeze(1)
                pulled = (x[j] + (best_x[j] - x[j]).clamp(-self.eps, self.eps)).clamp(0.0, 1.0)
                with torch.no_grad():
                    out = model(pulled)
                best_x[j], best_logits[j] = pulled, out
            never = ~found
            best_x[never], best_logits[never] = x[never], clean_logits[never]
            success = reached(best_logits, y, tgt) & eligible
        success_step = torch.where(success, success_step, -1)
        return build_output(
            self.name, self.params(), x, best_x, best_logits, y, tgt, clean_pred, success, success_step, evals,
            recorder.result(),
        )


class FABT(_FAB):
    """FAB-T in L∞ with a budget ε (AutoAttack's third attack): the smallest L∞ perturbation it finds toward
    each next-best class, counted when it is within ε. 100 steps per target class, as in AutoAttack."""

    name = "fab-t"
    norm = "linf"

    def __init__(
        self,
        eps: float,
        steps: int = 100,
        target_classes: int = 9,
        restarts: int = 1,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        seed: int | None = 0,
    ) -> None:
        super().__init__(eps, steps, target_classes, restarts, targeted, early_stop, record_trajectory, seed)


class FABTL2(_FAB):
    """FAB-T in L2 without a budget: the smallest L2 perturbation it finds over all target classes (a
    robustness curve reads these norms against a radius, like C&W's and DeepFool's)."""

    name = "fab-t-l2"
    norm = "l2"

    def __init__(
        self,
        steps: int = 100,
        target_classes: int = 9,
        restarts: int = 1,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        seed: int | None = 0,
    ) -> None:
        super().__init__(None, steps, target_classes, restarts, targeted, early_stop, record_trajectory, seed)
