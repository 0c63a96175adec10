"""Detecting adversarial inputs from ReLU activation statistics (the article's idea), and the adaptive attack
that defeats the detector.

Per sample and per ReLU layer four statistics: mean, standard deviation, active fraction and maximum of the
layer's output. A logistic regression on the standardized features (fitted in torch, deterministic) scores
how adversarial an input looks; it is fitted on clean training images against their FGSM versions.

The feature path is differentiable (the active fraction, a step function, passes a sigmoid surrogate gradient
of the pre-activation backwards: BPDA), so an attacker who knows the detector runs PGD on
CE(model(x), y) − λ·detector_logit(x) and pushes the detector's score down while it fools the model."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.activations import ACTIVATION_TYPES, activation_modules
from advstudio.core.attacks.common import eval_mode, margin
from advstudio.core.attacks.fgsm import apply_perturbation, fgsm_direction
from advstudio.core.attacks.linf import linf_walk
from advstudio.core.defenses import roc_curve
from advstudio.core.errors import DetectionCancelled

__all__ = [
    "FEATURE_STATS", "relu_features", "feature_names", "ActivationDetector", "fit_detector",
    "detector_aware_pgd", "DetectionROC", "detection_rocs", "threshold_at_fpr", "DetectionCancelled", "fgsm_examples",
]

FEATURE_STATS = ("mean", "std", "active", "max")
SURROGATE_TEMPERATURE = 0.1  # width of the sigmoid whose gradient stands in for the active indicator's


class _StepWithSurrogate(torch.autograd.Function):
    """Forward: 1 where the pre-activation is positive (the unit is active). Backward: the gradient of
    sigmoid(z / τ), so an attacker can switch units on and off (BPDA for the step function)."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, tau: float) -> torch.Tensor:  # noqa: D401
        ctx.save_for_backward(z)
        ctx.tau = tau
        return (z > 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (z,) = ctx.saved_tensors
        s = torch.sigmoid(z / ctx.tau)
        return grad * s * (1 - s) / ctx.tau, None


def feature_names(model: nn.Module) -> list[str]:
    """'relu1.mean', 'relu1.std', … in the order relu_features returns them."""
    return [f"{name}.{stat}" for name, _ in activation_modules(model) for stat in FEATURE_STATS]


def relu_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, features N×4L): per sample and per activation layer (every module activation_modules finds:
    the ReLUs of the networks here), the mean, std, active fraction (pre-activation above zero) and max of its
    output, in registration order. Differentiable when grad is enabled; runs in the model's current mode
    (callers use eval mode). Hooks are removed even when the forward pass fails."""
    layers = activation_modules(model)
    if not layers:
        kinds = ", ".join(f"nn.{t.__name__}" for t in ACTIVATION_TYPES)
        raise ValueError(f"the model has no activation module ({kinds}) to read statistics from")
    captured: list[tuple[torch.Tensor, torch.Tensor]] = []

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        z = inputs[0]
        if getattr(module, "inplace", False):  # the input storage now holds the output: no pre-activation left
            z = output
        captured.append((z, output))

    handles = [m.register_forward_hook(hook) for _, m in layers]
    try:
        logits = model(x)
    finally:
        for h in handles:
            h.remove()
    feats = []
    for z, a in captured:
        n = a.shape[0]
        flat, zf = a.reshape(n, -1), z.reshape(n, -1)
        active = _StepWithSurrogate.apply(zf, SURROGATE_TEMPERATURE).mean(1)
        feats.append(torch.stack([flat.mean(1), flat.std(1), active, flat.amax(1)], 1))
    return logits, torch.cat(feats, 1)


class ActivationDetector(nn.Module):
    """Logistic regression on standardized ReLU features of `model`: logit(x) > 0 reads "adversarial".

    The model is held by reference (not a submodule: the detector's state is its own few numbers)."""

    def __init__(self, model: nn.Module, mean: torch.Tensor, std: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor, names: Sequence[str], info: dict | None = None) -> None:
        super().__init__()
        self._model = [model]  # a list keeps it out of this module's parameters and state dict
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", bias.detach().clone().reshape(()))
        self.names = list(names)
        self.info = dict(info or {})

    @property
    def model(self) -> nn.Module:
        return self._model[0]

    def logit_from_features(self, feats: torch.Tensor) -> torch.Tensor:
        return ((feats - self.mean) / self.std) @ self.weight + self.bias

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(classifier logits, detector logit per sample), from one differentiable forward pass."""
        logits, feats = relu_features(self.model, x)
        return logits, self.logit_from_features(feats)

    @torch.no_grad()
    def score(self, x: torch.Tensor, batch_size: int = 500) -> np.ndarray:
        """Detector logits (higher = more adversarial) for a set of images, in eval mode."""
        device = self.mean.device
        out = []
        with eval_mode(self.model):
            for i in range(0, x.shape[0], batch_size):
                out.append(self(x[i : i + batch_size].to(device))[1].cpu())
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def weights_by_feature(self) -> dict[str, float]:
        """Standardized weights by feature name (what the detector looks at; sign: + means adversarial)."""
        return {n: float(w) for n, w in zip(self.names, self.weight)}


@torch.no_grad()
def _features(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = next(model.parameters()).device
    with eval_mode(model):
        return torch.cat([relu_features(model, x[i : i + batch_size].to(device))[1]
                          for i in range(0, x.shape[0], batch_size)])


def fgsm_examples(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float,
                  batch_size: int = 500) -> torch.Tensor:
    """Untargeted FGSM versions of a set of images (on the model's device)."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, images.shape[0], batch_size):
        xb, yb = images[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)
        direction, _ = fgsm_direction(model, xb, yb)
        out.append(apply_perturbation(xb, direction, eps)[0])
    return torch.cat(out)


def fit_detector(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float = 0.1,
                 l2: float = 1e-3, iterations: int = 200, batch_size: int = 500) -> ActivationDetector:
    """Fit the detector on `images` (clean, label 0) against their FGSM-ε versions (label 1).

    Features are standardized with the mean and std of the whole fitting set; the logistic regression starts
    from zero and is fitted by full-batch L-BFGS with an L2 penalty, so the result is deterministic."""
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"the detector's FGSM ε must lie in (0, 1] pixel space, got {eps}")
    device = next(model.parameters()).device
    x_adv = fgsm_examples(model, images, labels, eps, batch_size)
    f_clean = _features(model, images, batch_size)
    f_adv = _features(model, x_adv, batch_size)
    feats = torch.cat([f_clean, f_adv]).double()
    target = torch.cat([torch.zeros(len(f_clean)), torch.ones(len(f_adv))]).double().to(device)
    mean, std = feats.mean(0), feats.std(0).clamp_min(1e-6)
    z = (feats - mean) / std
    w = torch.zeros(z.shape[1], dtype=torch.float64, device=device, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, device=device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(z @ w + b, target) + l2 * w.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        train_acc = float((((z @ w + b) > 0).double() == target).double().mean())
    return ActivationDetector(
        model, mean.float(), std.float(), w.detach().float(), b.detach().float(), feature_names(model),
        info={"fit_attack": "fgsm", "fit_eps": float(eps), "fit_samples": int(images.shape[0]), "l2": l2,
              "fit_accuracy": train_acc},
    )


def detector_aware_pgd(detector: ActivationDetector, x: torch.Tensor, y: torch.Tensor, eps: float,
                       steps: int = 40, step_size: float | None = None, lam: float = 1.0, kappa: float = 2.0,
                       random_start: bool = True, seed: int | None = 0) -> torch.Tensor:
    """L∞ PGD against model and detector together. λ = 0: plain PGD on the cross-entropy (last iterate).
    λ > 0: ascend min(margin, κ) − λ·detector_logit, where margin = best other logit − true logit; the
    classifier term stops pulling once a sample is misclassified by κ, so the steps then go to hiding it from
    the detector. Keeps, per sample, the misclassified iterate with the lowest detector logit (else the last).
    Eval mode, input gradients only, clamped to [0, 1] after every step (the random start included).
    Default step 2.5·ε/steps."""
    model = detector.model
    alpha = step_size if step_size is not None else 2.5 * eps / max(1, steps)
    x = x.detach()
    y = y.to(x.device)
    adaptive = lam > 0
    with eval_mode(model):
        if random_start:
            gen = torch.Generator(device=x.device)
            if seed is not None:
                gen.manual_seed(seed)
            else:
                gen.seed()
            noise = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
            x_adv = (x + eps * noise).clamp(0.0, 1.0)
        else:
            x_adv = x.clone()
        best = x_adv.clone()
        best_det = torch.full((x.shape[0],), float("inf"), device=x.device)
        seen: dict[str, torch.Tensor] = {}

        def goal(xa: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits, det = detector(xa)
            seen["det"] = det.detach()
            if adaptive:
                return logits, margin(logits, y[idx]).clamp(max=kappa) - lam * det
            return logits, F.cross_entropy(logits, y[idx], reduction="none")

        def visit(t: int, idx: torch.Tensor, xa: torch.Tensor, logits: torch.Tensor, obj: torch.Tensor) -> None:
            if adaptive:  # keep the misclassified iterate the detector likes best
                det = seen["det"]
                better = (logits.argmax(1) != y[idx]) & (det < best_det[idx])
                best[idx[better]] = xa[better]
                best_det[idx[better]] = det[better]

        linf_walk(goal, x_adv, (x - eps).clamp(0.0, 1.0), (x + eps).clamp(0.0, 1.0), alpha, steps, visit=visit)
    if not adaptive:
        return x_adv.detach()
    never = torch.isinf(best_det)
    return torch.where(never.view(-1, 1, 1, 1), x_adv, best).detach()


def threshold_at_fpr(scores_clean: np.ndarray, fpr: float = 0.05) -> float:
    """The smallest threshold that flags (score > threshold) at most `fpr` of these clean scores."""
    s = np.sort(np.asarray(scores_clean, float))
    if len(s) == 0:
        return 0.0
    k = int(np.floor(fpr * len(s)))  # at most k clean samples above the threshold
    return float(s[len(s) - k - 1]) if k < len(s) else float(s[0]) - 1.0


@dataclass(frozen=True)
class DetectionROC:
    """The detector's ROC against one attack (clean test images against their adversarial versions).

    accuracy: the classifier's accuracy on the adversarial inputs. detected: the share of adversarial inputs
    flagged at `threshold` (set for a `target_fpr` false-positive rate on clean fitting images).
    evaded: the share that fooled the classifier and was not flagged: the attack's real success rate."""

    attack: str
    params: dict
    n: int
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float
    accuracy: float
    clean_accuracy: float
    threshold: float
    clean_flagged: float
    detected: float
    evaded: float
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "attack": self.attack, "params": self.params, "n": self.n, "auc": self.auc,
            "accuracy": self.accuracy, "clean_accuracy": self.clean_accuracy, "threshold": self.threshold,
            "clean_flagged": self.clean_flagged, "detected": self.detected, "evaded": self.evaded,
            "fpr": [float(v) for v in self.fpr], "tpr": [float(v) for v in self.tpr], **self.extra,
        }


def detection_rocs(
    detector: ActivationDetector,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float = 0.1,
    steps: int = 40,
    lam: float = 1.0,
    threshold: float | None = None,
    target_fpr: float = 0.05,
    attacks: Sequence[str] = ("fgsm", "pgd", "adaptive_pgd"),
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, DetectionROC]:
    """ROC of the detector on held-out images for FGSM, PGD (λ = 0) and the detector-aware PGD (λ > 0), all
    at L∞ radius ε. `threshold` (e.g. from threshold_at_fpr on clean fitting images) sets the operating point;
    by default it is set on these clean images at `target_fpr`."""
    model = detector.model
    device = detector.mean.device
    n = int(labels.shape[0])
    clean_scores = detector.score(images, batch_size)
    with torch.no_grad(), eval_mode(model):
        clean_pred = torch.cat([model(images[i : i + batch_size].to(device)).argmax(1).cpu()
                                for i in range(0, n, batch_size)])
    clean_acc = float((clean_pred == labels.cpu()).float().mean()) if n else 0.0
    if threshold is None:
        threshold = threshold_at_fpr(clean_scores, target_fpr)
    clean_flagged = float((clean_scores > threshold).mean()) if n else 0.0
    out: dict[str, DetectionROC] = {}
    total, done = n * len(attacks), 0
    for name in attacks:
        scores, preds = [], []
        for i in range(0, n, batch_size):
            if cancel is not None and cancel.is_set():
                raise DetectionCancelled("detection evaluation cancelled")
            xb, yb = images[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)
            if name == "fgsm":
                direction, _ = fgsm_direction(model, xb, yb)
                x_adv = apply_perturbation(xb, direction, eps)[0]
            elif name == "pgd":
                x_adv = detector_aware_pgd(detector, xb, yb, eps, steps, lam=0.0)
            elif name == "adaptive_pgd":
                x_adv = detector_aware_pgd(detector, xb, yb, eps, steps, lam=lam)
            else:
                raise ValueError(f"unknown attack {name!r}: fgsm, pgd or adaptive_pgd")
            with torch.no_grad(), eval_mode(model):
                logits, det = detector(x_adv)
            scores.append(det.cpu().numpy())
            preds.append(logits.argmax(1).cpu())
            done += len(yb)
            if progress is not None:
                progress(done, total)
        adv_scores = np.concatenate(scores)
        pred = torch.cat(preds)
        fpr, tpr, auc = roc_curve(clean_scores, adv_scores)
        flagged = adv_scores > threshold
        fooled = (pred != labels.cpu()).numpy()
        params = {"eps": float(eps), "norm": "linf"}
        if name != "fgsm":
            params.update(steps=int(steps), step_size=2.5 * eps / max(1, steps), random_start=True,
                          lam=float(lam) if name == "adaptive_pgd" else 0.0)
        else:
            params["steps"] = 1
        out[name] = DetectionROC(
            attack=name, params=params, n=n, fpr=fpr, tpr=tpr, auc=auc,
            accuracy=float((~torch.from_numpy(fooled)).float().mean()) if n else 0.0,
            clean_accuracy=clean_acc, threshold=float(threshold), clean_flagged=clean_flagged,
            detected=float(flagged.mean()) if n else 0.0,
            evaded=float((fooled & ~flagged).mean()) if n else 0.0,
        )
    return out
