"""Adversarial attacks in [0, 1] pixel space. Settings live on the attack object; model and batch per call.

Every attack runs the model in eval mode and restores its previous mode, and differentiates with respect to
the input only (torch.autograd.grad), so the parameters' .grad is never touched."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run in eval mode (dropout off: it changes gradients), then restore the previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


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


class FGSM:
    """Fast Gradient Sign Method (Goodfellow et al., 2014): one signed-gradient step of size ε (L∞)."""

    name = "fgsm"

    def __init__(self, eps: float, targeted: bool = False) -> None:
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"ε must lie in [0, 1] pixel space, got {eps}")
        self.eps = float(eps)
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
