"""Robustness curves for any registered attack, the confusion matrix under attack, and the most confident
mistakes: what the robustness lab and `advstudio evaluate --attack` show.

ε-bounded attacks (FGSM, BIM, PGD, MI-FGSM) run once per ε > 0; ε is an L∞ radius in [0, 1] pixel space.
Minimal-norm attacks (C&W, DeepFool; and the few-pixel ones, whose size is the number of pixels changed) run
once, and the curve reads their per-sample L2 norms (pixel counts): at radius ε a sample counts as robust unless
the attack misclassified it with ‖δ‖₂ ≤ ε (at most ε pixels changed). That is an upper bound on the true robust
accuracy at ε (the attack may have missed a smaller perturbation), as every attack's figure is."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from advstudio.core.attacks import ATTACKS, make_attack
from advstudio.core.attacks.common import AttackOutput, ordered_breakdown
from advstudio.core.attacks.registry import MAX_RADIUS, RADIUS_WORDS
from advstudio.core.errors import AttackCancelled, EvaluationCancelled
from advstudio.core.evaluation.curves import DEFAULT_EPS, RobustnessCurve
from advstudio.core.evaluation.resume import CurveTally, EvaluationCheckpoint

DEFAULT_L2_EPS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
DEFAULT_L0_EPS = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 40.0, 78.0)  # pixels changed (78 = JSMA's 10 % share)
MAX_L2 = MAX_RADIUS["l2"]  # ‖δ‖₂ of a 28×28 image in [0, 1] is at most √784 = 28

Progress = Callable[[int, int], None]


def default_eps(attack: str) -> tuple[float, ...]:
    """Sensible radii: L∞ in pixel space for ε-bounded attacks, L2 or pixel counts for the minimal ones."""
    return {"l2": DEFAULT_L2_EPS, "l0": DEFAULT_L0_EPS}.get(ATTACKS[attack].norm, DEFAULT_EPS)


def _check_eps(attack: str, eps_list: Sequence[float]) -> list[float]:
    norm = ATTACKS[attack].norm
    top = MAX_RADIUS[norm]
    out = [float(e) for e in eps_list]
    for e in out:
        if not 0.0 <= e <= top:
            unit = ("L∞ ε must lie in [0, 1] pixel space" if norm == "linf" else
                    f"the {RADIUS_WORDS[norm]} must lie in [0, {top:g}]")
            raise ValueError(f"{attack}: {unit}, got {e}")
    return out


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, device, cancel=None):
    """(start, images, labels) of consecutive batches on `device`; EvaluationCancelled between batches."""
    for start in range(0, len(labels), batch_size):
        if cancel is not None and cancel.is_set():
            raise EvaluationCancelled("evaluation cancelled")
        yield start, images[start : start + batch_size].to(device), labels[start : start + batch_size].to(device)


def _targets(target: int | torch.Tensor | None, y: torch.Tensor) -> torch.Tensor | None:
    if target is None:
        return None
    return torch.as_tensor(target, dtype=torch.long, device=y.device).expand_as(y).clone()


def _run(attack, model, x, y, t, cancel) -> AttackOutput:
    try:
        return attack.run(model, x, y, t, cancel=cancel)
    except AttackCancelled as exc:
        raise EvaluationCancelled("evaluation cancelled") from exc


def attack_curve(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: str,
    eps_list: Sequence[float] | None = None,
    settings: dict | None = None,
    target: int | torch.Tensor | None = None,
    batch_size: int = 500,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    checkpoint: EvaluationCheckpoint | None = None,
) -> RobustnessCurve:
    """Accuracy against ε for a registered attack ("fgsm", "bim", "pgd", "mifgsm", "cw", "deepfool").

    settings: the attack's own settings except eps (steps, step_size, restarts, early_stop, c, …); None values
    take the defaults. target: a class (or one per sample) for a targeted attack; accuracy is then still the
    fraction classified as the true class. progress(done, total) counts image-attacks; cancel is checked
    between steps and raises EvaluationCancelled. params in the result hold every setting, early_stop included.
    With `checkpoint`, the tally is written after every batch and a matching earlier tally is continued."""
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    settings.pop("eps", None)
    if target is not None:
        settings["targeted"] = True
    cls = ATTACKS[attack] if attack in ATTACKS else None
    if cls is None:
        raise ValueError(f"unknown attack {attack!r}; choose from {', '.join(ATTACKS)}")
    eps_list = _check_eps(attack, default_eps(attack) if eps_list is None else eps_list)
    uses_eps = cls.uses_eps
    probe = make_attack(attack, eps=max(eps_list, default=0.0), **settings) if uses_eps else make_attack(attack, **settings)
    attacks = {e: make_attack(attack, eps=e, **settings) for e in eps_list if e > 0} if uses_eps else {}

    device = next(model.parameters()).device
    n = len(labels)
    runs = len(attacks) if uses_eps else 1
    total = n * runs
    tally = checkpoint.load(len(eps_list), -(-n // batch_size)) if checkpoint is not None else None
    tally = tally or CurveTally(size=len(eps_list))
    resumed = tally.batches_done
    done = min(n, tally.batches_done * batch_size) * runs
    start_time = time.perf_counter()
    for b, (_, xb, yb) in enumerate(batches(images, labels, batch_size, device, cancel)):
        if b < tally.batches_done:
            continue  # finished before the run was interrupted: its counts are in the tally
        tb = _targets(target, yb)
        with torch.no_grad():
            was_training = model.training
            model.eval()
            try:
                clean_hits = int((model(xb).argmax(1) == yb).sum())
            finally:
                model.train(was_training)
        tally.clean_correct += clean_hits
        if uses_eps:
            for i, e in enumerate(eps_list):
                if e == 0.0:
                    tally.correct[i] += clean_hits
                    continue
                out = _run(attacks[e], model, xb, yb, tb, cancel)
                if out.breakdown is not None:  # an ensemble: which of its attacks broke how many points
                    into = tally.breakdowns.setdefault(i, {})
                    for key, count in out.breakdown.items():
                        into[key] = into.get(key, 0) + int(count)
                tally.correct[i] += int(out.correct.sum())
                tally.succeeded[i] += int(out.success.sum())
                tally.evals += out.gradient_evaluations
                done += len(yb)
                if progress is not None:
                    progress(done, total)
        else:
            out = _run(probe, model, xb, yb, tb, cancel)
            tally.evals += out.gradient_evaluations
            broken = ~out.correct
            size = out.l0 if cls.norm == "l0" else out.l2
            for i, e in enumerate(eps_list):
                within = broken & (size <= e)
                tally.correct[i] += len(yb) - int(within.sum())
                tally.succeeded[i] += int((out.success & (size <= e)).sum())
            done += len(yb)
            if progress is not None:
                progress(done, total)
        tally.batches_done = b + 1
        if checkpoint is not None:
            checkpoint.save(tally, tally.seconds_before + time.perf_counter() - start_time)
    correct, succeeded, clean_correct, evals, breakdowns = (tally.correct, tally.succeeded, tally.clean_correct,
                                                            tally.evals, tally.breakdowns)
    denom = max(1, n)
    params = probe.params()
    params.pop("eps", None)
    if uses_eps and "step_size" in params:
        given = getattr(probe, "step_size", None) is not None
        params["step_size"] = probe.step_size if given else None
        if not given:
            params["step_size_rule"] = f"{probe.step_size_factor:g}*eps/steps"
        params["step_sizes"] = [attacks[e].alpha if e > 0 else 0.0 for e in eps_list]
        params.pop("step_size_given", None)
    if attack == "fgsm":
        params.update(steps=1, norm="linf")
    params.update(
        eps=eps_list,
        eps_norm=cls.norm,
        early_stop=bool(settings.get("early_stop", True)),
        target=None if target is None else (int(target) if np.ndim(target) == 0 else "per-sample"),
        batch_size=batch_size,
    )
    return RobustnessCurve(
        attack=attack,
        params=params,
        n=n,
        clean_accuracy=clean_correct / denom,
        eps=tuple(eps_list),
        accuracy=tuple(float(c) / denom for c in correct),
        extra={
            "success_rate": [float(s) / denom for s in succeeded],
            "gradient_evaluations": int(evals),
            "seconds": round(tally.seconds_before + time.perf_counter() - start_time, 3),
            **({"resumed_after_batches": resumed} if resumed else {}),
            **({"breakdown": [ordered_breakdown(breakdowns.get(i)) for i in range(len(eps_list))]}
               if breakdowns else {}),
        },
    )


@dataclass(frozen=True)
class MistakeGallery:
    """The adversarial examples the model is most sure about, most confident first (numpy copies)."""

    indices: np.ndarray  # (k,) positions in the evaluated set
    labels: np.ndarray  # (k,) true classes
    predicted: np.ndarray  # (k,) classes under attack
    confidence: np.ndarray  # (k,) softmax probability of the predicted class
    probs: np.ndarray  # (k, classes)
    clean: np.ndarray | None  # (k, H, W) or None when images were not kept
    adversarial: np.ndarray | None  # (k, H, W)
    linf: np.ndarray
    l2: np.ndarray


@dataclass(frozen=True)
class AttackEvaluation:
    """One attack over a set of images, per sample, as numpy copies (safe to hand to the GUI thread).

    radius: for minimal-norm attacks, views can be restricted to perturbations with ‖δ‖₂ ≤ radius (L0 attacks:
    at most `radius` pixels changed); a sample the attack broke only beyond the radius keeps its clean
    prediction."""

    attack: str
    params: dict
    norm: str  # "linf", "l2" or "l0": the norm of the attack's budget (or of the size it reports)
    labels: np.ndarray  # (N,)
    clean_pred: np.ndarray  # (N,)
    adv_pred: np.ndarray  # (N,)
    adv_probs: np.ndarray  # (N, classes) float32
    success: np.ndarray  # (N,) bool
    linf: np.ndarray  # (N,) float32
    l2: np.ndarray  # (N,) float32
    l0: np.ndarray  # (N,) int64
    clean_images: np.ndarray | None  # (N, H, W) float32, when kept
    adv_images: np.ndarray | None  # (N, H, W) float32, when kept
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def broken(self, radius: float | None = None) -> np.ndarray:
        """Per sample: misclassified under attack (within the radius, when given: L2, or pixels for L0)."""
        mask = self.adv_pred != self.labels
        if radius is not None:
            mask = mask & ((self.l0 if self.norm == "l0" else self.l2) <= radius)
        return mask

    def predictions(self, radius: float | None = None) -> np.ndarray:
        """The class under attack, per sample (the clean class where the attack needed more than the radius)."""
        if radius is None:
            return self.adv_pred
        return np.where(self.broken(radius) | (self.clean_pred != self.labels), self.adv_pred, self.clean_pred)

    @property
    def clean_accuracy(self) -> float:
        return float((self.clean_pred == self.labels).mean()) if self.n else 0.0

    def robust_accuracy(self, radius: float | None = None) -> float:
        return float(1.0 - self.broken(radius).mean()) if self.n else 0.0

    def confusion(self, radius: float | None = None, classes: int | None = None) -> np.ndarray:
        """classes×classes counts: rows are true classes, columns the class predicted under attack. classes None:
        ten (the digits), or the model's outputs or the labels when there are more."""
        if classes is None:
            outputs = self.adv_probs.shape[1] if self.adv_probs.ndim == 2 else 0
            classes = max(10, outputs, int(self.labels.max()) + 1 if self.n else 0)
        cm = np.zeros((classes, classes), dtype=np.int64)
        np.add.at(cm, (self.labels, self.predictions(radius)), 1)
        return cm

    def most_confident_mistakes(
        self, k: int = 16, radius: float | None = None, include_clean_mistakes: bool = False
    ) -> MistakeGallery:
        """The k broken samples with the highest confidence in the wrong class. By default only samples the
        model got right before the attack (a clean mistake is no adversarial example)."""
        mask = self.broken(radius)
        if not include_clean_mistakes:
            mask = mask & (self.clean_pred == self.labels)
        idx = np.flatnonzero(mask)
        conf = self.adv_probs[idx, self.adv_pred[idx]]
        order = idx[np.argsort(-conf, kind="stable")][:k]
        return MistakeGallery(
            indices=order,
            labels=self.labels[order],
            predicted=self.adv_pred[order],
            confidence=self.adv_probs[order, self.adv_pred[order]],
            probs=self.adv_probs[order],
            clean=None if self.clean_images is None else self.clean_images[order].copy(),
            adversarial=None if self.adv_images is None else self.adv_images[order].copy(),
            linf=self.linf[order],
            l2=self.l2[order],
        )


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _squeeze(images: np.ndarray) -> np.ndarray:
    return images[:, 0] if images.ndim == 4 and images.shape[1] == 1 else images


def evaluate_attack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack,
    target: int | torch.Tensor | None = None,
    batch_size: int = 500,
    keep_images: bool = True,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> AttackEvaluation:
    """Run one attack instance (anything with .run, e.g. make_attack("pgd", eps=0.1)) over a set of images and
    keep every per-sample result: the source of the confusion matrix and the mistake gallery."""
    device = next(model.parameters()).device
    n = len(labels)
    fields = ("labels", "clean_pred", "pred", "probs", "success", "linf", "l2", "l0") + (
        ("x_adv",) if keep_images else ())
    parts: dict[str, list[np.ndarray]] = {f: [] for f in fields}
    images_clean: list[np.ndarray] = []
    start_time = time.perf_counter()
    for start, xb, yb in batches(images, labels, batch_size, device, cancel):
        out = _run(attack, model, xb, yb, _targets(target, yb), cancel)
        for f in fields:  # numpy copies only; the batch's tensors are dropped
            parts[f].append(_np(getattr(out, f)))
        if keep_images:
            images_clean.append(_squeeze(_np(xb)))
        if progress is not None:
            progress(min(start + batch_size, n), n)

    def cat(name: str) -> np.ndarray:
        return np.concatenate(parts[name]) if parts[name] else np.zeros(0)

    return AttackEvaluation(
        attack=getattr(attack, "name", type(attack).__name__.lower()),
        params=dict(attack.params()) if hasattr(attack, "params") else {},
        norm=getattr(attack, "norm", "linf"),
        labels=cat("labels").astype(np.int64),
        clean_pred=cat("clean_pred").astype(np.int64),
        adv_pred=cat("pred").astype(np.int64),
        adv_probs=cat("probs").astype(np.float32),
        success=cat("success").astype(bool),
        linf=cat("linf").astype(np.float32),
        l2=cat("l2").astype(np.float32),
        l0=cat("l0").astype(np.int64),
        clean_images=np.concatenate(images_clean).astype(np.float32) if keep_images and n else None,
        adv_images=_squeeze(cat("x_adv")).astype(np.float32) if keep_images and n else None,
        seconds=round(time.perf_counter() - start_time, 3),
    )


def adversarial_confusion_matrix(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attack, radius: float | None = None, **kwargs
) -> np.ndarray:
    """K×K counts (ten digits, or the model's K outputs), rows true class, columns the class predicted under
    `attack` (an attack instance)."""
    return evaluate_attack(model, images, labels, attack, keep_images=False, **kwargs).confusion(radius)


def most_confident_mistakes(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attack, k: int = 16,
    radius: float | None = None, **kwargs,
) -> MistakeGallery:
    """The k adversarial examples the model is most confident about (see AttackEvaluation)."""
    return evaluate_attack(model, images, labels, attack, **kwargs).most_confident_mistakes(k, radius)
