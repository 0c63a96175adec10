"""The penultimate-layer projection: the features equal a hand-written forward pass, the hook never outlives the
call, the PCA matches numpy's eigenvectors, paths land where the dataset's points are, and real test digits
form distinct clusters in the 2-D view."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from stroke_digits import strokes
from torch import nn

from advstudio.core.errors import Cancelled
from advstudio.core.explain.projection import (
    fit_projection,
    penultimate_features,
    penultimate_layer,
    project_dataset,
    project_path,
)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return strokes(40, seed=11)


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


def _by_hand(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        z = (x - model.mean) / model.std
        z = model.pool1(model.relu1(model.conv1(z)))
        z = model.pool2(model.relu2(model.conv2(z)))
        return model.relu3(model.fc1(model.flatten(z)))


def test_penultimate_layer_is_the_last_linear(bundled_model):
    name, layer = penultimate_layer(bundled_model)
    assert name == "fc2" and layer is bundled_model.fc2
    with pytest.raises(ValueError, match="no nn.Linear"):
        penultimate_layer(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))


def test_features_equal_relu3_by_hand(bundled_model, images):
    bundled_model.train()  # dropout on: the function must switch it off, then restore the mode
    feats = penultimate_features(bundled_model, images, batch=16)
    assert bundled_model.training
    bundled_model.eval()
    assert feats.shape == (40, 128) and feats.dtype == np.float32
    expect = _by_hand(bundled_model, images).numpy()
    assert np.allclose(feats, expect, atol=1e-5, rtol=1e-4)
    assert float(np.abs(feats).max()) > 0.1
    assert _hooks(bundled_model) == 0


def test_the_hook_sits_on_the_layer_and_is_always_removed():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10)).eval()
    x = torch.rand(12, 1, 28, 28)
    live: list[int] = []
    feats = penultimate_features(mlp, x, batch=5, progress=lambda d, t: live.append(len(mlp[3]._forward_pre_hooks)))
    assert live == [1, 1, 1] and _hooks(mlp) == 0  # hooked on the model itself during the run, gone after
    with torch.no_grad():
        assert np.allclose(feats, mlp[2](mlp[1](mlp[0](x))).numpy(), atol=1e-6)

    def boom(done: int, total: int) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        penultimate_features(mlp, x, batch=5, progress=boom)
    assert _hooks(mlp) == 0
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        penultimate_features(mlp, x, cancel=event)
    assert _hooks(mlp) == 0

    calls: list[tuple[int, int]] = []
    penultimate_features(mlp, x, batch=5, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(5, 12), (10, 12), (12, 12)]


def test_pca_matches_numpy_eigenvectors():
    rng = np.random.default_rng(0)
    scale = np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    feats = (rng.normal(size=(300, 6)) * scale) @ rotation.T + 2.0
    proj = fit_projection(feats.astype(np.float32), "fc2")
    assert proj.layer == "fc2" and proj.components.shape == (2, 6) and proj.mean.shape == (6,)
    assert np.allclose(proj.components @ proj.components.T, np.eye(2), atol=1e-10)
    values, vectors = np.linalg.eigh(np.cov(feats.astype(np.float32).astype(np.float64), rowvar=False))
    order = np.argsort(values)[::-1]
    for k in range(2):
        assert abs(float(proj.components[k] @ vectors[:, order[k]])) == pytest.approx(1.0, abs=1e-8)
        assert proj.components[k][np.abs(proj.components[k]).argmax()] > 0  # the sign rule
    assert np.allclose(proj.explained, values[order[:2]] / values.sum(), rtol=1e-8)
    assert 0 <= proj.explained[1] <= proj.explained[0] <= 1 and proj.explained.sum() <= 1
    assert np.allclose(proj.mean, feats.mean(0), atol=1e-5)
    coords = proj.transform(feats)
    assert coords.shape == (300, 2) and coords.dtype == np.float32
    assert np.allclose(coords, (feats - feats.mean(0)) @ proj.components.T, atol=1e-4)
    assert np.array_equal(fit_projection(-feats).components.shape, (2, 6))
    assert np.allclose(np.abs(fit_projection(-feats).components), np.abs(proj.components), atol=1e-8)
    with pytest.raises(ValueError):
        fit_projection(feats[:1])
    with pytest.raises(ValueError):
        proj.transform(np.zeros((3, 5)))


def test_project_dataset_and_path_agree(bundled_model, images):
    labels = torch.arange(40) % 10
    ps = project_dataset(bundled_model, images, labels, batch=16)
    assert ps.coords.shape == (40, 2) and ps.coords.dtype == np.float32
    assert ps.labels.dtype == np.int64 and np.array_equal(ps.labels, labels.numpy())
    with torch.no_grad():
        assert np.array_equal(ps.preds, bundled_model(images).argmax(1).numpy())
    assert ps.preds.dtype == np.int64 and ps.projection.layer == "fc2"
    feats = penultimate_features(bundled_model, images)
    assert np.allclose(ps.projection.transform(feats), ps.coords, atol=1e-4)
    assert np.allclose(project_path(bundled_model, ps.projection, images), ps.coords, atol=1e-4)
    assert np.allclose(project_path(bundled_model, ps.projection, images[3].numpy()), ps.coords[3:4], atol=1e-4)
    with pytest.raises(ValueError):
        project_dataset(bundled_model, images, labels[:5])


def test_real_digits_form_distinct_clusters(bundled_model, mnist_test):
    """On the first 2,000 test digits, each digit's nearest class centroid in the 2-D view is its own class far
    more often than chance (10 %)."""
    n = 2000
    ps = project_dataset(bundled_model, mnist_test.images[:n], mnist_test.labels[:n])
    centroids = np.stack([ps.coords[ps.labels == c].mean(0) for c in range(10)])
    nearest = np.argmin(((ps.coords[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    hit = float((nearest == ps.labels).mean())
    gaps = np.sqrt(((centroids[:, None] - centroids[None]) ** 2).sum(-1))[np.triu_indices(10, 1)]
    accuracy = float((ps.preds == ps.labels).mean())
    msg = (f"nearest-centroid accuracy in 2-D {hit:.3f}, closest pair of centroids {gaps.min():.3f}, variance "
           f"explained {ps.projection.explained.round(3).tolist()}, model accuracy {accuracy:.3f}")
    assert hit > 0.5, msg
    assert gaps.min() > 0.0, msg
