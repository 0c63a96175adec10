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


class CleanAndAdversarial:
    """The labels of a result that holds clean_probs and adv_probs (the classes the model reads)."""

    clean_probs: np.ndarray
    adv_probs: np.ndarray

    @property
    def clean_label(self) -> int:
        return int(np.argmax(self.clean_probs))

    @property
    def adv_label(self) -> int:
        return int(np.argmax(self.adv_probs))


@dataclass(frozen=True)
class AttackResult(CleanAndAdversarial):
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


def _frozen_copy(a, dtype) -> np.ndarray:
    """A read-only numpy copy, so a result handed to another thread cannot be changed under it."""
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one ReLU layer's output over `samples` inputs (see core/activations.py).

    "Active" means a value above zero. The histogram counts active values only, in fixed bins from 0 to the
    layer's top edge, bin k holding (edges[k], edges[k+1]]; zeros are `zero_count`, and values above the top
    edge are `overflow`, so zero_count + hist_counts.sum() + overflow == count.
    With histograms off, hist_counts and hist_edges are empty and overflow is 0."""

    name: str  # module name from named_modules(); a module called twice in one forward gives "name@2"
    shape: tuple[int, ...]  # one sample's activation shape, e.g. (32, 28, 28)
    samples: int
    mean: float
    std: float  # population std over all values of all samples
    min: float
    max: float
    active_fraction: float
    hist_counts: np.ndarray  # (bins,) int64, active values per bin
    hist_edges: np.ndarray  # (bins + 1,) float64, fixed per layer (same for clean and adversarial)
    overflow: int  # active values above hist_edges[-1]
    active_count: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "hist_counts", _frozen_copy(self.hist_counts, np.int64))
        object.__setattr__(self, "hist_edges", _frozen_copy(self.hist_edges, np.float64))

    @property
    def units(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def count(self) -> int:
        return self.units * self.samples

    @property
    def zero_count(self) -> int:
        return self.count - self.active_count

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "samples": self.samples,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "active_fraction": self.active_fraction,
            "active_count": self.active_count,
            "zero_count": self.zero_count,
            "histogram": {
                "edges": [float(e) for e in self.hist_edges],
                "counts": [int(c) for c in self.hist_counts],
                "overflow": self.overflow,
                "note": "active (non-zero) values only; zeros are zero_count",
            },
        }


@dataclass(frozen=True)
class ActivationStats:
    """Per-layer statistics of one kind of input ("clean" or "adversarial"), layers in forward order.

    `feature_maps` holds, only when asked for, every layer's activation for one image (the image at index
    `map_index` of the stream): (C, H, W) float32 for convolution layers, (units,) for fully connected ones."""

    tag: str
    samples: int
    layers: tuple[LayerStats, ...]
    feature_maps: dict = field(default_factory=dict)  # {layer name: read-only float32 array}
    map_index: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(
            self, "feature_maps", {k: _frozen_copy(v, np.float32) for k, v in self.feature_maps.items()}
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def ranges(self) -> dict[str, float]:
        """Each layer's histogram top edge: pass as `ranges=` to keep the same bins in the next request."""
        return {layer.name: float(layer.hist_edges[-1]) for layer in self.layers if layer.hist_edges.size}

    def layer(self, name: str) -> LayerStats:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r}; the layers are {', '.join(self.names)}")

    def to_json(self) -> dict:
        return {"tag": self.tag, "samples": self.samples, "layers": [layer.to_json() for layer in self.layers]}


@dataclass(frozen=True)
class LayerShift:
    """How one layer's activations move from clean to adversarial inputs (same images, unit by unit).

    relative_shift = mean |a_adv − a_clean| / mean |a_clean| (means over all units of all samples): the
    average change of an activation in units of the layer's clean scale, so layers of different magnitudes
    compare. flip_fraction is the fraction of units whose on/off (active/zero) state differs."""

    name: str
    mean_abs_change: float
    clean_mean_abs: float
    relative_shift: float  # nan when the clean layer is all zeros
    flip_fraction: float
    on_to_off_fraction: float  # active on the clean input, zero on the adversarial one
    off_to_on_fraction: float

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "mean_abs_change": self.mean_abs_change,
            "clean_mean_abs": self.clean_mean_abs,
            "relative_shift": self.relative_shift,
            "flip_fraction": self.flip_fraction,
            "on_to_off_fraction": self.on_to_off_fraction,
            "off_to_on_fraction": self.off_to_on_fraction,
        }


@dataclass(frozen=True)
class ActivationComparison:
    """Clean against adversarial activations for the same images: both statistics and the per-layer shift.

    `attack` and `params` name what made the adversarial inputs (e.g. "fgsm", {"eps": 0.1}); accuracies are
    None when no labels were given."""

    clean: ActivationStats
    adversarial: ActivationStats
    shifts: tuple[LayerShift, ...]
    samples: int
    predictions_changed: int  # images whose predicted class differs between clean and adversarial
    clean_accuracy: float | None = None
    adversarial_accuracy: float | None = None
    attack: str = ""
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shifts", tuple(self.shifts))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.shifts)

    def shift(self, name: str) -> LayerShift:
        for s in self.shifts:
            if s.name == name:
                return s
        raise KeyError(f"no layer {name!r}; the layers are {', '.join(self.names)}")

    def feature_map_difference(self, name: str) -> np.ndarray:
        """Adversarial minus clean activation of the one recorded image (needs feature maps)."""
        if name not in self.clean.feature_maps or name not in self.adversarial.feature_maps:
            raise KeyError(f"no feature maps recorded for {name!r} (ask for them with feature_maps=True)")
        return self.adversarial.feature_maps[name] - self.clean.feature_maps[name]

    def to_json(self) -> dict:
        return {
            "attack": self.attack,
            "params": self.params,
            "samples": self.samples,
            "predictions_changed": self.predictions_changed,
            "clean_accuracy": self.clean_accuracy,
            "adversarial_accuracy": self.adversarial_accuracy,
            "shift_definition": "relative_shift = mean|a_adv - a_clean| / mean|a_clean| over all units and samples; "
            "flip_fraction = fraction of units active in exactly one of clean, adversarial",
            "clean": self.clean.to_json(),
            "adversarial": self.adversarial.to_json(),
            "shifts": [s.to_json() for s in self.shifts],
        }
