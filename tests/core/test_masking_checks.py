"""Gradient-masking checks (core/evaluation/masking.py): each flags the model it is meant to catch (probabilities
for logits, randomness, zero gradients, a model that no attack gets through at ε = 0.5, Square beating the
gradient attacks) and passes the bundled model."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from advstudio.core.evaluation.masking import breakdown_check, masking_checks


@pytest.fixture(scope="module")
def model(bundled_model):
    m = copy.deepcopy(bundled_model)
    m.eval()
    return m


@pytest.fixture(scope="module")
def sample(mnist_test):
    return mnist_test.images[:16].clone(), mnist_test.labels[:16].clone()


class _Softmax(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return torch.softmax(self.inner(x), 1)


class _Noisy(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner((x + 0.1 * torch.randn_like(x)).clamp(0, 1))


class _Rounded(nn.Module):
    """Binarized input (x > 0.5): zero gradients everywhere, and ε = 0.5 cannot flip a pixel past the
    threshold from 0 or 1 (0 + 0.5 is not > 0.5) — the classic masked defense."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner((x > 0.5).float() + 0 * x)


def _flags(checks) -> dict[str, bool]:
    return {c.name: c.flagged for c in checks}


def test_the_bundled_model_raises_no_flag(model, sample):
    flags = _flags(masking_checks(model, *sample, steps=10))
    assert flags == {"outputs": False, "randomness": False, "zero gradients": False, "large ε": False}


def test_probabilities_instead_of_logits_are_flagged(model, sample):
    assert _flags(masking_checks(_Softmax(model), *sample, steps=5))["outputs"]


def test_a_randomized_model_is_flagged(model, sample):
    assert _flags(masking_checks(_Noisy(model), *sample, steps=5))["randomness"]


def test_zero_gradients_and_a_model_no_attack_gets_through_are_flagged(model, sample):
    checks = {c.name: c for c in masking_checks(_Rounded(model), *sample, steps=5)}
    assert checks["zero gradients"].flagged and "100 %" in checks["zero gradients"].saw
    assert checks["large ε"].flagged and "ε = 0.5" in checks["large ε"].saw


def test_square_breaking_what_the_gradient_attacks_missed_is_flagged():
    flagged = breakdown_check({"clean": 1, "apgd-ce": 40, "apgd-t": 2, "fab-t": 0, "square": 8})
    assert flagged.flagged and "8 point" in flagged.saw and "masking" in flagged.means
    assert not breakdown_check({"clean": 1, "apgd-ce": 40, "apgd-t": 2, "fab-t": 0, "square": 0}).flagged
    assert breakdown_check({"clean": 0, "apgd-ce": 3, "apgd-t": 1}) is None  # the rand version has no Square
    assert breakdown_check(None) is None
