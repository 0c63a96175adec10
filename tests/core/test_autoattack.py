"""AutoAttack (core/attacks/autoattack.py): the paper's budgets, each attack only on the points still robust, a
breakdown that adds up, a result never weaker than its first attack alone, EOT for randomized models, and the
CLI's per-attack table."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from advstudio.core.attacks import make_attack
from advstudio.core.attacks.autoattack import EOT_DRAWS, ExpectationOverDraws


@pytest.fixture(scope="module")
def model(bundled_model):
    m = copy.deepcopy(bundled_model)
    m.eval()
    return m


def test_the_standard_version_runs_the_papers_four_attacks_at_the_papers_budgets():
    aa = make_attack("autoattack", eps=0.3)
    assert aa.plan() == [("apgd-ce", {"steps": 100, "restarts": 1}),
                         ("apgd-t", {"steps": 100, "target_classes": 9, "restarts": 1}),
                         ("fab-t", {"steps": 100, "target_classes": 9, "restarts": 1}),
                         ("square", {"queries": 5000, "p_init": 0.8})]
    assert [name for name, _ in make_attack("autoattack", eps=0.3, version="rand").plan()] == ["apgd-ce", "apgd-t"]
    quick = make_attack("autoattack", eps=0.3, budget=0.1).plan()
    assert quick[0][1]["steps"] == 10 and quick[3][1]["queries"] == 500
    with pytest.raises(ValueError):
        make_attack("autoattack", eps=0.3, version="fast")
    with pytest.raises(ValueError):
        make_attack("autoattack", eps=0.3, budget=2)


def test_each_attack_runs_on_what_the_earlier_ones_missed_and_the_breakdown_adds_up(model, mnist_test):
    x, y = mnist_test.images[:24].clone(), mnist_test.labels[:24].clone()
    out = make_attack("autoattack", eps=0.1, budget=0.05).run(model, x, y)
    assert list(out.breakdown) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert sum(out.breakdown.values()) == int(out.success.sum()) == int((~out.correct).sum())
    assert float(out.linf.max()) <= 0.1 + 1e-6
    with torch.no_grad():
        assert torch.equal(model(out.x_adv).argmax(1) != y, out.success)
    alone = make_attack("apgd-ce", eps=0.1, steps=5, restarts=1, seed=0).run(model, x, y)
    assert out.accuracy() <= alone.accuracy()  # its first attack alone is never stronger than the ensemble
    assert out.breakdown["apgd-ce"] + out.breakdown["clean"] == int(alone.success.sum())


class _Noisy(nn.Module):
    """A randomized defense: Gaussian noise on the input at every call."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner((x + 0.05 * torch.randn_like(x)).clamp(0, 1))


def test_the_rand_version_attacks_the_average_of_twenty_draws(model, mnist_test):
    x, y = mnist_test.images[:4].clone(), mnist_test.labels[:4].clone()
    noisy = _Noisy(model)
    eot = ExpectationOverDraws(noisy)
    with torch.no_grad():
        eot(x)
    assert noisy.calls == EOT_DRAWS
    steady = ExpectationOverDraws(model)
    with torch.no_grad():
        assert torch.allclose(steady(x), model(x), atol=1e-5)  # a deterministic model is its own average
    out = make_attack("autoattack", eps=0.2, version="rand", budget=0.03).run(noisy, x, y)
    assert list(out.breakdown) == ["clean", "apgd-ce", "apgd-t"] and out.params["eot_draws"] == EOT_DRAWS


def test_evaluate_prints_the_breakdown_and_labels_a_small_budget_as_weaker(capsys, mnist_dir):
    from advstudio.cli import main

    rc = main(["evaluate", "--data", str(mnist_dir), "--attack", "autoattack", "--eps", "0.1", "--limit", "6",
               "--budget", "0.02"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "APGD-CE 2 steps → APGD-T 9×2 steps → FAB-T 9×2 steps → Square 100 queries" in out
    assert "0.02 of the paper's budget: a weaker figure than AutoAttack's" in out
    rows = [line for line in out.splitlines() if "broken   robust accuracy after it" in line]
    assert [r.split()[0] for r in rows] == ["clean", "APGD-CE", "APGD-T", "FAB-T", "Square"]
    final = float(rows[-1].rsplit(" ", 1)[-1].rstrip("%"))
    table = next(line for line in out.splitlines() if line.startswith("autoattack"))
    assert abs(float(table.split()[-2].rstrip("%")) - final) < 1e-6  # the table's figure is the breakdown's last
    assert "gradient-masking checks (first 6 images" in out
    for name in ("outputs", "randomness", "zero gradients", "large ε", "black-box beats white-box"):
        assert f"✓ {name}:" in out or f"⚠ {name}:" in out


def test_autoattack_refuses_a_target_class(model, mnist_test):
    with pytest.raises(ValueError, match="untargeted"):
        make_attack("autoattack", eps=0.3, targeted=True)
    with pytest.raises(ValueError, match="untargeted"):
        make_attack("autoattack", eps=0.3).run(model, mnist_test.images[:2], mnist_test.labels[:2],
                                               target=torch.tensor([1, 2]))
