"""Where a drawing sits among all digits: the penultimate-layer features (the input of the last linear layer)
of a dataset, projected onto their first two principal axes, and an attack's path through the same axes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from advstudio.core.attacks.common import eval_mode, fast_layout
from advstudio.core.explain.landscape import DEFAULT_BATCH, CancelEvent, Progress, check_cancel, model_device


def penultimate_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The last nn.Linear in module order, with its qualified name: its input is the penultimate representation
    (relu3's output for MnistCNN; the dropout between is the identity in eval mode)."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer, so it has no penultimate representation "
                         "to project")
    return found[-1]


def _layer(model: nn.Module, name: str) -> nn.Module:
    """The module called `name` (the penultimate layer when name is empty)."""
    if not name:
        return penultimate_layer(model)[1]
    modules = dict(model.named_modules())
    if name not in modules:
        raise ValueError(f"{type(model).__name__} has no layer {name!r}: the projection was fitted on another model")
    return modules[name]


def _batch_of_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """N×C×H×W float32 from a tensor or array of images ((C, H, W): one image)."""
    t = torch.as_tensor(images).detach().to(torch.float32)
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(t.shape)}")
    return t


def _features_and_logits(model: nn.Module, layer_name: str, images: torch.Tensor | np.ndarray, batch: int,
                         cancel: CancelEvent | None, progress: Progress | None,
                         keep_logits: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """One pass over the images: the input of the named layer, captured by a forward pre-hook that is always
    removed, and (when asked) the logits of the same forward passes."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    images = _batch_of_images(images)
    fast = fast_layout(model)  # a channels-last copy for the CNN: its modules carry the same names
    layer = _layer(fast, layer_name)
    captured: list[torch.Tensor] = []

    def grab(_module: nn.Module, inputs: tuple) -> None:
        captured.append(inputs[0].detach().flatten(1).to("cpu", torch.float32))

    feats: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    total = int(images.shape[0])
    device = model_device(fast, images.device)
    handle = layer.register_forward_pre_hook(grab)
    try:
        with eval_mode(model), eval_mode(fast), torch.inference_mode():
            for start in range(0, total, batch):
                check_cancel(cancel, "penultimate-layer features")
                captured.clear()
                out = fast(images[start : start + batch].to(device))
                if len(captured) != 1:
                    raise ValueError(f"the layer {layer_name or 'found'} ran {len(captured)} times in one forward "
                                     "pass; its input is no single representation")
                feats.append(captured[0])
                if keep_logits:
                    logits.append(out.detach().to("cpu", torch.float32))
                if progress is not None:
                    progress(min(start + batch, total), total)
    finally:
        handle.remove()
    if not feats:
        raise ValueError("no images to compute features of")
    return torch.cat(feats).numpy(), (torch.cat(logits).numpy() if keep_logits else None)


def penultimate_features(model: nn.Module, images: torch.Tensor | np.ndarray, batch: int = DEFAULT_BATCH,
                         cancel: CancelEvent | None = None, progress: Progress | None = None) -> np.ndarray:
    """(N, d) float32: the input of the model's last linear layer for each image, in eval mode, batch by batch."""
    name, _ = penultimate_layer(model)
    return _features_and_logits(model, name, images, batch, cancel, progress, keep_logits=False)[0]


@dataclass(frozen=True)
class Projection:
    """The first two principal axes of a set of features: x ↦ (x − mean)·componentsᵀ."""

    mean: np.ndarray  # (d,)
    components: np.ndarray  # (2, d) unit rows, each with its largest-|.| entry positive
    explained: np.ndarray  # (2,) share of the total variance along each axis
    layer: str  # the layer whose input the features are ("" when unknown)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """(N, 2) float32 coordinates of (N, d) features (one (d,) feature vector: (1, 2))."""
        f = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if f.shape[1] != self.mean.shape[0]:
            raise ValueError(f"features have {f.shape[1]} dimensions, the projection {self.mean.shape[0]}")
        return ((f - self.mean) @ self.components.T).astype(np.float32)


def fit_projection(features: np.ndarray, layer: str = "") -> Projection:
    """PCA of (N, d) features by an SVD of the centred features in float64, with deterministic signs."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2 or f.shape[1] < 2:
        raise ValueError(f"a 2-D projection needs at least 2 feature vectors of at least 2 dimensions, got shape "
                         f"{f.shape}")
    mean = f.mean(0)
    _, singular, vt = np.linalg.svd(f - mean, full_matrices=False)
    components = vt[:2].copy()
    rows = np.arange(2)
    components *= np.where(components[rows, np.abs(components).argmax(1)] < 0, -1.0, 1.0)[:, None]
    variance = singular**2
    total = float(variance.sum())
    explained = variance[:2] / total if total > 0 else np.zeros(2)
    return Projection(mean=mean, components=components, explained=explained, layer=layer)


@dataclass(frozen=True)
class ProjectedSet:
    """A dataset in the 2-D penultimate-layer view, with its true labels and the model's classes."""

    projection: Projection
    coords: np.ndarray  # (N, 2) float32
    labels: np.ndarray  # (N,) int64 true labels
    preds: np.ndarray  # (N,) int64 the model's classes


def project_dataset(model: nn.Module, images: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                    batch: int = DEFAULT_BATCH, cancel: CancelEvent | None = None,
                    progress: Progress | None = None) -> ProjectedSet:
    """Features, predictions and the PCA of the features, in one pass over the images (the pre-hook captures
    the features while the same forward pass gives the logits)."""
    labels_np = np.asarray(torch.as_tensor(labels).detach().cpu().numpy(), dtype=np.int64).reshape(-1)
    name, _ = penultimate_layer(model)
    feats, logits = _features_and_logits(model, name, images, batch, cancel, progress, keep_logits=True)
    if labels_np.shape[0] != feats.shape[0]:
        raise ValueError(f"{feats.shape[0]} images but {labels_np.shape[0]} labels")
    assert logits is not None
    projection = fit_projection(feats, name)
    return ProjectedSet(
        projection=projection,
        coords=projection.transform(feats),
        labels=labels_np,
        preds=logits.argmax(1).astype(np.int64),
    )


def project_path(model: nn.Module, projection: Projection, images: torch.Tensor | np.ndarray,
                 batch: int = DEFAULT_BATCH) -> np.ndarray:
    """(T, 2): a trajectory's images ((T, C, H, W)) through the projection's layer and axes."""
    feats, _ = _features_and_logits(model, projection.layer, images, batch, None, None, keep_logits=False)
    return projection.transform(feats)

