"""The attacks the CLI, the window and the report offer, in menu order: names, words and settings, without
importing torch (views and argument parsers read it). The classes load on first use.

Adding an attack: write its module (a subclass of attacks.base.Attack) and add one AttackSpec here; the lab
tables, the attack form, `advstudio evaluate --attack` and the report's titles all read this table."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

REQUIRED = object()  # a setting with no default (ε)


@dataclass(frozen=True)
class AttackSpec:
    """What a caller needs to know of an attack without building it."""

    name: str
    title: str  # as figures and tables print it
    module: str  # where its class lives
    class_name: str
    norm: str  # "linf": a budget ε; "l2" / "l0": minimal (no budget, reports the L2 / pixels it needed)
    iterative: bool
    summary: str  # one plain line
    settings: tuple[tuple[str, Any], ...]  # (keyword, default) in the class's order
    step_size_factor: float | None = None  # L∞ iterative: default step = factor·ε/steps

    @property
    def uses_eps(self) -> bool:
        return self.norm == "linf"

    @property
    def minimal(self) -> bool:
        """No ε budget: it reports the size it needed (L2 norm or pixels changed), and curves read that."""
        return self.norm in MINIMAL_NORMS

    def defaults(self) -> dict[str, Any]:
        return dict(self.settings)


# The size a curve's x-axis measures, per norm kind: words for a radius, for an axis, and the largest value on
# a 28×28 image in [0, 1] (‖δ‖∞ ≤ 1, ‖δ‖₂ ≤ √784 = 28, at most 784 pixels changed).
MINIMAL_NORMS = ("l2", "l0")
RADIUS_WORDS = {"linf": "L∞ ε", "l2": "L2 radius", "l0": "pixels changed"}
AXIS_WORDS = {"linf": "ε (pixel units, L∞)", "l2": "L2 radius ‖δ‖₂", "l0": "pixels changed (L0)"}
MAX_RADIUS = {"linf": 1.0, "l2": 28.0, "l0": 784.0}


_COMMON = (("targeted", False), ("early_stop", True), ("record_trajectory", False))
ATTACKS: dict[str, AttackSpec] = {s.name: s for s in (
    AttackSpec("fgsm", "FGSM", "advstudio.core.attacks.fgsm", "FGSM", "linf", False,
               "one step of size ε along the sign of the loss gradient",
               (("eps", REQUIRED), ("targeted", False))),
    AttackSpec("bim", "BIM", "advstudio.core.attacks.linf", "BIM", "linf", True,
               "FGSM repeated in small steps, kept inside the ε-box",
               (("eps", REQUIRED), ("steps", 10), ("step_size", None), ("targeted", False), ("early_stop", True),
                ("record_trajectory", False), ("loss", "ce")), 2.5),
    AttackSpec("pgd", "PGD", "advstudio.core.attacks.linf", "PGD", "linf", True,
               "BIM from random starting points in the ε-box (the standard strong L∞ attack)",
               (("eps", REQUIRED), ("steps", 40), ("step_size", None), ("restarts", 1), ("random_start", True),
                ("targeted", False), ("early_stop", True), ("record_trajectory", False), ("loss", "ce"),
                ("seed", 0)), 2.5),
    AttackSpec("mifgsm", "MI-FGSM", "advstudio.core.attacks.linf", "MIFGSM", "linf", True,
               "BIM with momentum: steps follow a running sum of gradients",
               (("eps", REQUIRED), ("steps", 10), ("step_size", None), ("decay", 1.0), ("targeted", False),
                ("early_stop", True), ("record_trajectory", False), ("loss", "ce")), 1.0),
    AttackSpec("cw", "C&W L2", "advstudio.core.attacks.l2", "CW", "l2", True,
               "searches for the smallest change (L2) that flips the class",
               (("c", 1.0), ("kappa", 0.0), ("steps", 100), ("lr", 0.1), ("binary_search_steps", 5)) + _COMMON),
    AttackSpec("deepfool", "DeepFool", "advstudio.core.attacks.l2", "DeepFool", "l2", True,
               "walks to the nearest decision boundary of the linearised network",
               (("steps", 50), ("overshoot", 0.02)) + _COMMON),
    AttackSpec("apgd-ce", "APGD-CE", "advstudio.core.attacks.apgd", "APGDCE", "linf", True,
               "PGD that sets its own step size: it halves the step when progress stalls (AutoAttack)",
               (("eps", REQUIRED), ("steps", 100), ("restarts", 1)) + _COMMON + (("seed", 0),)),
    AttackSpec("apgd-t", "APGD-T", "advstudio.core.attacks.apgd", "APGDT", "linf", True,
               "APGD aimed in turn at each of the model's next-best digits, with the DLR loss (AutoAttack)",
               (("eps", REQUIRED), ("steps", 100), ("target_classes", 9), ("restarts", 1)) + _COMMON
               + (("seed", 0),)),
    AttackSpec("fab-t", "FAB-T", "advstudio.core.attacks.fab", "FABT", "linf", True,
               "walks along the boundary toward each next-best digit for the smallest change (AutoAttack)",
               (("eps", REQUIRED), ("steps", 100), ("target_classes", 9), ("restarts", 1)) + _COMMON
               + (("seed", 0),)),
    AttackSpec("fab-t-l2", "FAB-T L2", "advstudio.core.attacks.fab", "FABTL2", "l2", True,
               "FAB-T's smallest change measured in L2 (no budget: it reports the size it needed)",
               (("steps", 100), ("target_classes", 9), ("restarts", 1)) + _COMMON + (("seed", 0),)),
    AttackSpec("square", "Square", "advstudio.core.attacks.square", "Square", "linf", True,
               "random square patches kept when they lower the model's score: no gradients, only the scores",
               (("eps", REQUIRED), ("queries", 5000), ("p_init", 0.8)) + _COMMON + (("seed", 0),)),
    AttackSpec("jsma", "JSMA", "advstudio.core.attacks.jsma", "JSMA", "l0", True,
               "changes the two pixels that most push toward another digit, pair after pair: few pixels, big changes",
               (("theta", 1.0), ("gamma", 0.1)) + _COMMON),
    AttackSpec("onepixel", "One pixel", "advstudio.core.attacks.onepixel", "OnePixel", "l0", True,
               "evolves where to put 1–5 changed pixels and how bright, using only the scores",
               (("pixels", 1), ("population", 400), ("steps", 100)) + _COMMON + (("seed", 0),)),
    AttackSpec("simba", "SimBA", "advstudio.core.attacks.simba", "SimBA", "linf", True,
               "tries ±ε along one pixel (or one smooth pattern) at a time, keeps what lowers the right digit's "
               "score: only the scores, no gradients",
               (("eps", REQUIRED), ("queries", 1000), ("basis", "pixel")) + _COMMON + (("seed", 0),)),
    AttackSpec("hopskipjump", "HopSkipJump", "advstudio.core.attacks.hopskipjump", "HopSkipJump", "l2", True,
               "only the answer, never a score: walks along the decision boundary, shrinking the change (L2)",
               (("queries", 1000), ("init_evals", 100), ("max_evals", 1000)) + _COMMON + (("seed", 0),)),
    AttackSpec("hopskipjump-linf", "HopSkipJump L∞", "advstudio.core.attacks.hopskipjump", "HopSkipJumpLinf", "linf",
               True, "only the answer, never a score: shrinks the largest pixel change along the boundary",
               (("eps", REQUIRED), ("queries", 1000), ("init_evals", 100), ("max_evals", 1000)) + _COMMON
               + (("seed", 0),)),
    AttackSpec("autoattack", "AutoAttack", "advstudio.core.attacks.autoattack", "AutoAttack", "linf", True,
               "APGD-CE, APGD-T, FAB-T and Square in turn, each on what the others missed: the standard test",
               (("eps", REQUIRED), ("version", "standard"), ("budget", 1.0)) + _COMMON + (("seed", 0),)),
)}
ATTACK_NAMES: tuple[str, ...] = tuple(ATTACKS)
# Settings a caller may pass to any attack; an attack that has no use for them ignores them.
UNIVERSAL_SETTINGS = frozenset({"early_stop", "record_trajectory"})


def spec(name: str) -> AttackSpec:
    try:
        return ATTACKS[name]
    except KeyError:
        raise ValueError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}") from None


def attack_class(name: str) -> type:
    """The attack's class (imports its module, and so torch)."""
    s = spec(name)
    return getattr(importlib.import_module(s.module), s.class_name)


def attack_settings(name: str) -> dict[str, Any]:
    """The settings an attack takes and their defaults (REQUIRED where there is none), for forms."""
    return spec(name).defaults()


def make_attack(name: str, **settings):
    """An attack from the registry. Settings left None take the attack's defaults; a setting the attack does
    not take raises ValueError (early_stop and record_trajectory are silently ignored by FGSM)."""
    accepted = spec(name).defaults()
    kwargs = {}
    for key, value in settings.items():
        if value is None:
            continue
        if key not in accepted:
            if key in UNIVERSAL_SETTINGS:
                continue
            raise ValueError(f"{name} does not take the setting {key!r} (it takes {', '.join(accepted)})")
        kwargs[key] = value
    return attack_class(name)(**kwargs)
