"""Saliency, SmoothGrad, Integrated Gradients and Grad-CAM: the same maps as captum 0.9 on both bundled models,
IG completeness, the model's mode and parameters left alone, hooks always removed, readable errors, and the
robust model's gradient sitting on the digit's strokes (real MNIST, skipped without it)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from advstudio.core.explain.attribution import (
    METHOD_TITLES,
    METHODS,
    SIGNED,
    attribute,
    gradcam,
    gradcam_layer,
    ink_share,
    integrated_gradients,
    last_conv,
    saliency,
    smoothgrad,
)

# A few synthetic digit-like images (strokes drawn with numpy, jittered by a fixed seed; no MNIST bytes): both
# bundled models read them as 0, 1, 4, 7, 3, 2.
STROKES = {
    0: [((6, 10), (6, 18)), ((6, 18), (14, 21)), ((14, 21), (22, 18)), ((22, 18), (22, 10)), ((22, 10), (14, 7)),
        ((14, 7), (6, 10))],
    1: [((5, 14), (23, 14))],
    4: [((5, 9), (15, 9)), ((15, 9), (15, 20)), ((5, 17), (23, 17))],
    7: [((6, 8), (6, 20)), ((6, 20), (23, 11))],
    3: [((6, 9), (6, 19)), ((6, 19), (14, 13)), ((14, 13), (22, 19)), ((22, 19), (22, 9))],
    2: [((7, 8), (6, 19)), ((6, 19), (13, 19)), ((13, 19), (22, 8)), ((22, 8), (22, 20))],
}
# IG completeness (relative_delta < 1 %) on these digits: the standard model passes from 32 steps; the robust one
# needs 64 (worst 0.97 %, 4.2 % at 50) and converges unevenly (0.53 % at 100, 0.61 % at 128, 0.67 % at 256).
COMPLETE_STEPS = 128


def _stroke(img: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width: float = 1.3) -> None:
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float64)
    d = np.array([p1[0] - p0[0], p1[1] - p0[1]])
    s = np.clip(((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / max(float(d @ d), 1e-9), 0, 1)
    dist = np.hypot(yy - (p0[0] + s * d[0]), xx - (p0[1] + s * d[1]))
    np.maximum(img, np.clip(1.5 - dist / width, 0, 1), out=img)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    rng = np.random.default_rng(0)
    out = []
    for lines in STROKES.values():
        img = np.zeros((28, 28))
        dy, dx = rng.uniform(-1.5, 1.5, 2)
        for a, b in lines:
            _stroke(img, (a[0] + dy, a[1] + dx), (b[0] + dy, b[1] + dx))
        out.append(img)
    return torch.tensor(np.stack(out)[:, None], dtype=torch.float32)


@pytest.fixture(scope="module")
def captum():
    return pytest.importorskip("captum.attr", reason="captum (a test extra: pip install -c constraints.txt -e "
                               "'.[test]') is needed for the cross-checks")


@pytest.fixture(params=["standard", "robust"])
def model(request, bundled_model, robust) -> nn.Module:
    return bundled_model.eval() if request.param == "standard" else robust


def _close(ours: np.ndarray, theirs: torch.Tensor) -> None:
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape
    scale = max(float(np.abs(theirs).max()), 1e-12)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * scale)


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


# ---------------------------------------------------------------------------------------------------------------
# the same maps as captum


def test_saliency_matches_captum(captum, model, digits):
    a = saliency(model, digits)
    t = torch.as_tensor(a.targets)
    theirs = captum.Saliency(model).attribute(digits.clone().requires_grad_(True), target=t, abs=True)
    _close(a.maps, theirs[:, 0])


def test_integrated_gradients_matches_captum_up_to_its_trapezoid_weights(captum, model, digits):
    """captum's riemann_trapezoid with n_steps = steps + 1 takes our steps + 1 points but weights them 1/(steps + 1)
    (ends halved), so its sum is ours × steps/(steps + 1)."""
    steps = 50
    a = integrated_gradients(model, digits, steps=steps)
    ig = captum.IntegratedGradients(model)
    theirs = ig.attribute(digits, baselines=0, target=torch.as_tensor(a.targets), n_steps=steps + 1,
                          method="riemann_trapezoid")
    _close(a.maps, theirs[:, 0] * (steps + 1) / steps)


def test_integrated_gradients_is_exact_on_a_linear_model_where_captums_rule_is_not(captum, digits):
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    a = integrated_gradients(linear, digits, steps=10)
    assert float(np.abs(a.relative_delta).max()) < 1e-5
    ig = captum.IntegratedGradients(linear)
    theirs, delta = ig.attribute(digits, baselines=0, target=torch.as_tensor(a.targets), n_steps=11,
                                 method="riemann_trapezoid", return_convergence_delta=True)
    gap = theirs.sum(dim=(1, 2, 3)) - delta
    np.testing.assert_allclose((delta.abs() / gap.abs()).detach().numpy(), 1 / 11, rtol=1e-3)


@pytest.mark.parametrize("layer", ["conv2", "relu2"])
def test_gradcam_matches_captum(captum, model, digits, layer):
    a = gradcam(model, digits, layer=layer)
    module = getattr(model, layer)
    cam = captum.LayerGradCam(model, module).attribute(digits, target=torch.as_tensor(a.targets),
                                                        relu_attributions=True)
    _close(a.maps, captum.LayerAttribution.interpolate(cam, (28, 28), interpolate_mode="bilinear")[:, 0])
    if layer == "relu2":  # conv2's maps are all zero for the robust model on these digits: check something shows
        assert (a.maps.reshape(len(digits), -1).max(1) > 0).all()


def test_smoothgrad_matches_captum_noise_tunnel_given_the_same_noise(captum, model, digits):
    """NoiseTunnel draws torch.normal(0, σ) from the global generator in repeat_interleave order; seeding it as
    ours is seeded gives the very same noisy copies."""
    a = smoothgrad(model, digits, samples=30, sigma=0.15, seed=7, batch=64)
    with torch.random.fork_rng():
        torch.manual_seed(7)
        theirs = captum.NoiseTunnel(captum.Saliency(model)).attribute(
            digits, nt_type="smoothgrad", nt_samples=30, stdevs=0.15, target=torch.as_tensor(a.targets), abs=True)
    _close(a.maps, theirs[:, 0])


# ---------------------------------------------------------------------------------------------------------------
# Integrated Gradients' completeness


def test_integrated_gradients_completeness(model, digits):
    a = integrated_gradients(model, digits, steps=COMPLETE_STEPS)
    assert a.relative_delta.max() < 0.01, a.relative_delta
    ends = _logits(model, torch.cat([digits, torch.zeros_like(digits)]))
    t = torch.as_tensor(a.targets)
    f_x = ends[: len(digits)].gather(1, t[:, None])[:, 0].numpy()
    f_b = ends[len(digits):].gather(1, t[:, None])[:, 0].numpy()
    gap = a.maps.sum(axis=(1, 2)) - (f_x - f_b)
    np.testing.assert_allclose(a.delta, gap, atol=1e-4)
    np.testing.assert_allclose(a.relative_delta, np.abs(gap) / np.abs(f_x - f_b), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(a.scores, f_x, rtol=1e-5)
    assert a.params["steps"] == COMPLETE_STEPS and a.params["baseline"] == "zeros"


def test_integrated_gradients_baselines(bundled_model, digits):
    same = integrated_gradients(bundled_model, digits, baseline=digits, steps=4)
    assert np.abs(same.maps).max() == 0 and np.abs(same.delta).max() < 1e-5
    zero = integrated_gradients(bundled_model, digits, steps=8)
    np.testing.assert_allclose(integrated_gradients(bundled_model, digits, baseline=0.0, steps=8).maps, zero.maps)
    np.testing.assert_allclose(integrated_gradients(bundled_model, digits, steps=8, batch=5).maps, zero.maps,
                               atol=1e-6)
    grey = integrated_gradients(bundled_model, digits, baseline=torch.full((1, 28, 28), 0.5), steps=8)
    assert grey.params["baseline"] == "tensor" and not np.allclose(grey.maps, zero.maps)
    with pytest.raises(ValueError, match="does not fit"):
        integrated_gradients(bundled_model, digits, baseline=torch.zeros(3, 1, 28, 28))


# ---------------------------------------------------------------------------------------------------------------
# behaviour

FAST = {"saliency": {}, "smoothgrad": {"samples": 4}, "ig": {"steps": 4}, "gradcam": {}}


@pytest.mark.parametrize("method", METHODS)
def test_mode_restored_no_parameter_grads_and_dropout_off(bundled_model, digits, method):
    training = copy.deepcopy(bundled_model).train()
    a = attribute(training, digits, method, **FAST[method])
    assert training.training and all(m.training for m in training.modules())
    assert all(p.grad is None for p in training.parameters())
    b = attribute(bundled_model.eval(), digits, method, **FAST[method])
    assert not bundled_model.training and all(p.grad is None for p in bundled_model.parameters())
    np.testing.assert_allclose(a.maps, b.maps, rtol=1e-5, atol=1e-7)  # dropout was off in the train-mode copy
    assert a.method == method and method in METHOD_TITLES and method in SIGNED
    assert a.maps.shape == (len(digits), 28, 28) and a.maps.dtype == np.float32
    assert a.targets.dtype == np.int64 and a.scores.dtype == np.float32
    assert (a.delta is not None) == (method == "ig") == SIGNED[method]


@pytest.mark.parametrize("method", METHODS)
def test_targets(bundled_model, digits, method):
    logits = _logits(bundled_model, digits)
    a = attribute(bundled_model, digits, method, **FAST[method])
    np.testing.assert_array_equal(a.targets, logits.argmax(1).numpy())
    np.testing.assert_allclose(a.scores, logits.max(1).values.numpy(), rtol=1e-5)
    b = attribute(bundled_model, digits, method, targets=5, **FAST[method])
    np.testing.assert_array_equal(b.targets, np.full(len(digits), 5))
    np.testing.assert_allclose(b.scores, logits[:, 5].numpy(), rtol=1e-5)
    listed = list(range(len(digits)))
    c = attribute(bundled_model, digits, method, targets=listed, **FAST[method])
    d = attribute(bundled_model, digits, method, targets=torch.tensor(listed), **FAST[method])
    np.testing.assert_array_equal(c.targets, listed)
    np.testing.assert_array_equal(c.maps, d.maps)
    for bad, message in ((10, "not a class"), (-1, "not a class"), ([0, 1], "one target per image"),
                         (torch.tensor([[1] * len(digits)]), "one target per image"), (1.5, "integer"),
                         (True, "bool"), (["a"] * len(digits), "class ind")):
        with pytest.raises(ValueError, match=message):
            attribute(bundled_model, digits, method, targets=bad, **FAST[method])


def test_single_image_and_bad_inputs(bundled_model, digits):
    one = saliency(bundled_model, digits[0])
    np.testing.assert_allclose(one.maps[0], saliency(bundled_model, digits).maps[0], rtol=1e-4, atol=1e-6)
    assert one.maps.shape == (1, 28, 28)
    for bad, message in ((digits[0, 0], "N×C×H×W"), ((digits * 255).to(torch.uint8), "floating"),
                         (digits[:0], "no images"), (digits.numpy(), "torch tensor")):
        with pytest.raises(ValueError, match=message):
            saliency(bundled_model, bad)


def test_bad_methods_and_settings(bundled_model, digits):
    with pytest.raises(ValueError, match="saliency, smoothgrad, ig, gradcam"):
        attribute(bundled_model, digits, "lime")
    with pytest.raises(ValueError, match="no setting 'steps'"):
        attribute(bundled_model, digits, "saliency", steps=3)
    for method, settings, message in (("ig", {"steps": 0}, "steps"), ("ig", {"steps": 2.5}, "steps"),
                                      ("ig", {"batch": 0}, "batch"), ("smoothgrad", {"samples": 0}, "samples"),
                                      ("smoothgrad", {"sigma": -0.1}, "sigma"),
                                      ("smoothgrad", {"sigma": float("nan")}, "sigma"),
                                      ("ig", {"baseline": float("inf")}, "finite"),
                                      ("gradcam", {"layer": "conv9"}, "no layer named 'conv9'"),
                                      ("gradcam", {"layer": nn.Conv2d(1, 1, 3)}, "not a module of this model")):
        with pytest.raises(ValueError, match=message):
            attribute(bundled_model, digits, method, **settings)


def test_smoothgrad_seeds(bundled_model, digits):
    a = smoothgrad(bundled_model, digits, samples=8, seed=3)
    np.testing.assert_array_equal(a.maps, smoothgrad(bundled_model, digits, samples=8, seed=3).maps)
    np.testing.assert_allclose(a.maps, smoothgrad(bundled_model, digits, samples=8, seed=3, batch=5).maps,
                               rtol=1e-5, atol=1e-7)  # chunking changes nothing but float rounding
    assert np.abs(a.maps - smoothgrad(bundled_model, digits, samples=8, seed=4).maps).max() > 1e-3
    np.testing.assert_allclose(smoothgrad(bundled_model, digits, samples=3, sigma=0.0).maps,
                               saliency(bundled_model, digits).maps, rtol=1e-5, atol=1e-7)
    assert a.params == {"samples": 8, "sigma": 0.15, "seed": 3}


def test_gradcam_maps_layers_and_hooks(bundled_model, digits):
    hooks = {name: len(m._forward_hooks) for name, m in bundled_model.named_modules()}
    a = gradcam(bundled_model, digits)
    assert a.maps.shape == (len(digits), 28, 28) and (a.maps >= 0).all() and a.maps.max() > 0
    assert a.params == {"layer": "relu2", "feature_map": (14, 14), "channels": 64}  # the activation after conv2
    np.testing.assert_array_equal(gradcam(bundled_model, digits, layer=bundled_model.relu2).maps, a.maps)
    assert gradcam(bundled_model, digits, layer="conv1").params["feature_map"] == (28, 28)
    with pytest.raises(ValueError, match="not a class"):
        gradcam(bundled_model, digits, targets=10)
    for layer in ("fc1", ""):  # a linear layer, the model itself (its output is the logits)
        with pytest.raises(ValueError, match="N×K×h×w"):
            gradcam(bundled_model, digits, layer=layer)
    assert {name: len(m._forward_hooks) for name, m in bundled_model.named_modules()} == hooks
    assert last_conv(bundled_model)[0] == "conv2"
    assert gradcam_layer(bundled_model)[0] == "relu2"
    assert gradcam_layer(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()))[0] == "0"  # no activation after it


class _SpareConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.spare = nn.Conv2d(1, 2, 3)  # never called
        self.fc = nn.Linear(2 * 26 * 26, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


def test_gradcam_on_a_layer_that_never_runs(digits):
    spare = _SpareConv().eval()
    with pytest.raises(ValueError, match="'spare' did not run"):
        gradcam(spare, digits)  # last_conv is the last in module order
    assert gradcam(spare, digits, layer="conv").params["feature_map"] == (26, 26)
    assert not spare.spare._forward_hooks and not spare.conv._forward_hooks


def test_a_model_without_convolutions(digits):
    flat = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    with pytest.raises(ValueError, match="no convolution layer: Grad-CAM needs one"):
        gradcam(flat, digits)
    with pytest.raises(ValueError, match="no convolution layer"):
        last_conv(flat)
    a = saliency(flat, digits)
    w = flat[1].weight.detach()[torch.as_tensor(a.targets)].abs().reshape(-1, 28, 28)
    np.testing.assert_allclose(a.maps, w.numpy(), rtol=1e-6)


def test_ink_share():
    images = np.zeros((3, 4, 4), np.float32)
    images[:, 1, :] = 1.0  # one row of ink
    images[:, 2, 0] = 0.2  # exactly at the threshold: counts as ink
    maps = np.zeros((3, 4, 4), np.float32)
    maps[0, 1, :] = 1.0  # all on the ink
    maps[1, 0, :] = -3.0  # |·|: 12 off the ink
    maps[1, 1, 0] = 4.0  # 4 on it → 4 / 16
    maps[1, 2, 0] = -4.0  # at the threshold → (4 + 4) / 20
    np.testing.assert_allclose(ink_share(maps, images), [1.0, 0.4, 0.0])
    np.testing.assert_allclose(ink_share(maps, images[:, None]), [1.0, 0.4, 0.0])
    np.testing.assert_allclose(ink_share(maps, images, ink=0.5), [1.0, 0.2, 0.0])
    with pytest.raises(ValueError, match="same size"):
        ink_share(maps, images[:2])


def test_robust_saliency_lies_on_the_digit(bundled_model, robust, mnist_test):
    """The science claim: an adversarially trained model's input gradient looks like the digit (Tsipras et al. 2019);
    a standard model's is spread off the strokes."""
    x = mnist_test.images[:64]
    standard = float(ink_share(saliency(bundled_model.eval(), x).maps, x).mean())
    robust_share = float(ink_share(saliency(robust, x).maps, x).mean())
    assert robust_share > standard, f"saliency ink share: robust {robust_share:.3f}, standard {standard:.3f}"
    print(f"saliency ink share on the first 64 test digits: robust {robust_share:.3f}, standard {standard:.3f}")


def test_the_app_side_never_imports_the_oracle():
    """captum (and its matplotlib) is a test extra: every explanation the app and the CLI make runs without it."""
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "from advstudio.core.resources import bundled_model_path\n"
            "from advstudio.core.storage import load_model\n"
            "from advstudio.core.explain import attribution, landscape, boundary, projection, figures, words\n"
            "m, _ = load_model(bundled_model_path()); x = torch.rand(1, 1, 28, 28)\n"
            "for k in attribution.METHODS: attribution.attribute(m, x, k)\n"
            "landscape.loss_landscape(m, x, None, 0.1, grid=5)\n"
            "assert not {'captum', 'matplotlib'} & set(sys.modules), sorted({'captum', 'matplotlib'} & set(sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
