"""Minimal-L2 attacks in [0, 1] pixel space: Carlini & Wagner L2 and DeepFool. They take no ε: they search for
the smallest perturbation that fools the model, and a robustness curve reads their per-sample L2 norms
against a radius."""

from __future__ import annotations

import math
import threading

import torch
from torch import nn

from advstudio.core.attacks.base import Attack
from advstudio.core.attacks.common import (
    AttackOutput,
    TrajectoryRecorder,
    build_output,
    check_cancel,
    eval_mode,
    margin,
    reached,
    starting_point,
)

__all__ = ["CW", "DeepFool"]

# tanh-space squeeze: atanh(±1) is infinite, so pixels at exactly 0 or 1 (most of MNIST) could never move.
_TANH_SQUEEZE = 1.0 - 1e-6


class CW(Attack):
    """Carlini & Wagner L2 (2017): minimise ‖δ‖₂² + c·f(x+δ) with Adam over w, where x+δ = (tanh(w)+1)/2 keeps
    pixels in [0, 1]; f is the logit margin, floored at −κ. A binary search per sample shrinks c where an
    adversarial example was found and grows it (×10 until bracketed) where none was. x_adv is the smallest-L2
    adversarial example seen at any step of any round.

    early_stop here is Carlini's abort-early: a round ends once the batch's loss has stopped falling (checked
    every steps/10 steps). Stopping a sample at its first misclassification would defeat the norm minimisation.

    Defaults suit an interactive budget (100 Adam steps × 5 rounds): lr 0.1 rather than Carlini's 0.01, which
    needs thousands of steps before pixels at 0 or 1 (deep in tanh's flat tails) move at all."""

    name = "cw"
    norm = "l2"
    iterative = True

    def __init__(
        self,
        c: float = 1.0,
        kappa: float = 0.0,
        steps: int = 100,
        lr: float = 0.1,
        binary_search_steps: int = 5,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
    ) -> None:
        if c <= 0:
            raise ValueError(f"c must be positive, got {c}")
        if kappa < 0:
            raise ValueError(f"κ must be non-negative, got {kappa}")
        if steps < 1 or binary_search_steps < 1:
            raise ValueError("steps and binary_search_steps must be at least 1")
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.c = float(c)
        self.kappa = float(kappa)
        self.steps = int(steps)
        self.lr = float(lr)
        self.binary_search_steps = int(binary_search_steps)
        self.set_modes(targeted, early_stop, record_trajectory)

    def params(self) -> dict:
        return {
            "c": self.c,
            "kappa": self.kappa,
            "steps": self.steps,
            "lr": self.lr,
            "binary_search_steps": self.binary_search_steps,
            **self.mode_params(),
        }

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        recorder = TrajectoryRecorder(self.record_trajectory)
        evals = 0
        with eval_mode(model):
            with torch.no_grad():
                clean_logits = model(x)
            clean_pred = clean_logits.argmax(1)
            eligible, success, success_step, best_x, best_logits = starting_point(x, clean_logits, y, tgt)
            best_l2sq = torch.where(success, 0.0, math.inf).to(x.dtype)
            cur_x = x.clone()
            cur_probs = torch.softmax(clean_logits, 1)
            idx = (eligible & ~success).nonzero().squeeze(1)
            if idx.numel():
                xa = x[idx]
                ya = y[idx]
                ta = None if tgt is None else tgt[idx]
                w0 = torch.atanh((2 * xa - 1) * _TANH_SQUEEZE)
                c = torch.full((idx.numel(),), self.c, device=x.device, dtype=x.dtype)
                c_lo = torch.zeros_like(c)
                c_hi = torch.full_like(c, math.inf)
                for rnd in range(self.binary_search_steps):
                    mod = torch.zeros_like(w0)
                    m1 = torch.zeros_like(w0)
                    m2 = torch.zeros_like(w0)
                    found = torch.zeros_like(c, dtype=torch.bool)
                    prev = math.inf
                    for step in range(self.steps):
                        check_cancel(cancel)
                        mod.requires_grad_(True)
                        xp = (torch.tanh(w0 + mod) + 1) / 2
                        logits = model(xp)
                        l2sq = (xp - xa).flatten(1).pow(2).sum(1)
                        short = -margin(logits, ya, ta)  # how far the goal is (≤ 0 once met)
                        loss = l2sq + c * short.clamp_min(-self.kappa)
                        (grad,) = torch.autograd.grad(loss.sum(), mod)
                        evals += idx.numel()
                        mod = mod.detach()
                        with torch.no_grad():
                            ok = reached(logits, ya, ta) & (short <= -self.kappa)
                            found |= ok
                            better = ok & (l2sq < best_l2sq[idx])
                            if better.any():
                                j = idx[better]
                                first = ~success[j]
                                success_step[j[first]] = rnd * self.steps + step + 1
                                success[j] = True
                                best_l2sq[j] = l2sq[better]
                                best_x[j] = xp.detach()[better]
                                best_logits[j] = logits.detach()[better]
                            if recorder.enabled:
                                cur_x[idx] = xp.detach()
                                cur_probs[idx] = torch.softmax(logits.detach(), 1)
                                recorder.add(cur_x, cur_probs, rnd, step)
                            # Adam (β1 0.9, β2 0.999), restarted each round as in Carlini's code.
                            m1.mul_(0.9).add_(grad, alpha=0.1)
                            m2.mul_(0.999).addcmul_(grad, grad, value=0.001)
                            k = step + 1
                            m_hat = m1 / (1 - 0.9**k)
                            v_hat = m2 / (1 - 0.999**k)
                            mod -= self.lr * m_hat / (v_hat.sqrt() + 1e-8)
                            if self.early_stop and step % max(self.steps // 10, 1) == 0:
                                total = float(loss.sum())
                                if total > prev * 0.9999:
                                    break
                                prev = total
                    c_hi = torch.where(found, torch.minimum(c_hi, c), c_hi)
                    c_lo = torch.where(found, c_lo, torch.maximum(c_lo, c))
                    c = torch.where(torch.isfinite(c_hi), (c_lo + c_hi) / 2, c * 10)
        return build_output(
            self.name, self.params(), x, best_x, best_logits, y, tgt, clean_pred, success, success_step, evals,
            recorder.result(),
        )


class DeepFool(Attack):
    """DeepFool (Moosavi-Dezfooli et al., 2016), minimal L2: linearize the classifier at the current point, add
    the step r to the nearest linearized decision boundary to the running total, and move to
    clamp(x + (1 + overshoot)·Σr, 0, 1); repeat until the class changes (each sample stops on its own) or
    `steps` run out. Targeted: step to the boundary between the current class and the target until it wins.

    As in the paper's reference code the overshoot scales the total perturbation, which leaves a margin past
    the boundary. (torchattacks scales each step instead; its final step is tiny, so its examples sit on the
    boundary within float rounding and many flip back when re-evaluated in another batch.)

    DeepFool always stops a sample once it is fooled (that is the algorithm), so early_stop changes nothing;
    full mode (early_stop=False) is accepted for a uniform interface and still records trajectories."""

    name = "deepfool"
    norm = "l2"
    iterative = True

    def __init__(
        self,
        steps: int = 50,
        overshoot: float = 0.02,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
    ) -> None:
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if overshoot < 0:
            raise ValueError(f"overshoot must be non-negative, got {overshoot}")
        self.steps = int(steps)
        self.overshoot = float(overshoot)
        self.set_modes(targeted, early_stop, record_trajectory)

    def params(self) -> dict:
        return {
            "steps": self.steps,
            "overshoot": self.overshoot,
            **self.mode_params(),
        }

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        recorder = TrajectoryRecorder(self.record_trajectory)
        evals = 0
        with eval_mode(model):
            with torch.no_grad():
                clean_logits = model(x)
            clean_pred = clean_logits.argmax(1)
            classes = clean_logits.shape[1]
            eligible, success, success_step, best_x, best_logits = starting_point(x, clean_logits, y, tgt)
            x_cur = x.clone()
            r_tot = torch.zeros_like(x)
            cur_probs = torch.softmax(clean_logits, 1)
            idx = (eligible & ~success).nonzero().squeeze(1)
            for t in range(self.steps + 1):
                if idx.numel() == 0:
                    break
                check_cancel(cancel)
                last = t == self.steps
                xa = x_cur[idx].detach().requires_grad_(not last)
                with torch.set_grad_enabled(not last):
                    logits = model(xa)
                lg = logits.detach()
                ya = y[idx]
                ta = None if tgt is None else tgt[idx]
                hit = reached(lg, ya, ta) if t > 0 else torch.zeros_like(ya, dtype=torch.bool)
                if hit.any():
                    j = idx[hit]
                    success[j] = True
                    success_step[j] = t
                    best_x[j] = xa.detach()[hit]
                    best_logits[j] = lg[hit]
                if recorder.enabled:
                    cur_probs[idx] = torch.softmax(lg, 1)
                    recorder.add(x_cur, cur_probs, 0, t)
                if last:
                    still = ~hit
                    best_x[idx[still]] = xa.detach()[still]
                    best_logits[idx[still]] = lg[still]
                    break
                if tgt is None:
                    # Gradients of every logit: the nearest boundary may be with any class.
                    grads = torch.stack(
                        [torch.autograd.grad(logits[:, k].sum(), xa, retain_graph=k < classes - 1)[0]
                         for k in range(classes)], 1)  # (n, classes, C, H, W)
                    evals += idx.numel() * classes
                    f = lg - lg.gather(1, ya[:, None])  # (n, classes), ≤ 0 while y still wins
                    w = grads - grads[torch.arange(len(ya), device=x.device), ya][:, None]
                    wn = w.flatten(2).norm(dim=2).clamp_min(1e-12)
                    dist = f.abs() / wn
                    dist.scatter_(1, ya[:, None], math.inf)
                    lk = dist.argmin(1)
                    f_l = f.gather(1, lk[:, None]).squeeze(1)
                    w_l = w[torch.arange(len(lk), device=x.device), lk]
                    wn_l = wn.gather(1, lk[:, None]).squeeze(1)
                else:
                    # Boundary between the current winner and the target.
                    cur = lg.argmax(1)
                    pair = logits.gather(1, ta[:, None]).squeeze(1) - logits.gather(1, cur[:, None]).squeeze(1)
                    (w_l,) = torch.autograd.grad(pair.sum(), xa)
                    evals += idx.numel()
                    f_l = pair.detach()
                    wn_l = w_l.flatten(1).norm(dim=1).clamp_min(1e-12)
                keep = ~hit
                idx, xa, f_l, w_l, wn_l = idx[keep], xa.detach()[keep], f_l[keep], w_l[keep], wn_l[keep]
                r = ((f_l.abs() + 1e-4) / wn_l.pow(2)).view(-1, *([1] * (x.ndim - 1))) * w_l
                r_tot[idx] += r
                x_cur[idx] = (x[idx] + (1 + self.overshoot) * r_tot[idx]).clamp_(0.0, 1.0)
        return build_output(
            self.name, self.params(), x, best_x, best_logits, y, tgt, clean_pred, success, success_step, evals,
            recorder.result(),
        )
