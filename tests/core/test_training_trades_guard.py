"""TRADES (Zhang et al. 2019) and the guard against catastrophic overfitting, on a synthetic task (no MNIST)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from advstudio.core import training
from advstudio.core.data import MnistSplit
from advstudio.core.model import MnistCNN
from advstudio.core.training import trades_adversary, trades_loss, train
from advstudio.core.training_config import PRESETS, TrainConfig


@pytest.fixture(scope="module")
def toy() -> MnistSplit:
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 10, (256,), generator=g)
    images = torch.rand(256, 1, 28, 28, generator=g) * 0.3
    for i, k in enumerate(labels.tolist()):
        images[i, 0, 2 + 2 * k : 4 + 2 * k, 4:24] = 1.0
    return MnistSplit(images.contiguous(), labels, source=None)  # type: ignore[arg-type]


def _model(seed: int = 0) -> MnistCNN:
    torch.manual_seed(seed)
    return MnistCNN()


def _kl(model, x, x_adv) -> torch.Tensor:
    with torch.no_grad():
        p = F.softmax(model(x), 1)
        return F.kl_div(F.log_softmax(model(x_adv), 1), p, reduction="none").sum(1)


def test_the_trades_adversary_stays_in_the_ball_and_moves_the_prediction(toy):
    model = _model().eval()
    x = toy.images[:32]
    x_adv = trades_adversary(model, x, 0.3, 10, 0.075)
    assert (x_adv - x).abs().max() <= 0.3 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    noise = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
    assert _kl(model, x, x_adv).mean() > 10 * _kl(model, x, noise).mean()


def test_the_trades_adversary_restores_training_mode(toy):
    model = _model().train()
    trades_adversary(model, toy.images[:8], 0.3, 2, 0.1)
    assert model.training


def test_trades_loss_is_cross_entropy_at_beta_zero_and_grows_with_beta(toy):
    x, y = toy.images[:64], toy.labels[:64]
    losses = {}
    for beta in (0.0, 1.0, 6.0):
        model = _model().train()
        torch.manual_seed(3)  # the same dropout masks and start noise for every β
        logits, loss = trades_loss(model, x, y, TrainConfig(adversarial="trades", trades_beta=beta), 0.3)
        losses[beta] = float(loss.detach())
        if beta == 0.0:
            assert float(loss.detach()) == pytest.approx(float(F.cross_entropy(logits.detach(), y)), rel=1e-6)
    assert losses[0.0] < losses[1.0] < losses[6.0]


def test_trades_training_runs_and_records_its_recipe(toy):
    cfg = TrainConfig(epochs=1, batch_size=64, adversarial="trades", trades_beta=3.0, adv_steps=2,
                      robust_eval_samples=32, robust_eval_steps=2)
    reports = list(train(_model(), toy, toy, cfg))
    assert reports[-1].done and reports[-1].robust_accuracy is not None
    recipe = cfg.recipe()
    assert recipe["adversarial"] == "trades" and recipe["trades_beta"] == 3.0
    assert "KL" in recipe["loss"] and "adv_fraction" not in recipe
    assert "trades_beta" not in TrainConfig(adversarial="pgd").recipe()


def test_unknown_method_and_bad_beta_are_refused():
    with pytest.raises(ValueError, match="trades"):
        TrainConfig(adversarial="madry")
    with pytest.raises(ValueError, match="trades_beta"):
        TrainConfig(adversarial="trades", trades_beta=-1.0)


def test_the_guard_restores_the_best_weights_and_stops_on_a_collapse(toy, monkeypatch):
    """Scripted PGD accuracies 0.5, 0.9, 0.3: the third check is a collapse (a fall of 0.6 > 0.2), so the run
    stops there with the weights of the second check, and says so in its history."""
    seen = iter([0.5, 0.9, 0.3, 0.3, 0.3])
    states = []

    def scripted(model, images, labels, eps, steps, batch_size=500):
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(seen)

    monkeypatch.setattr(training, "robust_accuracy", scripted)
    model = _model()
    cfg = TrainConfig(epochs=3, batch_size=32, adversarial="fgsm_rs", guard_every=1, guard_samples=16)
    reports = list(train(model, toy, None, cfg))
    assert reports[-1].done
    assert len(states) == 3  # nothing trained after the collapse
    assert reports[-1].epoch == 1 and reports[-1].batch == 3
    assert "catastrophic overfitting" in reports[-1].history[-1]["guard"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, states[1][k]), k


def test_without_a_collapse_the_guard_changes_nothing(toy, monkeypatch):
    monkeypatch.setattr(training, "robust_accuracy", lambda *a, **k: 0.5)
    cfg = TrainConfig(epochs=1, batch_size=64, adversarial="fgsm_rs", guard_every=1)
    reports = list(train(_model(), toy, None, cfg))
    assert reports[-1].done and reports[-1].batch == reports[-1].batches
    assert "guard" not in reports[-1].history[-1]


def test_the_quick_robust_preset_is_guarded_pgd3_at_eps_0_3():
    cfg = PRESETS["quick-robust"].config
    assert cfg.adversarial == "pgd" and cfg.adv_steps == 3 and cfg.adv_eps == 0.3 and cfg.guard_every > 0
    assert cfg.step_size() == pytest.approx(0.25)  # 2.5·ε/steps
    assert cfg.recipe()["guard_every"] == cfg.guard_every
