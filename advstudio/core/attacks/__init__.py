"""Adversarial attacks in [0, 1] pixel space. Settings live on the attack object; model and batch per call.

registry (no torch): the attacks offered, their words and settings, make_attack(name, **settings).
base: the Attack class (run → forward; chunks, eval mode, targets). fgsm: FGSM. linf: BIM, PGD, MI-FGSM on one
L∞ loop (linf_walk), also used by adversarial training and the detector-aware attack. l2: C&W L2 and DeepFool.
apgd: APGD-CE and APGD-T (AutoAttack's gradient attacks, self-tuning step size). fab: FAB-T (minimal-norm,
along the boundary; L∞ and L2). square: the Square attack (score-based, no gradients). common: AttackOutput, norms, the margin and objective, trajectories.

This package imports only the registry, so reading it costs no torch import."""

from advstudio.core.attacks.registry import (
    ATTACK_NAMES,
    ATTACKS,
    AttackSpec,
    attack_class,
    attack_settings,
    make_attack,
)

__all__ = ["ATTACK_NAMES", "ATTACKS", "AttackSpec", "attack_class", "attack_settings", "make_attack"]
