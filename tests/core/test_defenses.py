"""Defenses: transforms behave as defined, BPDA/EOT make the adaptive attack stronger than the plain one,
ensembles average logits, and randomized smoothing certifies what it should."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advstudio.core.attacks.fgsm import FGSM
from advstudio.core.certification import binomial_lower_bound, max_certifiable_radius
from advstudio.core.defenses import (
    BitDepthReduction,
    DefendedModel,
    Ensemble,
    GaussianNoise,
    JpegCompression,
    MedianFilter,
    certified_accuracy,
    certify,
    roc_curve,
)
from advstudio.core.model import MnistCNN


def test_bit_depth_levels():
    x = torch.linspace(0, 1, 101).reshape(1, 1, 1, 101)
    out = BitDepthReduction(2)(x)
    assert set(np.round(out.unique().numpy() * 3).astype(int)) == {0, 1, 2, 3}
    assert float((out - x).abs().max()) <= 1 / 6 + 1e-6


def test_median_filter_removes_salt_noise():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 10] = 1.0  # an isolated speck
    assert float(MedianFilter(3)(x).max()) == 0.0
    x[0, 0, 5:15, 5:15] = 1.0  # a solid block survives
    assert float(MedianFilter(3)(x)[0, 0, 10, 10]) == 1.0


def test_jpeg_roundtrip_close_but_not_identical():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 28, 28)
    out = JpegCompression(30)(x)
    assert out.shape == x.shape and 0 < float((out - x).abs().mean()) < 0.3


def test_gaussian_noise_is_random_and_clamped():
    x = torch.full((1, 1, 28, 28), 0.5)
    a, b = GaussianNoise(0.3)(x), GaussianNoise(0.3)(x)
    assert not torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def _input_grad(model, x, y):
    xg = x.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(xg), y)
    return torch.autograd.grad(loss, xg)[0]


def test_plain_gradient_is_masked_and_bpda_restores_it():
    torch.manual_seed(0)
    model = MnistCNN().eval()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    for t in (BitDepthReduction(3), JpegCompression(50)):
        assert float(_input_grad(DefendedModel(model, t, adaptive=False), x, y).abs().sum()) == 0.0
        assert float(_input_grad(DefendedModel(model, t, adaptive=True), x, y).abs().sum()) > 0.0


def test_eot_averages_draws_only_when_adaptive():
    model = MnistCNN().eval()
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(1))
    x = torch.rand(1, 1, 28, 28, requires_grad=True)
    DefendedModel(model, GaussianNoise(0.2), adaptive=True, eot_samples=5)(x)
    assert len(calls) == 5
    calls.clear()
    DefendedModel(model, GaussianNoise(0.2), adaptive=False, eot_samples=5)(x)
    assert len(calls) == 1


def test_ensemble_averages_logits():
    torch.manual_seed(0)
    a, b = MnistCNN().eval(), MnistCNN().eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(Ensemble([a, b])(x), (a(x) + b(x)) / 2, atol=1e-6)


def test_adaptive_attack_breaks_preprocessing_defenses(bundled_model, mnist_test):
    """The article's point, measured: quantization and JPEG look robust to a naive FGSM (masked gradients)
    and collapse once the attacker uses BPDA; noise falls further under EOT."""
    torch.manual_seed(0)
    batch = mnist_test.head(300)
    x, y = batch.images, batch.labels
    results = {}
    for t in (BitDepthReduction(2), JpegCompression(50), GaussianNoise(0.3)):
        accs = []
        for adaptive in (False, True):
            dm = DefendedModel(bundled_model, t, adaptive=adaptive, eot_samples=8).eval()
            x_adv, _ = FGSM(0.2)(dm, x, y)
            with torch.no_grad():
                accs.append(float((dm(x_adv).argmax(1) == y).float().mean()))
        results[t.name] = accs
    for name in ("bit_depth", "jpeg"):
        plain, adaptive = results[name]
        assert plain > 0.9, results  # the illusion: the gradient is zero, FGSM changes nothing
        assert adaptive < plain - 0.4, results  # BPDA removes it
    plain, adaptive = results["gaussian_noise"]
    assert adaptive < plain, results


@pytest.mark.parametrize("n", [1, 2, 10, 100, 200, 1000])
@pytest.mark.parametrize("alpha", [0.5, 0.05, 0.001, 1e-6])
def test_binomial_lower_bound_is_the_clopper_pearson_bound(n, alpha):
    """The one-sided Clopper–Pearson lower bound is the α quantile of Beta(k, n − k + 1): scipy's, to 1e-10."""
    from scipy.stats import beta  # a test extra: the oracle, never a dependency of the app

    assert binomial_lower_bound(0, n, alpha) == 0.0
    ks = sorted(k for k in {1, 2, n // 2, n - 1, n, *range(1, n + 1, 37)} if 1 <= k <= n)
    for k in ks:
        assert binomial_lower_bound(k, n, alpha) == pytest.approx(float(beta.ppf(alpha, k, n - k + 1)), rel=1e-10,
                                                                  abs=1e-15), (k, n, alpha)


def test_max_certifiable_radius_is_the_radius_of_a_unanimous_vote():
    """σ·Φ⁻¹ of the bound when all n samples agree, against scipy's Beta(n, 1) quantile and normal quantile."""
    from scipy.stats import beta, norm

    for sigma, n, alpha in ((0.25, 1000, 0.001), (0.5, 100, 0.05), (1.0, 100000, 0.001)):
        expected = sigma * float(norm.ppf(beta.ppf(alpha, n, 1)))
        assert max_certifiable_radius(sigma, n, alpha) == pytest.approx(expected, rel=1e-9)


def test_binomial_lower_bound_covers_the_true_p():
    # coverage: the bound lies below the true p in at least 1 − α of draws (checked loosely)
    rng = np.random.default_rng(0)
    p = 0.8
    misses = sum(binomial_lower_bound(int(rng.binomial(200, p)), 200, 0.05) > p for _ in range(200))
    assert misses <= 25


def test_certify_clean_digit_and_certified_accuracy(bundled_model, mnist_test):
    torch.manual_seed(0)
    x, y = mnist_test.images[:1], int(mnist_test.labels[0])
    cert = certify(bundled_model, x, sigma=0.25, n0=50, n=500, alpha=0.001)
    assert cert.label == y and cert.radius > 0
    assert cert.radius == pytest.approx(0.25 * __import__("statistics").NormalDist().inv_cdf(cert.p_lower))
    assert certified_accuracy([cert], [y], [0.0, cert.radius, cert.radius + 1e-3]) == [1.0, 1.0, 0.0]
    # pure noise abstains or certifies only a small radius
    noise_cert = certify(bundled_model, torch.full((1, 1, 28, 28), 0.5), sigma=1.0, n0=50, n=200)
    assert noise_cert.label is None or noise_cert.radius < cert.radius


def test_roc_auc_extremes():
    _, _, auc = roc_curve(np.zeros(50), np.ones(50))
    assert auc == pytest.approx(1.0)
    _, _, auc = roc_curve(np.ones(50), np.zeros(50))
    assert auc == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    _, _, auc = roc_curve(rng.random(2000), rng.random(2000))
    assert abs(auc - 0.5) < 0.05
