"""Gradient-masking checks, in the spirit of AutoAttack's own flags: signs that a robustness figure measures a
model that hides its gradient rather than one that resists attacks. Each check says what it saw and what it
means, in plain words, so it can sit beside the figure it qualifies.

- outputs: a model that returns probabilities (rows ≥ 0 summing to 1) instead of logits saturates the softmax
  the attacks put on top, so cross-entropy gradients vanish;
- randomness: two identical calls that differ mean the attacks need EOT (AutoAttack "rand");
- zero gradients: many inputs whose loss gradient is exactly zero (quantization, thresholds) starve gradient
  attacks;
- large ε: at ε = 0.5 an L∞ attacker can make any MNIST image mid-grey, so robust accuracy must fall near 0;
  where it does not, the attack, not the model, is failing;
- black-box beats white-box: in an AutoAttack breakdown, points Square broke after every gradient attack
  failed on them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MASKING_SAMPLE", "MaskingCheck", "breakdown_check", "last_breakdown", "masking_checks", "sample_checks"]

MASKING_SAMPLE = 32  # images the windows' checks run on (the large-ε check attacks them): about a second
LARGE_EPS = 0.5
LARGE_EPS_MAX_ACCURACY = 0.1  # above this at ε = 0.5 the attack is not getting through
ZERO_GRADIENT_SHARE = 0.1  # more inputs than this with an exactly zero gradient is a warning


@dataclass(frozen=True)
class MaskingCheck:
    """One check: its name, whether it raised a flag, what it saw and what that means."""

    name: str
    flagged: bool
    saw: str
    means: str

    def line(self) -> str:
        return f"{'⚠' if self.flagged else '✓'} {self.name}: {self.saw} {self.means}"


def _outputs_check(logits: torch.Tensor) -> MaskingCheck:
    rows = logits.sum(1)
    probs = bool((logits >= 0).all()) and bool(torch.allclose(rows, torch.ones_like(rows), atol=1e-3))
    if probs:
        return MaskingCheck("outputs", True, "the model outputs probabilities (each row is ≥ 0 and sums to 1), "
                            "not logits.", "The attacks' softmax on top of them flattens the loss, so gradient "
                            "attacks are weakened; the DLR-loss attacks (APGD-T) and Square are the figures to "
                            "trust.")
    return MaskingCheck("outputs", False, "the model outputs logits.", "The attacks' losses see real gradients.")


def _randomness_check(model: nn.Module, x: torch.Tensor) -> MaskingCheck:
    with torch.no_grad():
        a, b = model(x), model(x)
    if not torch.equal(a, b):
        gap = float((a - b).abs().max())
        return MaskingCheck("randomness", True, f"two identical calls differ (by up to {gap:.3g}).",
                            "The model draws random numbers: attack it through their average (AutoAttack "
                            "\u201crand\u201d, EOT over 20 draws); a figure from one draw flatters it.")
    return MaskingCheck("randomness", False, "two identical calls give the same answer.", "No EOT needed.")


def _zero_gradient_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MaskingCheck:
    xa = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(xa), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, xa)
    zero = grad.flatten(1).abs().amax(1) == 0
    share = float(zero.float().mean()) if len(zero) else 0.0
    if share > ZERO_GRADIENT_SHARE:
        return MaskingCheck("zero gradients", True, f"{share * 100:.0f} % of the inputs have an exactly zero loss "
                            "gradient.", "Gradient attacks cannot move there (a threshold, rounding or a saturated "
                            "softmax); trust a gradient-free attack (Square) or an adaptive one (BPDA) instead.")
    return MaskingCheck("zero gradients", False, f"{share * 100:.0f} % of the inputs have a zero gradient.",
                        "Gradients reach the input.")


def _large_eps_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> MaskingCheck:
    from advstudio.core.attacks import make_attack

    out = make_attack("apgd-ce", eps=LARGE_EPS, steps=steps, restarts=1, seed=0).run(model, x, y)
    acc = out.accuracy()
    if acc > LARGE_EPS_MAX_ACCURACY:
        return MaskingCheck("large ε", True, f"at ε = {LARGE_EPS} (pixel units) {acc * 100:.1f} % of the images "
                            f"are still read right under APGD-CE ({steps} steps).", "At that size every digit can "
                            "be turned mid-grey, so the attack is being blocked, not beaten: the smaller-ε figures "
                            "are not to be trusted.")
    return MaskingCheck("large ε", False, f"at ε = {LARGE_EPS} robust accuracy falls to {acc * 100:.1f} %.",
                        "The attack gets through when it should.")


def breakdown_check(breakdown: dict | None) -> MaskingCheck | None:
    """From an AutoAttack breakdown: did Square (no gradients) break points every gradient attack missed?"""
    if not breakdown or "square" not in breakdown:
        return None
    count = int(breakdown["square"])
    if count > 0:
        return MaskingCheck("black-box beats white-box", True, f"Square, which uses no gradients, broke {count} "
                            "point(s) that APGD-CE, APGD-T and FAB-T all missed.", "The sign AutoAttack's authors "
                            "flag as partial gradient masking: the gradient attacks are being misled.")
    return MaskingCheck("black-box beats white-box", False, "Square broke nothing the gradient attacks missed.",
                        "No sign that the gradients mislead.")


def masking_checks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, breakdown: dict | None = None,
                   steps: int = 20) -> list[MaskingCheck]:
    """Every check on a sample of images (x, y), plus the breakdown's if one is given. The model's train/eval
    mode is restored."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x)
        checks = [_outputs_check(logits), _randomness_check(model, x), _zero_gradient_check(model, x, y),
                  _large_eps_check(model, x, y, steps)]
    finally:
        model.train(was)
    extra = breakdown_check(breakdown)
    return checks + ([extra] if extra is not None else [])


def last_breakdown(curve) -> dict | None:
    """A robustness curve's AutoAttack breakdown at its largest ε (None when it has none)."""
    parts = [b for b in (curve.extra.get("breakdown") or []) if b] if curve is not None else []
    return parts[-1] if parts else None


def sample_checks(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, breakdown: dict | None = None,
                  sample: int = MASKING_SAMPLE) -> list[MaskingCheck]:
    """masking_checks on the first `sample` images, moved to the model's device."""
    device = next(model.parameters()).device
    k = min(len(images), sample)
    return masking_checks(model, images[:k].to(device), labels[:k].to(device), breakdown=breakdown)
