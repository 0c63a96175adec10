"""AutoAttack (Croce & Hein, 2020): the ensemble the field judges L∞ robustness by. "standard" runs APGD-CE,
APGD-T (9 target classes), FAB-T (9 target classes) and Square (5,000 queries) in that order, each only on the
points all the earlier ones failed on; a point counts as robust only if all four fail. "rand", for defenses
that draw random numbers at each call, runs APGD-CE and APGD-T on the expectation over 20 draws (EOT: the
logits averaged over 20 calls of the model, so the gradient is the average gradient).

Every result carries the breakdown: how many points each attack broke (the clean mistakes under "clean"), in
the order they ran, which is what makes a robustness figure checkable. Budgets are the original paper's and are
passed explicitly to each attack (torchattacks' AutoAttack wrapper silently runs 10 steps instead of 100)."""

from __future__ import annotations

import threading

import torch
from torch import nn

from advstudio.core.attacks.base import Attack
from advstudio.core.attacks.common import AttackOutput, build_output, check_cancel, eval_mode, fast_layout

__all__ = ["EOT_DRAWS", "VERSIONS", "AutoAttack", "ExpectationOverDraws"]

EOT_DRAWS = 20
# (registry name, settings) of each version's attacks, in the order they run
VERSIONS: dict[str, tuple[tuple[str, dict], ...]] = {
    "standard": (("apgd-ce", {"steps": 100, "restarts": 1}),
                 ("apgd-t", {"steps": 100, "target_classes": 9, "restarts": 1}),
                 ("fab-t", {"steps": 100, "target_classes": 9, "restarts": 1}),
                 ("square", {"queries": 5000, "p_init": 0.8})),
    "rand": (("apgd-ce", {"steps": 100, "restarts": 1}),
             ("apgd-t", {"steps": 100, "target_classes": 9, "restarts": 1})),
}


class ExpectationOverDraws(nn.Module):
    """A randomized model seen through its average: the mean of `draws` calls' logits (EOT)."""

    def __init__(self, model: nn.Module, draws: int = EOT_DRAWS) -> None:
        super().__init__()
        self.model = model
        self.draws = int(draws)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.model(x) for _ in range(self.draws)]).mean(0)


class AutoAttack(Attack):
    """The AutoAttack sequence at budget ε ("standard" or "rand"); steps/queries are the paper's unless a
    smaller budget is asked for (`budget` < 1 scales every attack's steps and queries, for quick looks; the
    result's params say so)."""

    name = "autoattack"
    norm = "linf"
    iterative = True

    def __init__(
        self,
        eps: float,
        version: str = "standard",
        budget: float = 1.0,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        seed: int | None = 0,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"unknown AutoAttack version {version!r}: use {' or '.join(VERSIONS)}")
        if not 0.0 < float(budget) <= 1.0:
            raise ValueError(f"budget must lie in (0, 1] (1 = the paper's steps and queries), got {budget}")
        if targeted:
            raise ValueError("AutoAttack is untargeted: it tries the next-best classes itself")
        self.eps = self.check_eps(eps)
        self.version = version
        self.budget = float(budget)
        self.set_modes(False, True, record_trajectory)  # each point stops once broken: that is the ensemble
        self.seed = seed

    def plan(self) -> list[tuple[str, dict]]:
        """The attacks and the settings each runs with."""
        out = []
        for name, settings in VERSIONS[self.version]:
            s = dict(settings)
            for key in ("steps", "queries"):
                if key in s:
                    s[key] = max(1, round(s[key] * self.budget))
            out.append((name, s))
        return out

    def params(self) -> dict:
        return {"eps": self.eps, "version": self.version, "budget": self.budget,
                "attacks": [{"attack": n, **s} for n, s in self.plan()],
                "eot_draws": EOT_DRAWS if self.version == "rand" else None, "seed": self.seed, **self.mode_params()}

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None,
            cancel: threading.Event | None = None) -> AttackOutput:
        """The sequence on the whole batch (each attack splits it into chunks itself)."""
        from advstudio.core.attacks import make_attack

        if target is not None:
            raise ValueError("AutoAttack is untargeted: it tries the next-best classes itself")
        x = x.detach()
        y = y.to(x.device)
        model = fast_layout(model)
        with eval_mode(model):
            with torch.no_grad():
                clean_logits = model(x)
            clean_pred = clean_logits.argmax(1)
            attacked = ExpectationOverDraws(model) if self.version == "rand" else model
            broken = clean_pred != y
            success_step = torch.where(broken, 0, -1)
            best_x, best_logits = x.clone(), clean_logits.clone()
            breakdown = {"clean": int(broken.sum())}
            evals, steps_before, trajectory = 0, 0, None
            for name, settings in self.plan():
                check_cancel(cancel)
                idx = (~broken).nonzero().squeeze(1)
                count = 0
                if idx.numel():
                    attack = make_attack(name, eps=self.eps, seed=self.seed, early_stop=True,
                                         record_trajectory=self.record_trajectory, **settings)
                    out = attack.run(attacked, x[idx], y[idx], cancel=cancel)
                    evals += out.gradient_evaluations
                    with torch.no_grad():  # judged by the model itself (for "rand": one fresh draw)
                        logits = model(out.x_adv)
                    hit = (logits.argmax(1) != y[idx]) & out.success
                    j = idx[hit]
                    broken[j] = True
                    best_x[j], best_logits[j] = out.x_adv[hit], logits[hit]
                    success_step[j] = steps_before + out.success_step[hit].clamp_min(0)
                    count = int(hit.sum())
                    if out.trajectory is not None and (trajectory is None or count):
                        trajectory = out.trajectory
                breakdown[name] = count
                steps_before += int(settings.get("steps", settings.get("queries", 1))) * int(
                    settings.get("target_classes", 1))
        output = build_output(self.name, self.params(), x, best_x, best_logits, y, None, clean_pred, broken,
                              success_step, evals, trajectory)
        return _with_breakdown(output, breakdown)


def _with_breakdown(out: AttackOutput, breakdown: dict) -> AttackOutput:
    from dataclasses import replace

    return replace(out, breakdown=dict(breakdown))
