"""Auto-PGD (Croce & Hein, 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks"), L∞ in [0, 1] pixel space: APGD-CE (cross-entropy) and APGD-T (the targeted DLR loss
over the model's next-best classes), the two gradient attacks of AutoAttack.

PGD with a fixed step size is only as good as its step size. APGD starts with a large step (2ε) and halves it
at checkpoints when progress stalls, restarting from the best point found so far, and steps with momentum:

    z  = P(x_k + η·sign(∇f(x_k)))
    x_{k+1} = P(x_k + α·(z − x_k) + (1 − α)·(x_k − x_{k−1}))          (α = 0.75; the first step is z)

At checkpoint w_j the step is halved (and the walk restarts from the best point) if
  1. fewer than ρ·(w_j − w_{j−1}) of the steps since w_{j−1} raised the loss (ρ = 0.75), or
  2. the step was not halved at w_{j−1} and the best loss has not risen since then.
Checkpoints are w_j = ⌈p_j·N⌉ with p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06).
Each point carries its own step size, counters and best point; a point leaves the batch once it is broken
(early stop) and later restarts or targets run only on the points still robust."""

from __future__ import annotations

import math
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
    margin,
    objective,
    reached,
    starting_point,
    target_runs,
)

__all__ = ["APGDCE", "APGDT", "apgd_walk", "checkpoint_fractions", "checkpoints", "dlr_loss"]

RHO = 0.75  # condition 1: the share of loss-raising steps below which the step is halved
MOMENTUM = 0.75  # α: the weight of the new gradient step against the previous move
INITIAL_STEP = 2.0  # η⁰ = 2ε

Goal = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Visit = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], "torch.Tensor | None"]


def checkpoint_fractions() -> list[float]:
    """p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), while p_j ≤ 1."""
    p = [0.0, 0.22]
    while True:
        nxt = p[-1] + max(p[-1] - p[-2] - 0.03, 0.06)
        if nxt > 1.0:
            return p
        p.append(nxt)


def checkpoints(steps: int) -> list[int]:
    """The iterations w_j = ⌈p_j·steps⌉ (distinct, below steps) where the step size may be halved. The 1e-9
    keeps float noise (0.41·100 = 41.000000000000007) from pushing a checkpoint one step later."""
    out = sorted({math.ceil(p * steps - 1e-9) for p in checkpoint_fractions()})
    return [w for w in out if w < steps]


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """The Difference of Logits Ratio, to ascend; invariant to shifting and scaling the logits, so a model
    that squashes its scores (or a saturated softmax) does not hide the gradient.

    Untargeted: −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3). Targeted at t: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2),
    with z_π1 ≥ z_π2 ≥ … the sorted logits."""
    need = 3 if target is None else 4
    if logits.shape[1] < need:
        raise ValueError(f"the DLR loss needs at least {need} classes, the model has {logits.shape[1]}")
    top = logits.sort(1, descending=True).values
    if target is None:
        return margin(logits, y) / (top[:, 0] - top[:, 2] + 1e-12)
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def _box_step(x: torch.Tensor, d: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    return torch.minimum(torch.maximum(x + d, lo), hi)


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


def apgd_walk(goal: Goal, x_start: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, eps: float, steps: int, *,
              idx: torch.Tensor, visit: Visit | None = None, cancel: threading.Event | None = None,
              step_sizes: list | None = None) -> int:
    """One APGD run of `steps` iterations from x_start on the samples idx (lo/hi: the ε-box within [0, 1]).

    goal(xa, idx) gives (logits, per-sample objective to ascend); visit(t, idx, xa, logits, obj) sees every
    iterate t = 0 … steps (detached) and may return which samples go on (early stop). step_sizes, when given,
    gets (k, every sample's step size) after iterate k (to check the schedule). Returns the number of gradient
    evaluations (samples × steps)."""
    n = x_start.shape[0]
    dev = x_start.device
    x_cur = x_start.clone()
    x_prev = x_start.clone()
    x_max = x_start.clone()
    grad = torch.zeros_like(x_start)
    g_max = torch.zeros_like(x_start)
    f_cur = torch.full((n,), float("-inf"), device=dev)
    f_max = f_cur.clone()
    f_ckpt = f_cur.clone()
    eta = torch.full((n,), INITIAL_STEP * eps, device=dev, dtype=x_start.dtype)
    ups = torch.zeros(n, device=dev)
    reduced = torch.zeros(n, dtype=torch.bool, device=dev)
    marks = set(checkpoints(steps)[1:])
    last_mark = 0
    evals = 0

    def evaluate(t: int, idx: torch.Tensor, with_grad: bool):
        xa = x_cur[idx].detach().requires_grad_(with_grad)
        with torch.set_grad_enabled(with_grad):
            logits, obj = goal(xa, idx)
        g = torch.autograd.grad(obj.sum(), xa)[0] if with_grad else None
        keep = visit(t, idx, xa.detach(), logits.detach(), obj.detach()) if visit is not None else None
        return obj.detach(), g, keep

    for k in range(steps + 1):  # k: the iterate evaluated now
        if idx.numel() == 0:
            break
        check_cancel(cancel)
        if k > 0:  # the step to x_k
            xa, prev = x_cur[idx], x_prev[idx]
            z = _box_step(xa, _col(eta[idx], xa) * grad[idx].sign(), lo[idx], hi[idx])
            if k > 1:
                z = _box_step(xa, MOMENTUM * (z - xa) + (1 - MOMENTUM) * (xa - prev), lo[idx], hi[idx])
            x_prev[idx] = xa
            x_cur[idx] = z.clamp_(0.0, 1.0)
        obj, g, keep = evaluate(k, idx, k < steps)
        if g is not None:
            evals += idx.numel()
            grad[idx] = g
        if k == 0:
            f_max[idx] = obj
            f_ckpt[idx] = obj
            x_max[idx] = x_cur[idx]
            if g is not None:
                g_max[idx] = g
        else:
            ups[idx] += (obj > f_cur[idx]).float()
            better = obj > f_max[idx]
            j = idx[better]
            f_max[j] = obj[better]
            x_max[j] = x_cur[j]
            if g is not None:
                g_max[j] = g[better]
        f_cur[idx] = obj
        if k in marks and k < steps:
            halve = (ups[idx] < RHO * (k - last_mark)) | (~reduced[idx] & (f_max[idx] <= f_ckpt[idx]))
            j = idx[halve]
            eta[j] /= 2
            x_cur[j] = x_max[j]
            x_prev[j] = x_max[j]
            grad[j] = g_max[j]
            f_cur[j] = f_max[j]
            reduced[idx] = halve
            f_ckpt[idx] = f_max[idx]
            ups[idx] = 0
            last_mark = k
        if step_sizes is not None:
            step_sizes.append((k, eta.clone()))
        if keep is not None:
            idx = idx[keep]
    return evals


class _APGD(Attack):
    """The shared runs: restarts (and, for APGD-T, targets) in turn, each on the points still robust."""

    norm = "linf"
    iterative = True

    def __init__(self, eps: float, steps: int, restarts: int, targeted: bool, early_stop: bool,
                 record_trajectory: bool, seed: int | None) -> None:
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if restarts < 1:
            raise ValueError(f"restarts must be at least 1, got {restarts}")
        self.eps = self.check_eps(eps)
        self.steps = int(steps)
        self.restarts = int(restarts)
        self.set_modes(targeted, early_stop, record_trajectory)
        self.seed = seed

    def params(self) -> dict:
        return {
            "eps": self.eps,
            "steps": self.steps,
            "step_size_rule": f"{INITIAL_STEP:g}*ε, halved when progress stalls",
            "restarts": self.restarts,
            "random_start": True,
            "rho": RHO,
            "momentum": MOMENTUM,
            "seed": self.seed,
            **self.mode_params(),
        }

    def runs(self, clean_logits: torch.Tensor, tgt: torch.Tensor | None) -> list[torch.Tensor | None]:
        """The loss target of each run in order (None: the loss has none)."""
        return [tgt] * self.restarts

    def loss(self, logits: torch.Tensor, y: torch.Tensor, aim: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        """Per sample: the first iterate that reaches the goal (any run), else the iterate with the highest
        loss of the runs made."""
        eps = self.eps
        lo, hi = (x - eps).clamp(0.0, 1.0), (x + eps).clamp(0.0, 1.0)
        gen = torch.Generator(device=x.device)
        gen.manual_seed(0 if self.seed is None else int(self.seed))
        with torch.no_grad():
            clean_logits = model(x)
        clean_pred = clean_logits.argmax(1)
        eligible, success, success_step, best_x, best_logits = starting_point(x, clean_logits, y, tgt)
        best_obj = torch.full(y.shape, float("-inf"), device=x.device)
        recorder = TrajectoryRecorder(self.record_trajectory)
        cur_x, cur_probs = x.clone(), torch.softmax(clean_logits, 1)
        evals = 0
        for r, aim in enumerate(self.runs(clean_logits, tgt)):
            active = eligible & ~success if self.early_stop else eligible.clone()
            if aim is not None:
                active &= aim != y
            idx = active.nonzero().squeeze(1)
            noise = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * (2 * eps) - eps
            start = (x + noise).clamp(0.0, 1.0)
            if idx.numel() == 0:
                continue

            def goal(xa: torch.Tensor, i: torch.Tensor, aim=aim) -> tuple[torch.Tensor, torch.Tensor]:
                logits = model(xa)
                return logits, self.loss(logits, y[i], None if aim is None else aim[i])

            def visit(t: int, i: torch.Tensor, xa: torch.Tensor, logits: torch.Tensor, obj: torch.Tensor,
                      r: int = r) -> torch.Tensor | None:
                hit = reached(logits, y[i], None if tgt is None else tgt[i])
                new = hit & ~success[i]
                j = i[new]
                success[j] = True
                success_step[j] = r * (self.steps + 1) + t
                best_x[j] = xa[new]
                best_logits[j] = logits[new]
                fail = ~success[i] & (obj > best_obj[i])
                j = i[fail]
                best_x[j], best_logits[j], best_obj[j] = xa[fail], logits[fail], obj[fail]
                if recorder.enabled:
                    cur_x[i] = xa
                    cur_probs[i] = torch.softmax(logits, 1)
                    recorder.add(cur_x, cur_probs, r, t)
                return ~hit if self.early_stop else None

            evals += apgd_walk(goal, start, lo, hi, eps, self.steps, idx=idx, visit=visit, cancel=cancel)
        return build_output(
            self.name, self.params(), x, best_x, best_logits, y, tgt, clean_pred, success, success_step, evals,
            recorder.result(),
        )


class APGDCE(_APGD):
    """APGD on the cross-entropy loss (targeted: minus the cross-entropy of the target), from a uniform random
    start in the ε-box; `restarts` fresh random starts, each on the points still robust. 100 steps, as in
    AutoAttack."""

    name = "apgd-ce"

    def __init__(
        self,
        eps: float,
        steps: int = 100,
        restarts: int = 1,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        seed: int | None = 0,
    ) -> None:
        super().__init__(eps, steps, restarts, targeted, early_stop, record_trajectory, seed)

    def params(self) -> dict:
        return {**super().params(), "loss": "ce"}

    def loss(self, logits: torch.Tensor, y: torch.Tensor, aim: torch.Tensor | None) -> torch.Tensor:
        return objective(logits, y, aim, "ce")


class APGDT(_APGD):
    """APGD on the targeted DLR loss. Untargeted (the AutoAttack way): one run toward each of the model's
    `target_classes` next-best classes on the clean image, in order, each on the points still robust; a point
    is broken when any run makes the model misread it. Targeted at a class: the runs all aim at that class and
    succeed only when the model reads it."""

    name = "apgd-t"

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
        if int(target_classes) < 1:
            raise ValueError(f"target_classes must be at least 1, got {target_classes}")
        self.target_classes = int(target_classes)
        super().__init__(eps, steps, restarts, targeted, early_stop, record_trajectory, seed)

    def params(self) -> dict:
        return {**super().params(), "loss": "dlr-targeted", "target_classes": self.target_classes}

    def runs(self, clean_logits: torch.Tensor, tgt: torch.Tensor | None) -> list[torch.Tensor | None]:
        return target_runs(clean_logits, tgt, self.target_classes, self.restarts)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, aim: torch.Tensor | None) -> torch.Tensor:
        return dlr_loss(logits, y, aim)

