"""core.defenses.builders: what `advstudio defend` and the Defenses tab deploy and attack, built one way."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advstudio.core.defenses import DefendedModel, Ensemble
from advstudio.core.defenses.builders import (
    DistilledDeployed,
    distillation_defense,
    ensemble_defense,
    make_transform,
    recorded_temperature,
    transform_defense,
)
from advstudio.core.evaluation.defense import TemperatureScaled


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def test_transform_defense_plain_and_adaptive_views():
    base = _net(0).train()
    built = transform_defense(base, "gaussian_noise", sigma=0.2, eot_samples=4)
    assert not base.training  # everything is built in eval mode
    assert isinstance(built.plain, DefendedModel) and not built.plain.adaptive
    assert isinstance(built.adaptive, DefendedModel) and built.adaptive.adaptive
    assert built.deployed is built.plain and built.live is built.adaptive
    assert built.params == {"sigma": 0.2, "eot_samples": 4}  # EOT recorded for a randomized transform
    assert transform_defense(base, "bit_depth", bits=3).params == {"bits": 3}
    with pytest.raises(ValueError):
        transform_defense(base, "median", size=4)  # the transform's own check (odd sizes only)
    with pytest.raises(ValueError, match="unknown input transform"):
        make_transform("blur")


def test_ensemble_defense_transfers_from_one_member():
    members = [_net(0), _net(1), _net(2)]
    built = ensemble_defense(members, transfer_from=1)
    assert isinstance(built.deployed, Ensemble) and built.adaptive is built.deployed is built.live
    assert built.plain is members[1]


def test_distillation_defense_and_the_studio_model():
    model = _net(0)
    built = distillation_defense(model, 20)
    assert built.deployed is model and built.plain is model
    assert isinstance(built.adaptive, TemperatureScaled) and built.params == {"temperature": 20.0}
    assert isinstance(built.live, DistilledDeployed)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        z = model(x)
        assert torch.allclose(built.live(x), z)  # predictions: the model's own logits
    assert torch.allclose(built.live(x), z / 20)  # under a gradient: logits / T
    assert recorded_temperature({"recipe": {"temperature": 5}}) == 5 and recorded_temperature({}) is None


def test_crafts_stay_in_the_eps_box():
    built = transform_defense(_net(0), "bit_depth", bits=2)
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    for craft in built.crafts("pgd", steps=3):
        x_adv = craft(x, y, 0.1)
        assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
