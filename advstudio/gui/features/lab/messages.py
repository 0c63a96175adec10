"""Frozen requests and replies of the robustness lab (curves over the test set), and the one-line descriptions
every curve carries (attack, ε, steps, restarts, n)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from advstudio.core.classes import DIGITS
from advstudio.core.describe import attack_title, short_label, steps_text
from advstudio.gui.models import ModelEntry

LAB_KIND = "lab"


@dataclass(frozen=True)
class LabSpec:
    """One curve to compute: a model under an attack with its settings (make_attack keywords, no eps)."""

    model: ModelEntry
    attack: str
    settings: dict


@dataclass(frozen=True)
class LabRequest:
    """Curves over the first `n` test images of `data_dir`, at each ε of `eps` (L∞ radii, or L2 radii for
    the minimal-L2 attacks). `cancel` stops this run only (checked between attack steps)."""

    specs: tuple[LabSpec, ...]
    eps: tuple[float, ...]
    n: int
    data_dir: str | None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    target: int | None = None
    batch_size: int = 250


@dataclass(frozen=True)
class LabProgress:
    done: int
    total: int
    label: str  # what is running now
    elapsed: float


@dataclass(frozen=True)
class LabCurve:
    """One curve and, at `detail_eps`, its confusion matrix under attack and most confident mistakes; `classes`
    names the matrix's rows and columns (the model's class names, else the data's, else numbered)."""

    model: ModelEntry
    model_name: str
    model_path: str
    curve: object  # core.evaluate.RobustnessCurve (frozen; params hold plain Python values)
    detail_eps: float
    confusion: np.ndarray  # (K, K) rows true class, columns class under attack; K = len(classes)
    mistakes: object  # core.attack_lab.MistakeGallery (numpy copies)
    masking: tuple = ()  # gui.widgets.masking.MaskingNote: the model's gradient-masking checks (+ AutoAttack's)
    classes: tuple[str, ...] = DIGITS  # the names of the K classes the confusion matrix counts

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def attack(self) -> str:
        return self.curve.attack

    def label(self) -> str:
        """Legend text: model, attack, steps, restarts, n."""
        p = self.curve.params
        return f"{self.model_name} · {short_label(self.attack, p)} · {steps_text(self.attack, p)} · n = {self.curve.n}"

    def describe(self) -> str:
        """The full one-line description of this curve's settings."""
        p = self.curve.params
        norm = {"l2": "L2 radius", "l0": "pixels changed"}.get(p.get("eps_norm"), "L∞ ε")
        eps = ", ".join(f"{e:g}" for e in self.curve.eps)
        bits = [f"{attack_title(self.attack)}", "targeted" if p.get("targeted") else "untargeted",
                steps_text(self.attack, p)]
        if p.get("step_size_rule"):
            bits.append(f"step {p['step_size_rule'].replace('*', '·')}")
        elif p.get("step_size") is not None:
            bits.append(f"step {p['step_size']:g}")
        if p.get("random_start"):
            bits.append("random start")
        if self.attack != "fgsm":
            bits.append("early stop" if p.get("early_stop") else "every step")
        return f"{self.model_name}: {', '.join(bits)}; {norm} ∈ {{{eps}}}; n = {self.curve.n} test images"


@dataclass(frozen=True)
class LabResult:
    curves: tuple[LabCurve, ...]
    seconds: float


@dataclass(frozen=True)
class LabCancelled:
    done: int
    total: int


TRANSFER_KIND = "lab_transfer"


@dataclass(frozen=True)
class TransferRequest:
    """A transfer matrix: `attack` crafted (untargeted) on each model over the first `n` test images, judged by every
    model; eps None for the minimal-size attacks."""

    models: tuple[ModelEntry, ...]
    attack: str
    eps: float | None
    settings: dict
    n: int
    data_dir: str | None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    batch_size: int = 250


@dataclass(frozen=True)
class TransferResult:
    """core.evaluation.transfer.TransferMatrix (a deep copy: plain Python values) and where each model came from."""

    matrix: object
    model_paths: tuple[str, ...]
    seconds: float
