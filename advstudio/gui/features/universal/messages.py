"""Frozen requests and replies of the "Patch & universal" tab: an adversarial patch (train it, measure it, try
it at several sizes) and a universal perturbation (compute it, try several ε), the drawing with either one
classified while the student drags or ticks, and the files both are kept in. Numpy arrays only; no torch."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

PATCH_WORK = "patch_work"  # train a patch, measure it on the test set, or one patch per size
PATCH_VIEW = "patch_view"  # the drawing with the patch pasted, classified (interactive)
PATCH_FILE = "patch_file"  # load or save a patch (interactive: quick, never waits for a lab run)
UNIVERSAL_WORK = "universal_work"  # compute a perturbation, or one per ε
UNIVERSAL_VIEW = "universal_view"
UNIVERSAL_FILE = "universal_file"
KINDS = (PATCH_WORK, PATCH_VIEW, PATCH_FILE, UNIVERSAL_WORK, UNIVERSAL_VIEW, UNIVERSAL_FILE)

PATCH_LR = 0.1  # Adam's step in the window (the CLI's default): patches toward 8 reach their measured rates
SWEEP_SIDES = (4, 6, 8, 10, 12)
SWEEP_EPS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
METHODS = {  # the method's key, its plain name and its precise description
    "sgd": ("Gradient steps (fast)", "Signed gradient ascent on v over batches of images, projected onto "
                                          "the ε-ball (Shafahi et al. 2020, universal adversarial training)."),
    "deepfool": ("Nearest boundary (slow)", "DeepFool's smallest step across the nearest decision "
                                                         "boundary for each image v does not fool yet, projected "
                                                         "onto the ε-ball (Moosavi-Dezfooli et al. 2017)."),
}


@dataclass(frozen=True)
class PatchData:
    """An adversarial patch (side×side float32 in [0, 1]) toward `target`, and how it was made. `model` names the
    model it was trained against ("" when a file does not say)."""

    patch: np.ndarray
    target: int
    steps: int
    success_rate: float  # on its training images, at random places, over the last steps
    images: int = 0
    seconds: float = 0.0
    model: str = ""
    settings: dict = field(default_factory=dict)

    @property
    def side(self) -> int:
        return int(self.patch.shape[0])


@dataclass(frozen=True)
class UniversalData:
    """A universal perturbation v (28×28 float32, |v| ≤ eps) and how it was made."""

    v: np.ndarray
    eps: float
    method: str
    images: int  # the training images it was computed on
    passes: int
    fooling_rate: float  # on those images
    test_rate: float | None = None  # on `test_images` test images, when measured
    test_images: int = 0
    seconds: float = 0.0
    model: str = ""
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PatchTrainRequest:
    data_dir: str
    target: int
    side: int
    steps: int
    images: int
    cancel: threading.Event
    model: str = ""
    seed: int = 0


@dataclass(frozen=True)
class PatchRateRequest:
    """The patch's success rate on the first n test images, at random places and at `position` (row, column)."""

    data_dir: str
    patch: PatchData
    position: tuple[int, int]
    n: int
    cancel: threading.Event


@dataclass(frozen=True)
class PatchSweepRequest:
    """One patch per side, each measured on n test images at random places and at the centre."""

    data_dir: str
    target: int
    sides: tuple[int, ...]
    steps: int
    images: int
    n: int
    cancel: threading.Event
    seed: int = 0


@dataclass(frozen=True)
class UniversalRequest:
    data_dir: str
    eps: float
    method: str
    images: int
    passes: int
    n: int  # test images its fooling rate is measured on
    cancel: threading.Event
    model: str = ""
    seed: int = 0


@dataclass(frozen=True)
class UniversalSweepRequest:
    data_dir: str
    eps: tuple[float, ...]
    method: str
    images: int
    passes: int
    n: int
    cancel: threading.Event
    seed: int = 0


@dataclass(frozen=True)
class WorkProgress:
    """done of total units (steps or passes) of `label`, `elapsed` seconds in; `rate` the latest success or
    fooling rate on the training images."""

    done: int
    total: int
    label: str
    elapsed: float
    rate: float | None = None
    unit: str = "steps"


@dataclass(frozen=True)
class WorkCancelled:
    what: str  # "train", "rate", "sweep", "compute"
    done: int
    total: int


@dataclass(frozen=True)
class PatchRateResult:
    anywhere: float  # success rate with the patch at random places (seeded)
    here: float  # with the patch at `position` on every image
    position: tuple[int, int]
    n: int  # test images of other classes than the target (those the rate is over)
    target: int
    side: int


@dataclass(frozen=True)
class PatchSweepResult:
    sides: tuple[int, ...]
    anywhere: tuple[float, ...]
    centre: tuple[float, ...]
    train: tuple[float, ...]  # each patch's success on its training images
    target: int
    steps: int
    images: int
    n: int  # test images of other classes
    seconds: float


@dataclass(frozen=True)
class UniversalSweepResult:
    eps: tuple[float, ...]
    train: tuple[float, ...]
    test: tuple[float, ...]
    method: str
    images: int
    passes: int
    n: int
    seconds: float


@dataclass(frozen=True)
class ViewRequest:
    """Classify `image` (the drawing with the patch pasted or v added) and `clean` (the drawing)."""

    image: np.ndarray
    clean: np.ndarray
    position: tuple[int, int] | None = None  # the patch's (row, column)


@dataclass(frozen=True)
class ViewResult:
    image: np.ndarray
    clean: np.ndarray
    probs: np.ndarray
    clean_probs: np.ndarray
    position: tuple[int, int] | None = None

    @property
    def label(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def clean_label(self) -> int:
        return int(np.argmax(self.clean_probs))


@dataclass(frozen=True)
class FileRequest:
    """Load (data None) or save `data` (PatchData or UniversalData) at `path`."""

    action: str  # "load" or "save"
    path: str
    data: PatchData | UniversalData | None = None


@dataclass(frozen=True)
class FileResult:
    action: str
    path: str  # the file written (with its .safetensors suffix) or read
    data: PatchData | UniversalData


def paste(image: np.ndarray, patch: np.ndarray, row: int, col: int) -> np.ndarray:
    """The 28×28 drawing with the patch replacing the pixels under it, its top-left corner at (row, col) (kept
    inside the image); numpy, for the GUI thread."""
    out = np.array(image, dtype=np.float32).reshape(28, 28)
    side = int(patch.shape[0])
    row, col = (int(min(max(v, 0), 28 - side)) for v in (row, col))
    out[row: row + side, col: col + side] = patch
    return out


def add_universal(image: np.ndarray, v: np.ndarray) -> np.ndarray:
    """drawing + v, clamped to [0, 1] (numpy, as core.universal.apply_universal)."""
    return np.clip(np.asarray(image, dtype=np.float32).reshape(28, 28) + v, 0.0, 1.0).astype(np.float32)


def centre(side: int) -> tuple[int, int]:
    return (28 - side) // 2, (28 - side) // 2


def has_ink(image: np.ndarray | None) -> bool:
    """A drawing with something on it (an empty canvas is None or all zeros)."""
    return image is not None and bool(np.any(np.asarray(image) > 0))
