"""What the studio shares with the other features (through the AppContext) and sends to the worker: the attack
settings and the ε grid, the analysis and flip results; frozen dataclasses holding numpy copies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advstudio.core.types import AttackResult, Prediction

EPS_MAX = 0.5  # the ε slider's range in pixel units
EPS_STEP = 0.001  # its resolution; the flip search answers on this grid
SLIDER_STEPS = round(EPS_MAX / EPS_STEP)
UNTARGETED = "fgsm"
TARGETED = "fgsm-targeted"


@dataclass(frozen=True)
class AttackSettings:
    """What the attack panel asks for: FGSM untargeted (toward any other class) or targeted, at ε."""

    method: str = UNTARGETED
    target: int | None = None
    eps: float = 0.1


@dataclass(frozen=True)
class AnalyzeRequest:
    """Classify `image` (28×28 in [0, 1]) and attack it with `settings`."""

    image: np.ndarray
    settings: AttackSettings


@dataclass(frozen=True)
class Analysis:
    prediction: Prediction
    attack: AttackResult


@dataclass(frozen=True)
class OpenedImage:
    """An image file decoded on the worker (a large one takes a second; a bad one fails with its message)."""

    path: str
    digit: np.ndarray  # 28×28 float32 in [0, 1]


@dataclass(frozen=True)
class FlipResult:
    """Smallest ε on a grid of `step` that flips the prediction (targeted: reaches the target)."""

    found: bool
    eps: float  # flips at eps …
    below: float  # … and does not at eps - step
    step: float
    clean_label: int
    adv_label: int
    evaluations: int
    settings: AttackSettings


@dataclass(frozen=True)
class GalleryData:
    """The dataset's test images as uint8 (N×28×28), their labels, the current model's predictions and the
    dataset's class names."""

    images: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    source: str
    classes: tuple[str, ...] = tuple(str(i) for i in range(10))
