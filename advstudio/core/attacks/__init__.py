"""Adversarial attacks in [0, 1] pixel space. Settings live on the attack object; model and batch per call.

Every attack runs the model in eval mode and restores its previous mode, and differentiates with respect to
the input only (torch.autograd.grad), so the parameters' .grad is never touched.

The attack lab: ATTACKS maps a name to its class (FGSM here; BIM, PGD, MI-FGSM in attacks_linf; C&W and DeepFool
in attacks_l2); make_attack(name, **settings) builds one; attack.run(model, x, y, target=None, cancel=None)
returns an AttackOutput (attack_common) for every attack, FGSM included."""

from __future__ import annotations

import inspect
import threading

import torch
import torch.nn.functional as F
from torch import nn

# eval_mode and the result types live in attack_common so attacks_linf / attacks_l2 can share them without an
# import cycle; they are re-exported here, the one module callers import attacks from.
from advstudio.core.attacks.common import (
    in_chunks,
    L0_TOLERANCE,
    AttackCancelled,
    AttackOutput,
    Trajectory,
    build_output,
    check_target,
    eval_mode,
    perturbation_norms,
    reached,
)


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
    norm = "linf"
    uses_eps = True
    iterative = False

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

    @in_chunks
    def run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        target: torch.Tensor | None = None,
        cancel: threading.Event | None = None,
    ) -> AttackOutput:
        """The uniform attack interface (see AttackOutput). The clean input counts as step 0: a clean mistake is a
        success with x_adv = x; otherwise x_adv is the FGSM image. `cancel` is accepted for uniformity."""
        x = x.detach()
        y = y.to(x.device)
        tgt = check_target(self.targeted, target, y)
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


from advstudio.core.attacks.l2 import CW, DeepFool  # noqa: E402 - after FGSM; these modules import attack_common only
from advstudio.core.attacks.linf import BIM, MIFGSM, PGD  # noqa: E402

# Registry: the names the CLI and the GUI offer, in menu order.
ATTACKS: dict[str, type] = {
    "fgsm": FGSM,
    "bim": BIM,
    "pgd": PGD,
    "mifgsm": MIFGSM,
    "cw": CW,
    "deepfool": DeepFool,
}
# Settings a caller may pass to any attack; an attack that has no use for them ignores them.
_UNIVERSAL = {"early_stop", "record_trajectory"}


def make_attack(name: str, **settings):
    """An attack from the registry. Settings left None take the attack's defaults; a setting the attack does
    not take raises ValueError (early_stop and record_trajectory are silently ignored by FGSM)."""
    try:
        cls = ATTACKS[name]
    except KeyError:
        raise ValueError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}") from None
    accepted = inspect.signature(cls).parameters
    kwargs = {}
    for key, value in settings.items():
        if value is None:
            continue
        if key not in accepted:
            if key in _UNIVERSAL:
                continue
            raise ValueError(f"{name} does not take the setting {key!r} (it takes {', '.join(accepted)})")
        kwargs[key] = value
    return cls(**kwargs)


def attack_settings(name: str) -> dict[str, object]:
    """The settings an attack takes and their defaults (inspect.Parameter.empty where required), for forms."""
    return {k: p.default for k, p in inspect.signature(ATTACKS[name]).parameters.items()}


__all__ = [
    "ATTACKS", "BIM", "CW", "DeepFool", "FGSM", "MIFGSM", "PGD", "AttackCancelled", "AttackOutput", "Trajectory",
    "L0_TOLERANCE", "apply_perturbation", "attack_settings", "eval_mode", "fgsm_direction", "make_attack",
    "perturbation_norms",
]
