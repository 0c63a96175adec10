"""Clean accuracy, FGSM robustness curves (one gradient per batch for the whole curve), confusion matrices."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from advstudio.core.attacks.common import eval_mode
from advstudio.core.attacks.fgsm import apply_perturbation, fgsm_direction
from advstudio.core.errors import EvaluationCancelled
from advstudio.core.training import accuracy

__all__ = [
    "RobustnessCurve", "fgsm_curve", "accuracy", "EvaluationCancelled",
]

DEFAULT_EPS = (0.0, 0.05, 0.1, 0.2, 0.3)


@dataclass(frozen=True)
class RobustnessCurve:
    """Accuracy against ε for one attack on n samples; accuracies are fractions in [0, 1]."""

    attack: str
    params: dict
    n: int
    clean_accuracy: float
    eps: tuple[float, ...]
    accuracy: tuple[float, ...]
    extra: dict = field(default_factory=dict)

    def to_json(self, model: str) -> dict:
        return {
            "model": model,
            "attack": self.attack,
            "params": self.params,
            "n": self.n,
            "clean_accuracy": self.clean_accuracy,
            "results": [{"eps": e, "accuracy": a} for e, a in zip(self.eps, self.accuracy)],
            **self.extra,
        }


def fgsm_curve(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps_list: Sequence[float] = DEFAULT_EPS,
    batch_size: int = 250,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RobustnessCurve:
    """Untargeted FGSM accuracy at each ε. The gradient sign does not depend on ε, so it is computed once per
    batch; the clean logits come from that same forward pass, so ε = 0 costs nothing extra."""
    eps_list = [float(e) for e in eps_list]
    for e in eps_list:
        if not 0.0 <= e <= 1.0:
            raise ValueError(f"ε must lie in [0, 1] pixel space, got {e}")
    device = next(model.parameters()).device
    n = len(labels)
    correct = np.zeros(len(eps_list), dtype=np.int64)
    clean_correct = 0
    with eval_mode(model):
        for start in range(0, n, batch_size):
            if cancel is not None and cancel.is_set():
                raise EvaluationCancelled("evaluation cancelled")
            xb = images[start : start + batch_size].to(device)
            yb = labels[start : start + batch_size].to(device)
            direction, logits = fgsm_direction(model, xb, yb)
            clean_hits = int((logits.argmax(1) == yb).sum())
            clean_correct += clean_hits
            with torch.inference_mode():
                for i, e in enumerate(eps_list):
                    if e == 0.0:
                        correct[i] += clean_hits
                        continue
                    x_adv, _ = apply_perturbation(xb, direction, e)
                    correct[i] += int((model(x_adv).argmax(1) == yb).sum())
            if progress is not None:
                progress(min(start + batch_size, n), n)
    denom = max(1, n)
    return RobustnessCurve(
        attack="fgsm",
        params={"eps": eps_list, "targeted": False, "batch_size": batch_size},
        n=n,
        clean_accuracy=clean_correct / denom,
        eps=tuple(eps_list),
        accuracy=tuple(float(c) / denom for c in correct),
    )
