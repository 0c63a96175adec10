"""Iterative L∞ attacks in [0, 1] pixel space: BIM / I-FGSM, PGD (random start, restarts) and MI-FGSM.

Each step: ascend the attack objective along sign(∇ₓ), project onto the ε-ball around the clean image, clamp to
[0, 1]. With early stop (the default) a sample leaves the batch as soon as it reaches the goal, so the cost
shrinks as the attack succeeds and the robust accuracy is the same as running every step while counting any
step's success; full mode (early_stop=False) runs every step for every sample, for trajectories."""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import nn

from advstudio.core.attacks.base import Attack
from advstudio.core.attacks.common import (
    AttackOutput,
    TrajectoryRecorder,
    build_output,
    check_cancel,
    objective,
    reached,
    starting_point,
)

__all__ = ["BIM", "PGD", "MIFGSM", "linf_walk"]


Objective = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Visit = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], "torch.Tensor | None"]


def linf_walk(goal: Objective, x_cur: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, alpha: float,
              steps: int, *, idx: torch.Tensor | None = None, decay: float = 0.0, visit: Visit | None = None,
              cancel: threading.Event | None = None, first: tuple | None = None, evaluate_last: bool = True) -> int:
    """The one L∞ loop (BIM, PGD, MI-FGSM, adversarial training, the detector-aware attack).

    At t = 0 … steps: goal(xa, idx) gives (logits, per-sample objective) at the current iterate xa of the
    samples idx; visit(t, idx, xa, logits, obj) sees them (detached) and may return which of them go on (early
    stop); then, except after the last evaluation, every remaining sample steps
    x ← min(max(x + α·sign(g), lo), hi) clamped to [0, 1], where g is the objective's input gradient or, with
    decay μ > 0, the momentum sum g ← μ·g + ∇/mean|∇| (MI-FGSM). x_cur is updated in place. `first` may hand
    in step 0's (input, logits, objective) of a pass already made on the whole batch; evaluate_last=False
    skips the final, gradient-free evaluation (training needs the last iterate only). Returns the number of
    gradient evaluations (samples × steps)."""
    idx = torch.arange(x_cur.shape[0], device=x_cur.device) if idx is None else idx
    momentum = torch.zeros_like(x_cur) if decay else None
    evals = 0
    for t in range(steps + 1 if evaluate_last else steps):
        if idx.numel() == 0:
            break
        check_cancel(cancel)
        last = t == steps
        if first is not None:  # the caller's pass over the whole batch at x_cur
            xg, logits_all, obj_all = first
            first = None
            xa, logits, obj = x_cur[idx], logits_all[idx], obj_all[idx]
            grad_wrt, pick = xg, idx
        else:
            xa = x_cur[idx].detach().requires_grad_(not last)
            with torch.set_grad_enabled(not last):
                logits, obj = goal(xa, idx)
            grad_wrt, pick = xa, None
        keep = visit(t, idx, xa.detach(), logits.detach(), obj.detach()) if visit is not None else None
        if last:
            break
        (grad,) = torch.autograd.grad(obj.sum(), grad_wrt)
        if pick is not None:
            grad = grad[pick]
        evals += idx.numel()
        xa = xa.detach()
        if keep is not None:
            idx, xa, grad = idx[keep], xa[keep], grad[keep]
            if idx.numel() == 0:
                break
        if momentum is not None:
            scale = grad.abs().mean(dim=tuple(range(1, grad.ndim)), keepdim=True).clamp_min(1e-12)
            momentum[idx] = decay * momentum[idx] + grad / scale
            direction = momentum[idx].sign()
        else:
            direction = grad.sign()
        x_cur[idx] = torch.minimum(torch.maximum(xa + alpha * direction, lo[idx]), hi[idx]).clamp_(0.0, 1.0)
    return evals


class _LinfIterative(Attack):
    """The shared loop; subclasses fix the defaults and which options apply."""

    norm = "linf"
    iterative = True
    step_size_factor = 2.5  # default step size = factor · ε / steps

    def __init__(
        self,
        eps: float,
        steps: int,
        step_size: float | None,
        targeted: bool,
        early_stop: bool,
        record_trajectory: bool,
        loss: str,
        restarts: int = 1,
        random_start: bool = False,
        decay: float = 0.0,
        seed: int | None = 0,
    ) -> None:
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if step_size is not None and step_size <= 0:
            raise ValueError(f"step size must be positive, got {step_size}")
        if restarts < 1:
            raise ValueError(f"restarts must be at least 1, got {restarts}")
        if restarts > 1 and not random_start:
            raise ValueError("restarts without a random start would repeat the same deterministic run")
        if loss not in ("ce", "margin"):
            raise ValueError(f"unknown loss {loss!r}: use 'ce' or 'margin'")
        self.eps = self.check_eps(eps)
        self.steps = int(steps)
        self.step_size = None if step_size is None else float(step_size)
        self.set_modes(targeted, early_stop, record_trajectory)
        self.loss = loss
        self.restarts = int(restarts)
        self.random_start = bool(random_start)
        self.decay = float(decay)
        self.seed = seed

    @property
    def alpha(self) -> float:
        """The step size actually used (the default scales with ε / steps)."""
        if self.step_size is not None:
            return self.step_size
        return self.step_size_factor * self.eps / self.steps

    def params(self) -> dict:
        return {
            "eps": self.eps,
            "steps": self.steps,
            "step_size": self.alpha,
            "step_size_given": self.step_size is not None,
            "restarts": self.restarts,
            "random_start": self.random_start,
            "decay": self.decay,
            "loss": self.loss,
            "seed": self.seed,
            **self.mode_params(),
        }

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        """Per sample: the first iterate that reaches the goal (any restart), else the final iterate of the
        restart with the highest objective."""
        eps, alpha = self.eps, self.alpha
        lo, hi = (x - eps).clamp(0.0, 1.0), (x + eps).clamp(0.0, 1.0)
        recorder = TrajectoryRecorder(self.record_trajectory)
        gen = None
        if self.random_start:
            gen = torch.Generator(device=x.device)
            gen.manual_seed(0 if self.seed is None else int(self.seed))
        first = None  # without a random start, step 0 is the clean image: one forward pass serves both
        if self.random_start:
            with torch.no_grad():
                clean_logits = model(x)
        else:
            xg = x.clone().requires_grad_(True)
            with torch.enable_grad():
                logits_g = model(xg)
                first = (xg, logits_g, objective(logits_g, y, tgt, self.loss))
            clean_logits = logits_g.detach()
        clean_pred = clean_logits.argmax(1)
        eligible, success, success_step, best_x, best_logits = starting_point(x, clean_logits, y, tgt)
        best_obj = torch.full(y.shape, float("-inf"), device=x.device)
        cur_probs = torch.softmax(clean_logits, 1)
        evals = 0

        def goal(xa: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = model(xa)
            return logits, objective(logits, y[idx], None if tgt is None else tgt[idx], self.loss)

        for r in range(self.restarts):
            if self.random_start:
                noise = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * (2 * eps) - eps
                x_cur = (x + noise).clamp(0.0, 1.0)
            else:
                x_cur = x.clone()

            def visit(t: int, idx: torch.Tensor, xa: torch.Tensor, logits: torch.Tensor, obj: torch.Tensor,
                      r: int = r, x_cur: torch.Tensor = x_cur) -> torch.Tensor | None:
                hit = reached(logits, y[idx], None if tgt is None else tgt[idx])
                new = hit & ~success[idx]
                if new.any():
                    j = idx[new]
                    success[j] = True
                    success_step[j] = r * (self.steps + 1) + t
                    best_x[j] = xa[new]
                    best_logits[j] = logits[new]
                if recorder.enabled:
                    cur_probs[idx] = torch.softmax(logits, 1)
                    recorder.add(x_cur, cur_probs, r, t)
                if t == self.steps:  # never succeeded: keep the final iterate of the best restart
                    fail = ~success[idx] & (obj > best_obj[idx])
                    j = idx[fail]
                    best_x[j] = xa[fail]
                    best_logits[j] = logits[fail]
                    best_obj[j] = obj[fail]
                return ~hit if self.early_stop else None

            active = eligible & ~success if self.early_stop else eligible
            evals += linf_walk(goal, x_cur, lo, hi, alpha, self.steps, idx=active.nonzero().squeeze(1),
                               decay=self.decay, visit=visit, cancel=cancel, first=first)
            first = None
        return build_output(
            self.name, self.params(), x, best_x, best_logits, y, tgt, clean_pred, success, success_step, evals,
            recorder.result(),
        )


class BIM(_LinfIterative):
    """Basic Iterative Method / I-FGSM (Kurakin et al., 2016): FGSM steps of size α, projected onto the ε-ball.

    Default α = 2.5·ε/steps (so the walk can cross the ball and back)."""

    name = "bim"

    def __init__(
        self,
        eps: float,
        steps: int = 10,
        step_size: float | None = None,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        loss: str = "ce",
    ) -> None:
        super().__init__(eps, steps, step_size, targeted, early_stop, record_trajectory, loss)


class PGD(_LinfIterative):
    """Projected Gradient Descent (Madry et al., 2017): BIM from a uniform random start in the ε-ball (clamped to
    [0, 1]), repeated over restarts; a sample is broken if any restart breaks it. The random starts come from a
    generator seeded with `seed`, so a run is reproducible. Default α = 2.5·ε/steps."""

    name = "pgd"

    def __init__(
        self,
        eps: float,
        steps: int = 40,
        step_size: float | None = None,
        restarts: int = 1,
        random_start: bool = True,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        loss: str = "ce",
        seed: int | None = 0,
    ) -> None:
        super().__init__(
            eps, steps, step_size, targeted, early_stop, record_trajectory, loss,
            restarts=restarts, random_start=random_start, seed=seed,
        )


class MIFGSM(_LinfIterative):
    """Momentum Iterative FGSM (Dong et al., 2018): steps along the sign of a running sum of L1-normalized
    gradients, g ← μ·g + ∇/mean|∇|. Default α = ε/steps, as in the paper."""

    name = "mifgsm"
    step_size_factor = 1.0

    def __init__(
        self,
        eps: float,
        steps: int = 10,
        step_size: float | None = None,
        decay: float = 1.0,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        loss: str = "ce",
    ) -> None:
        if decay < 0:
            raise ValueError(f"momentum decay must be non-negative, got {decay}")
        super().__init__(eps, steps, step_size, targeted, early_stop, record_trajectory, loss, decay=decay)
