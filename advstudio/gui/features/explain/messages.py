"""Frozen requests and replies of the "Why it breaks" tab: attributions of the drawing and its adversarial version
on two models, the loss landscape around the drawing, the decision plane it walks across and its place among all
test digits. Numpy copies and plain values only.

Every reply names the classes it shows (`class_names`: the model's, one per output, "0".."K-1" when the model
records none), so the views and sentences say names, for a model of any number of classes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

ATTRIBUTE_KIND = "explain_attribute"
LANDSCAPE_KIND = "explain_landscape"
BOUNDARY_KIND = "explain_boundary"
PROJECTION_KIND = "explain_projection"

# what the landscape is computed on: the studio's model, the other bundled one, or the studio's model behind an
# input transform that masks gradients (the plain attacker sees a zero gradient through it)
LANDSCAPE_MODELS = {
    "current": "The model in use",
    "other": "The other bundled model",
    "jpeg": "In use, behind JPEG q50",
    "bit_depth": "In use, behind 2-bit depth",
}
DIRECTIONS = {
    "own": "The gradient it shows an attacker",
    "bpda": "Without the defense (BPDA)",
}
THIRD_POINTS = {
    "random": "A random direction",
    "fgsm": "FGSM's result",
}
BOUNDARY_ATTACKS = {
    "pgd": "PGD (40 steps)",
    "fgsm": "FGSM (one step)",
}


@dataclass(frozen=True)
class Attack:
    """The studio's attack, which every picture here applies: FGSM at ε (untargeted, or toward `target`)."""

    method: str = "fgsm"
    target: int | None = None
    eps: float = 0.1


@dataclass(frozen=True)
class ModelChoice:
    """A model a picture is drawn for: the studio's current one (path None) or a model file. `classes`: its class
    names (empty: the job reads them from the file's metadata, else numbers them)."""

    name: str
    path: str | None = None
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttributeRequest:
    image: np.ndarray  # 28×28 in [0, 1]
    attack: Attack
    method: str  # core.explain.attribution.METHODS
    settings: tuple = ()  # (name, value) pairs: steps for IG, samples and sigma for SmoothGrad
    models: tuple["ModelChoice", ...] = ()  # the rows: the studio's model first, then the other bundled one


@dataclass(frozen=True)
class AttributionRow:
    """One model: its attributions of the clean drawing and of its own FGSM version (each for the class read)."""

    model_name: str
    clean: np.ndarray  # 28×28
    adversarial: np.ndarray  # 28×28
    maps: np.ndarray  # (2, 28, 28): clean, adversarial
    classes: tuple[int, int]  # the class each map explains (the model's reading)
    confidence: tuple[float, float]
    ink_share: tuple[float, float]  # share of |attribution| on the drawing's ink
    relative_delta: tuple[float, float] | None  # Integrated Gradients' completeness gap, else None
    names: tuple[str, ...] = ()  # this model's class names, one per output


@dataclass(frozen=True)
class AttributeResult:
    method: str
    signed: bool
    params: dict
    attack: Attack
    rows: tuple[AttributionRow, ...]
    seconds: float


@dataclass(frozen=True)
class LandscapeRequest:
    image: np.ndarray
    eps: float
    model: str = "current"  # a LANDSCAPE_MODELS key
    direction: str = "own"  # a DIRECTIONS key (bpda only for a transform)
    grid: int = 41
    current: ModelChoice = ModelChoice("the model in use")
    other: ModelChoice | None = None  # the "other" choice's file


@dataclass(frozen=True)
class LandscapeResult:
    a: np.ndarray
    b: np.ndarray
    loss: np.ndarray  # (G, G): row ↔ b, column ↔ a
    pred: np.ndarray  # (G, G)
    label: int
    clean_pred: int
    eps: float
    span: float
    gradient_zero: bool
    flipped_share: float
    rise_a: float
    rise_b: float
    model_name: str
    request: LandscapeRequest
    seconds: float
    class_names: tuple[str, ...] = ()  # the judged model's class names


@dataclass(frozen=True)
class BoundaryRequest:
    image: np.ndarray
    eps: float
    attack: str = "pgd"  # a BOUNDARY_ATTACKS key
    third: str = "random"  # a THIRD_POINTS key
    grid: int = 81
    model_name: str = "the model in use"
    classes: tuple[str, ...] = ()  # the model's class names (empty: numbered)


@dataclass(frozen=True)
class BoundaryResult:
    u: np.ndarray
    v: np.ndarray
    pred: np.ndarray  # (G, G): row ↔ v, column ↔ u
    confidence: np.ndarray
    points: dict  # name → (u, v)
    path: np.ndarray | None  # (T, 2)
    path_off_plane: np.ndarray | None
    crossing: int | None
    clamped_share: float
    clean_pred: int
    adv_pred: int
    third_name: str
    model_name: str
    request: BoundaryRequest
    seconds: float
    class_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectionRequest:
    image: np.ndarray
    eps: float
    data_dir: str
    samples: int = 10000
    model_name: str = "the model in use"
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    classes: tuple[str, ...] = ()  # the model's class names (empty: numbered)


@dataclass(frozen=True)
class ExplainProgress:
    """Points (landscape, plane) or test digits (projection) done so far, for the page's bar."""

    done: int
    total: int
    label: str
    elapsed: float


@dataclass(frozen=True)
class ProjectionResult:
    coords: np.ndarray  # (N, 2) float32
    labels: np.ndarray  # (N,) int64
    path: np.ndarray  # (T, 2): the drawing's PGD iterates, clean first
    path_classes: np.ndarray  # (T,) the model's class at each iterate
    explained: tuple[float, float]
    layer: str
    model_name: str
    cached: bool  # the test set's projection came from this session's cache
    request: ProjectionRequest
    seconds: float
    class_names: tuple[str, ...] = ()  # the model's (path_classes)
    label_names: tuple[str, ...] = ()  # the dataset's (labels)


@dataclass(frozen=True)
class ExplainCancelled:
    kind: str
    done: int
    total: int
