"""FGSM, the one-step attack the studio's slider shows, and its two halves (the direction, which does not
depend on ε, and the step), which the studio, the curves and the detector use directly."""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.attacks.base import Attack
from advstudio.core.attacks.common import AttackOutput, build_output, eval_mode, reached


def fgsm_direction(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The FGSM step direction and the clean logits (from the same forward pass).

    Untargeted: +sign(∇ₓ L(x, y)), which raises the loss of the true class.
    Targeted: −sign(∇ₓ L(x, target)), which lowers the loss toward the target class.
    The direction does not depend on ε, so one call serves a whole robustness curve or a slider."""
    with eval_mode(model), torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        logits = model(xg)
        goal = y if target is None else target
        loss = F.cross_entropy(logits, goal, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xg)
    direction = grad.sign()
    if target is not None:
        direction = -direction
    return direction.detach(), logits.detach()


def apply_perturbation(x: torch.Tensor, direction: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x_adv = clamp(x + ε·direction, 0, 1), and the perturbation actually applied (x_adv − x)."""
    x_adv = (x + eps * direction).clamp_(0.0, 1.0)
    return x_adv, x_adv - x


class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al., 2014): one signed-gradient step of size ε (L∞)."""

    name = "fgsm"
    norm = "linf"
    iterative = False

    def __init__(self, eps: float, targeted: bool = False) -> None:
        self.eps = self.check_eps(eps)
        self.targeted = targeted

    def params(self) -> dict:
        return {"eps": self.eps, "targeted": self.targeted}

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (x_adv, perturbation). For a targeted attack, `target` holds the target classes."""
        if self.targeted and target is None:
            raise ValueError("a targeted FGSM needs target classes")
        direction, _ = fgsm_direction(model, x, y, target if self.targeted else None)
        return apply_perturbation(x.detach(), direction, self.eps)

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        """Success where the clean input or the FGSM image reaches the goal (x_adv = x for a clean mistake)."""
        direction, clean_logits = fgsm_direction(model, x, y, tgt)
        x_step, _ = apply_perturbation(x, direction, self.eps)
        with eval_mode(model), torch.no_grad():
            step_logits = model(x_step)
        eligible = torch.ones_like(y, dtype=torch.bool) if tgt is None else tgt != y
        hit0 = reached(clean_logits, y, tgt) & eligible
        hit1 = reached(step_logits, y, tgt) & eligible
        keep_clean = (hit0 | ~eligible)[:, None]
        x_adv = torch.where(keep_clean.view(-1, *([1] * (x.ndim - 1))), x, x_step)
        adv_logits = torch.where(keep_clean, clean_logits, step_logits)
        success = hit0 | hit1
        success_step = torch.where(hit0, 0, torch.where(hit1, 1, -1))
        return build_output(
            self.name, {**self.params(), "steps": 1, "early_stop": False, "norm": self.norm}, x, x_adv, adv_logits, y, tgt,
            clean_logits.argmax(1), success, success_step, int(eligible.sum()), None,
        )
