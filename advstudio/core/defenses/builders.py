"""A defense built from its kind and settings, the same way for `advstudio defend` and the Defenses tab: the
model that is deployed (and judged), the model each attacker differentiates (plain: the defense as it is;
adaptive: BPDA, EOT, the whole ensemble, logits / T), the model the live studio installs, and the crafts.

Callers validate their own inputs (each with its own wording) and load the models; this module builds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from advstudio.core.defenses import TRANSFORMS, DefendedModel, Ensemble, InputTransform
from advstudio.core.evaluation.defense import (
    Craft,
    Judge,
    TemperatureScaled,
    craft_linf,
)

TRANSFORM_KINDS = tuple(TRANSFORMS)  # bit_depth, median, jpeg, gaussian_noise


@dataclass
class BuiltDefense:
    """A defense ready to evaluate or to install."""

    deployed: nn.Module  # what answers: every prediction is judged on it
    plain: nn.Module  # what the plain (naive) attacker differentiates
    adaptive: nn.Module  # what the attacker who knows the defense differentiates
    live: nn.Module  # what the studio installs as its current model
    params: dict  # the defense's settings, as curves and metadata record them
    transform: InputTransform | None = None
    notes: list[str] = field(default_factory=list)
    judge: Judge | None = None  # (x, y) → defended per sample; None: "classified correctly"

    @property
    def randomized(self) -> bool:
        """Does the deployed defense draw random numbers at each call (then AutoAttack runs "rand")?"""
        return bool(self.transform is not None and self.transform.randomized)

    def autoattack_version(self) -> str:
        return "rand" if self.randomized else "standard"

    def crafts(self, attack: str, steps: int = 40, step_size: float | None = None,
               budget: float = 1.0) -> tuple[Craft, Craft]:
        """(plain craft, adaptive craft): FGSM, PGD or AutoAttack on each attacker's model. AutoAttack is
        "rand" for a randomized defense, and then its own EOT over 20 draws replaces the adaptive model's
        (one draw per call under it, so the attacker averages 20 draws, not 20 × eot_samples)."""
        if attack != "autoattack":
            return craft_linf(self.plain, attack, steps, step_size), craft_linf(self.adaptive, attack, steps,
                                                                                step_size)
        version = self.autoattack_version()
        adaptive = self.adaptive
        if self.randomized and isinstance(adaptive, DefendedModel):
            adaptive = DefendedModel(adaptive.model, adaptive.transform, adaptive=True, eot_samples=1).eval()
        return (craft_linf(self.plain, attack, version=version, budget=budget),
                craft_linf(adaptive, attack, version=version, budget=budget))


def make_transform(kind: str, *, bits: int = 2, size: int = 3, quality: int = 50,
                   sigma: float = 0.3) -> InputTransform:
    """The input transform `kind` with its one setting; ValueError for a bad setting or kind."""
    kw = {"bit_depth": {"bits": bits}, "median": {"size": size}, "jpeg": {"quality": quality},
          "gaussian_noise": {"sigma": sigma}}
    if kind not in kw:
        raise ValueError(f"unknown input transform {kind!r}: choose from {', '.join(kw)}")
    return TRANSFORMS[kind](**kw[kind])


def transform_defense(model: nn.Module, kind: str, *, eot_samples: int = 16, **settings) -> BuiltDefense:
    """`model` behind an input transform: the plain attacker sees the true gradient (zero through a quantizer,
    one noise draw), the adaptive one BPDA and EOT over `eot_samples` draws; the studio gets the adaptive
    wrapper (its predictions are the defense's; its gradients the informed attacker's)."""
    t = make_transform(kind, **settings)
    plain = DefendedModel(model, t, adaptive=False).eval()
    adaptive = DefendedModel(model, t, adaptive=True, eot_samples=eot_samples).eval()
    params = dict(t.params())
    if t.randomized:
        params["eot_samples"] = eot_samples
    return BuiltDefense(plain, plain, adaptive, adaptive, params, t)


def ensemble_defense(members: Sequence[nn.Module], transfer_from: int = 0) -> BuiltDefense:
    """Logits averaged over `members`: the plain attacker crafts on member `transfer_from` alone and transfers,
    the adaptive one attacks the whole ensemble."""
    ens = Ensemble(members).eval()
    return BuiltDefense(ens, members[transfer_from], ens, ens, {"transfer_from": transfer_from})


class DistilledDeployed(nn.Module):
    """A distilled model for the live studio: its own logits for predictions, logits / T whenever a gradient
    is taken (the attacker who knows the defense, as BPDA is for a transform)."""

    def __init__(self, model: nn.Module, temperature: float) -> None:
        super().__init__()
        self.model = model
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        return z / self.temperature if torch.is_grad_enabled() else z


def recorded_temperature(meta: dict) -> float | None:
    """The distillation temperature a model file's metadata records, or None (also for one that is not a
    positive number: metadata is the file maker's data)."""
    recipe = meta.get("recipe")
    t = recipe.get("temperature") if isinstance(recipe, dict) else None
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < 1e6 else None


def distillation_defense(model: nn.Module, temperature: float) -> BuiltDefense:
    """A distilled model: the plain attacker differentiates its saturated softmax at T = 1, the adaptive one
    logits / T (Carlini & Wagner's remedy)."""
    model.eval()
    t = float(temperature)
    return BuiltDefense(model, model, TemperatureScaled(model, t), DistilledDeployed(model, t).eval(),
                        {"temperature": t})


@dataclass
class DetectorDefense(BuiltDefense):
    """A classifier with an activation detector beside it: a sample is defended when it is classified
    correctly or rejected. The adaptive attacker also pushes the detector's logit down."""

    detector: nn.Module | None = None
    threshold: float = 0.0
    lam: float = 1.0

    def crafts(self, attack: str, steps: int = 40, step_size: float | None = None,
               budget: float = 1.0) -> tuple[Craft, Craft]:
        from advstudio.core.defenses.detection import detector_aware_pgd

        if attack == "autoattack":
            raise ValueError("AutoAttack does not know the detector, so it cannot be the adaptive attacker here: "
                             "use PGD (detector-aware)")
        detector, lam = self.detector, self.lam

        def adaptive_craft(x, y, eps):
            if attack == "fgsm":
                return detector_aware_pgd(detector, x, y, eps, steps=1, step_size=eps, lam=lam, random_start=False)
            return detector_aware_pgd(detector, x, y, eps, steps, step_size, lam=lam, seed=None)

        return craft_linf(self.plain, attack, steps, step_size), adaptive_craft


def detector_defense(model: nn.Module, fit_images: torch.Tensor, fit_labels: torch.Tensor, *, eps: float = 0.1,
                     fpr: float = 0.05, lam: float = 1.0) -> DetectorDefense:
    """Fit the detector on clean against FGSM-ε images, threshold it at `fpr` on the clean ones."""
    from advstudio.core.defenses.detection import fit_detector, threshold_at_fpr

    model.eval()
    detector = fit_detector(model, fit_images, fit_labels, eps=eps)
    threshold = threshold_at_fpr(detector.score(fit_images), fpr)

    def judge(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            logits, det = detector(x)
        return (logits.argmax(1) == y) | (det > threshold)

    params = {"fit_samples": len(fit_labels), "fit_eps": eps, "target_fpr": fpr, "threshold": threshold,
              "lam": lam, "features": "mean, std, active fraction, max per ReLU",
              "fit_accuracy": detector.info["fit_accuracy"]}
    notes = [("accuracy here = classified correctly or rejected by the detector (a rejected adversarial input "
              "counts as defended; a rejected clean input is a false positive)")]
    return DetectorDefense(model, model, detector, model, params, notes=notes, judge=judge, detector=detector,
                           threshold=threshold, lam=lam)

