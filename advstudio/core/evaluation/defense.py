"""A defense's robustness curve, measured the honest way: the attacker differentiates one model (the naive
view of the defense, the defense with BPDA/EOT, a single ensemble member, …) and the adversarial examples are
then judged by the deployed defense itself (one fresh noise draw, the real JPEG codec, the whole ensemble,
the detector's verdict).

Attacks here are L∞ FGSM (one step), PGD (random start, fixed steps, the final iterate, no early stop) and
AutoAttack (Croce & Hein 2020: "standard" for deterministic defenses, "rand" with EOT over 20 draws for
randomized ones; `budget` < 1 scales its steps and queries for a quick look), in [0, 1] pixel space. `defense_curve` returns the same RobustnessCurve as `advstudio evaluate`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from advstudio.core.attacks.common import eval_mode, ordered_breakdown
from advstudio.core.attacks.fgsm import apply_perturbation, fgsm_direction
from advstudio.core.errors import EvaluationCancelled
from advstudio.core.evaluation.curves import RobustnessCurve
from advstudio.core.training import linf_pgd

__all__ = ["craft_linf", "defense_curve", "autoattack_label", "TemperatureScaled", "DEFENSE_ATTACKS"]

DEFENSE_ATTACKS = ("fgsm", "pgd", "autoattack")
Craft = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # (x, y, ε) → x_adv
Judge = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, y) → per-sample "defended" (bool)


class TemperatureScaled(nn.Module):
    """logits / T: the same classes, an unsaturated softmax. Attacking a distilled model through it undoes
    the vanished gradient (Carlini & Wagner's remedy for defensive distillation)."""

    def __init__(self, model: nn.Module, temperature: float) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"the temperature must be positive, got {temperature}")
        self.model = model
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) / self.temperature


def craft_linf(attacked: nn.Module, attack: str, steps: int = 40, step_size: float | None = None,
               version: str = "standard", budget: float = 1.0) -> Craft:
    """An (x, y, ε) → x_adv function: FGSM, PGD or AutoAttack (`version`, `budget`) on `attacked` (eval mode,
    input gradients only, clamped). The craft takes an optional `cancel` Event (AutoAttack reads it between
    steps; defense_curve passes it)."""
    if attack not in DEFENSE_ATTACKS:
        raise ValueError(f"unknown attack {attack!r}: choose from {', '.join(DEFENSE_ATTACKS)}")
    if attack == "autoattack":
        from advstudio.core.attacks import make_attack

        make_attack("autoattack", eps=0.1, version=version, budget=budget)  # bad settings fail here, not later

        def auto(x: torch.Tensor, y: torch.Tensor, eps: float, cancel: threading.Event | None = None) -> torch.Tensor:
            aa = make_attack("autoattack", eps=eps, version=version, budget=budget, seed=None)
            out = aa.run(attacked, x, y, cancel=cancel)
            auto.last_breakdown = out.breakdown  # type: ignore[attr-defined]
            return out.x_adv

        auto.cancellable = True  # type: ignore[attr-defined]
        auto.last_breakdown = None  # type: ignore[attr-defined]
        return auto

    def craft(x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        if attack == "fgsm":
            direction, _ = fgsm_direction(attacked, x, y)
            return apply_perturbation(x, direction, eps)[0]
        alpha = step_size if step_size is not None else 2.5 * eps / max(1, steps)
        return linf_pgd(attacked, x, y, eps, steps, alpha, random_start=True)

    return craft


def autoattack_label(version: str, budget: float) -> str:
    """"AutoAttack standard" / "AutoAttack rand (budget 0.25)": every AutoAttack figure names both."""
    return f"AutoAttack {version}" + ("" if float(budget) >= 1.0 else f" (budget {float(budget):g})")


def attack_params(attack: str, steps: int, step_size: float | None, version: str = "standard",
                  budget: float = 1.0) -> dict:
    """What the curve records about the attack (every figure names its attack, ε, steps; AutoAttack its version,
    budget and the steps/queries each of its attacks ran with)."""
    if attack == "autoattack":
        from advstudio.core.attacks import make_attack

        p = make_attack("autoattack", eps=0.1, version=version, budget=budget).params()
        return {"version": version, "budget": float(budget), "attacks": p["attacks"], "eot_draws": p["eot_draws"],
                "norm": "linf", "targeted": False, "label": autoattack_label(version, budget)}
    if attack == "fgsm":
        return {"steps": 1, "norm": "linf", "targeted": False}
    return {"steps": int(steps), "step_size": step_size, "step_size_rule": None if step_size else "2.5*eps/steps",
            "random_start": True, "restarts": 1, "early_stop": False, "iterate": "final", "norm": "linf",
            "targeted": False}


def defense_curve(
    deployed: nn.Module,
    craft: Craft,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps_list: Sequence[float],
    attack: str,
    params: dict | None = None,
    judge: Judge | None = None,
    batch_size: int = 250,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RobustnessCurve:
    """Accuracy of the deployed defense at each ε on adversarial examples from `craft`. `judge(x, y)` says per
    sample whether the defense held (default: deployed(x).argmax == y; a detector also counts a rejection).
    ε = 0 is the judge on the clean images. An AutoAttack craft's per-attack breakdown (points each attack broke,
    as the attacker saw them on the model it differentiates) goes into extra["breakdown"], one dict per ε.
    Seeds torch's RNG (random starts, noise draws) for repeatability."""
    eps_list = [float(e) for e in eps_list]
    for e in eps_list:
        if not 0.0 <= e <= 1.0:
            raise ValueError(f"ε must lie in [0, 1] pixel space, got {e}")
    device = next(deployed.parameters()).device

    def default_judge(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), eval_mode(deployed):
            return deployed(x).argmax(1) == y

    judge = judge or default_judge
    torch.manual_seed(seed)
    n = len(labels)
    correct = np.zeros(len(eps_list), dtype=np.int64)
    breakdowns: dict[int, dict[str, int]] = {}
    clean_correct = 0
    total, done = n * max(1, sum(1 for e in eps_list if e > 0)), 0
    start_time = time.perf_counter()
    for start in range(0, n, batch_size):
        xb = images[start : start + batch_size].to(device)
        yb = labels[start : start + batch_size].to(device)
        clean_hits = int(judge(xb, yb).sum())
        clean_correct += clean_hits
        for i, e in enumerate(eps_list):
            if cancel is not None and cancel.is_set():
                raise EvaluationCancelled("evaluation cancelled")
            if e == 0.0:
                correct[i] += clean_hits
                continue
            x_adv = (craft(xb, yb, e, cancel=cancel) if getattr(craft, "cancellable", False)
                     else craft(xb, yb, e)).detach()
            correct[i] += int(judge(x_adv, yb).sum())
            parts = getattr(craft, "last_breakdown", None)
            if parts:
                into = breakdowns.setdefault(i, {})
                for key, count in parts.items():
                    into[key] = into.get(key, 0) + int(count)
            done += len(yb)
            if progress is not None:
                progress(done, total)
    denom = max(1, n)
    return RobustnessCurve(
        attack=attack,
        params={**(params or {}), "eps": eps_list, "batch_size": batch_size, "seed": seed},
        n=n,
        clean_accuracy=clean_correct / denom,
        eps=tuple(eps_list),
        accuracy=tuple(float(c) / denom for c in correct),
        extra={"seconds": round(time.perf_counter() - start_time, 3),
               **({"breakdown": [ordered_breakdown(breakdowns.get(i)) for i in range(len(eps_list))],
                   "breakdown_on": "the model the attacker differentiates"} if breakdowns else {})},
    )
