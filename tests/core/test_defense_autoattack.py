"""AutoAttack as a defense's attacker (core.evaluation.defense + core.defenses.builders): crafted on the attacked
model (BPDA, EOT), judged by the deployed defense; "rand" for a randomized defense, "standard" otherwise."""

from __future__ import annotations

import threading

import pytest
import torch

from advstudio.core.defenses import DefendedModel
from advstudio.core.defenses.builders import distillation_defense, transform_defense
from advstudio.core.errors import AttackCancelled, EvaluationCancelled
from advstudio.core.evaluation.defense import attack_params, autoattack_label, craft_linf, defense_curve

EPS = (0.0, 0.05, 0.1)


def test_autoattack_is_never_weaker_than_pgd_on_a_bpda_defense(bundled_model, mnist_test):
    """The same batch, the same BPDA'd bit-depth defense: AutoAttack (a tenth of its budget) leaves at most
    PGD-40's robust accuracy at each ε."""
    batch = mnist_test.head(40)
    built = transform_defense(bundled_model, "bit_depth", bits=4)
    assert built.autoattack_version() == "standard"
    curves = {}
    for attack in ("pgd", "autoattack"):
        craft = built.crafts(attack, 40, budget=0.1)[1]
        curves[attack] = defense_curve(built.deployed, craft, batch.images, batch.labels, EPS, attack,
                                       attack_params(attack, 40, None, budget=0.1), batch_size=20)
    pgd, auto = curves["pgd"].accuracy, curves["autoattack"].accuracy
    assert auto[0] == pgd[0]  # ε = 0: both are the clean accuracy
    assert all(a <= p for a, p in zip(auto, pgd)), (auto, pgd)
    assert auto[-1] < auto[0]  # and it does break something
    assert curves["autoattack"].params["label"] == "AutoAttack standard (budget 0.1)"
    assert curves["autoattack"].params["attacks"][0] == {"attack": "apgd-ce", "steps": 10, "restarts": 1}


def test_a_randomized_defense_gets_the_rand_version_with_one_draw_per_call(bundled_model, monkeypatch):
    built = transform_defense(bundled_model, "gaussian_noise", sigma=0.2, eot_samples=8)
    assert built.randomized and built.autoattack_version() == "rand"
    seen = []
    from advstudio.core.attacks import autoattack as aa

    real = aa.AutoAttack.run

    def spy(self, model, x, y, target=None, cancel=None):
        seen.append((self.version, model))
        return real(self, model, x, y, target, cancel)

    monkeypatch.setattr(aa.AutoAttack, "run", spy)
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([0, 1, 2])
    for craft in built.crafts("autoattack", budget=0.02):
        assert craft(x, y, 0.1).shape == x.shape
    assert [v for v, _ in seen] == ["rand", "rand"]
    adaptive = seen[1][1]
    assert isinstance(adaptive, DefendedModel) and adaptive.adaptive and adaptive.eot_samples == 1  # EOT is AA's
    assert attack_params("autoattack", 40, None, version="rand")["eot_draws"] == 20
    assert autoattack_label("rand", 1.0) == "AutoAttack rand"
    assert distillation_defense(bundled_model, 20).autoattack_version() == "standard"


def test_autoattack_defense_curve_cancels(bundled_model):
    built = transform_defense(bundled_model, "bit_depth", bits=2)
    stop = threading.Event()
    stop.set()
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    with pytest.raises((EvaluationCancelled, AttackCancelled)):
        defense_curve(built.deployed, built.crafts("autoattack", budget=0.05)[1], x, y, (0.1,), "autoattack",
                      cancel=stop)
    craft = craft_linf(built.adaptive, "autoattack", budget=0.05)
    assert getattr(craft, "cancellable", False)
    with pytest.raises(AttackCancelled):
        craft(x, y, 0.1, cancel=stop)  # AutoAttack reads the flag itself, between its attacks
    with pytest.raises(ValueError):
        craft_linf(built.adaptive, "autoattack", budget=2.0)
