"""Frozen dataclasses that cross threads (worker → GUI) and API boundaries. They hold numpy copies."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for one image."""

    probs: np.ndarray  # (10,) float32
    image: np.ndarray  # (28, 28) float32, the exact input the model saw

    @property
    def label(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs))


@dataclass(frozen=True)
class AttackResult:
    """One attacked image: clean and adversarial inputs, the perturbation and both predictions."""

    clean: np.ndarray  # (28, 28)
    adversarial: np.ndarray  # (28, 28)
    perturbation: np.ndarray  # (28, 28), adversarial - clean
    clean_probs: np.ndarray  # (10,)
    adv_probs: np.ndarray  # (10,)
    eps: float
    method: str
    target: int | None = None

    @property
    def clean_label(self) -> int:
        return int(np.argmax(self.clean_probs))

    @property
    def adv_label(self) -> int:
        return int(np.argmax(self.adv_probs))

    @property
    def flipped(self) -> bool:
        return self.clean_label != self.adv_label

    @property
    def linf(self) -> float:
        return float(np.abs(self.perturbation).max()) if self.perturbation.size else 0.0


@dataclass(frozen=True)
class Progress:
    """A training progress report, safe to hand to a GUI."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    accuracy: float  # running training accuracy of this epoch, fraction
    samples_per_s: float
    eta_s: float
    test_accuracy: float | None = None  # set on the last report of an epoch
    robust_accuracy: float | None = None  # PGD accuracy on held-out images (adversarial training only)
    done: bool = False
    history: tuple = field(default_factory=tuple)  # one dict per finished epoch
