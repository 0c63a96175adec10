"""Frozen requests and replies of the "Certify & detect" tab: randomized smoothing (Cohen et al.) on the current
input and over the test set, and the activation-statistics detector's ROCs. Numpy copies and plain values only."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

CERTIFY_INPUT_KIND = "certify_input"
CERTIFY_CURVE_KIND = "certify_curve"
DETECT_KIND = "detect"


@dataclass(frozen=True)
class SmoothingSettings:
    """Cohen et al.'s CERTIFY settings: noise σ (pixels), n0 samples to guess the class, n to bound it, α."""

    sigma: float = 0.25
    n0: int = 100
    n: int = 1000
    alpha: float = 0.001
    seed: int = 0
    batch: int = 500

    def describe(self) -> str:
        return f"σ = {self.sigma:g}, n0 = {self.n0}, n = {self.n}, α = {self.alpha:g}"


@dataclass(frozen=True)
class CertifyInputRequest:
    image: np.ndarray  # 28×28 in [0, 1]
    settings: SmoothingSettings


@dataclass(frozen=True)
class CertifyInputResult:
    """core.defenses.Certificate of the smoothed classifier at this input, and the base model's own answer."""

    image: np.ndarray
    label: int | None  # None: abstain
    radius: float
    p_lower: float
    counts: tuple[int, ...]
    base_label: int  # what the model itself (no noise) reads
    settings: SmoothingSettings
    max_radius: float
    seconds: float


@dataclass(frozen=True)
class CertifyCurveRequest:
    settings: SmoothingSettings
    samples: int
    data_dir: str | None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    model_name: str = "the current model"


@dataclass(frozen=True)
class CertifyProgress:
    done: int
    total: int
    label: str
    elapsed: float


@dataclass(frozen=True)
class CertifyCurveResult:
    """Certified accuracy (core.defenses.certified_accuracy) at each L2 radius, on the first N test images."""

    radii: np.ndarray
    accuracy: np.ndarray  # fraction in [0, 1], one per radius
    labels: np.ndarray  # true labels
    certified: np.ndarray  # certified class, −1 for abstain
    cert_radii: np.ndarray
    settings: SmoothingSettings
    max_radius: float
    model_name: str
    seconds: float

    @property
    def n(self) -> int:
        return int(len(self.labels))

    @property
    def abstained(self) -> int:
        return int((self.certified < 0).sum())

    @property
    def wrong(self) -> int:
        return int(((self.certified >= 0) & (self.certified != self.labels)).sum())

    @property
    def correct(self) -> int:
        return int((self.certified == self.labels).sum())

    def label(self) -> str:
        return f"{self.settings.describe()}, N = {self.n}"


@dataclass(frozen=True)
class DetectRequest:
    fit_samples: int = 500
    fit_eps: float = 0.1
    samples: int = 200
    eps: float = 0.2
    steps: int = 20
    lam: float = 1.0
    target_fpr: float = 0.05
    data_dir: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    batch_size: int = 50
    model_name: str = "the current model"


@dataclass(frozen=True)
class DetectResult:
    """The detector's fit and its ROC (core.detection.DetectionROC, numpy copies) for each attack."""

    rocs: dict  # attack name → DetectionROC
    fit_info: dict
    fit_source: str
    request: DetectRequest
    model_name: str
    seconds: float


@dataclass(frozen=True)
class CertifyCancelled:
    kind: str
    done: int
    total: int
