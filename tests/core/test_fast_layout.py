"""Attacks run on a channels-last copy of a plain CNN on the CPU (faster), never on a changed original."""

from __future__ import annotations

import torch
from torch import nn

from advstudio.core.attacks import make_attack
from advstudio.core.attacks.common import fast_layout
from advstudio.core.model import MnistCNN


def _model() -> MnistCNN:
    torch.manual_seed(0)
    return MnistCNN().eval()


def test_the_copy_is_channels_last_gives_the_same_scores_and_leaves_the_original_alone():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = fast_layout(model)
    assert fast is not model
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.conv1.weight.is_contiguous() and model.conv1.weight.requires_grad
    x = torch.rand(8, 1, 28, 28)
    assert torch.allclose(fast(x), model(x), atol=1e-4)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]) and v.is_contiguous()
    assert fast_layout(fast) is fast  # already in that layout


class Wrapper(nn.Module):  # a defense-like module from outside torch.nn: left as it is
    def __init__(self) -> None:
        super().__init__()
        self.inner = _model()

    def forward(self, x):
        return self.inner(x)


def test_wrappers_and_models_without_convolutions_are_not_copied():
    w = Wrapper()
    assert fast_layout(w) is w
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    assert fast_layout(mlp) is mlp


def test_an_attack_gives_the_same_answer_with_and_without_the_copy(monkeypatch):
    from advstudio.core.attacks import base

    model = _model()
    x, y = torch.rand(6, 1, 28, 28), torch.arange(6)
    fast = make_attack("pgd", eps=0.1, steps=5, seed=0).run(model, x, y)
    monkeypatch.setattr(base, "fast_layout", lambda m: m)
    plain = make_attack("pgd", eps=0.1, steps=5, seed=0).run(model, x, y)
    assert torch.allclose(fast.x_adv, plain.x_adv, atol=1e-3)
    assert torch.equal(fast.success, plain.success)
