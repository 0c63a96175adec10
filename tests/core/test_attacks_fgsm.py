"""FGSM: the L∞ budget, the [0, 1] box, ε = 0, untouched parameter gradients, restored mode, the targeted
variant, and the one-gradient robustness curve against a per-ε recomputation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from advstudio.core.attacks.fgsm import FGSM, fgsm_direction
from advstudio.core.evaluation.curves import DEFAULT_EPS, fgsm_curve
from advstudio.core.model import MnistCNN


@pytest.fixture
def random_model() -> MnistCNN:
    torch.manual_seed(0)
    return MnistCNN().eval()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)


@pytest.mark.parametrize("eps", [0.01, 0.1, 0.3, 1.0])
@pytest.mark.parametrize("targeted", [False, True])
def test_budget_box_and_perturbation(random_model, batch, eps, targeted):
    x, y = batch
    x_before = x.clone()
    target = (y + 1) % 10 if targeted else None
    x_adv, delta = FGSM(eps, targeted=targeted)(random_model, x, y, target)
    assert x_adv.shape == x.shape and delta.shape == x.shape
    assert float(delta.abs().max()) <= eps + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    torch.testing.assert_close(delta, x_adv - x, rtol=0, atol=0)
    assert torch.equal(x, x_before), "the attack must not modify its input"
    assert not x_adv.requires_grad and not delta.requires_grad
    # the step is as large as the box allows: most pixels actually move
    assert float((delta.abs() > 0).float().mean()) > 0.5


def test_unclamped_step_is_exactly_eps_times_sign(random_model):
    """Away from the box every pixel moves by ε along the sign of the loss gradient, computed here directly."""
    x = torch.full((4, 1, 28, 28), 0.5)
    y = torch.tensor([0, 1, 2, 3])
    x_adv, delta = FGSM(0.1)(random_model, x, y)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(random_model(xg), y, reduction="sum"), xg)
    assert float((grad != 0).float().mean()) > 0.9, "the check needs a gradient on most pixels"
    torch.testing.assert_close(delta, 0.1 * grad.sign())
    assert float((delta.abs() > 0.09).float().mean()) > 0.9  # an FGSM that moves nothing fails here


def test_eps_zero_changes_nothing(random_model, batch):
    x, y = batch
    x_adv, delta = FGSM(0.0)(random_model, x, y)
    assert torch.equal(x_adv, x)
    assert float(delta.abs().max()) == 0.0


@pytest.mark.parametrize("eps", [-0.1, 1.5])
def test_eps_outside_pixel_space_is_refused(eps):
    with pytest.raises(ValueError, match="ε"):
        FGSM(eps)


def test_targeted_needs_targets(random_model, batch):
    x, y = batch
    with pytest.raises(ValueError, match="target"):
        FGSM(0.1, targeted=True)(random_model, x, y)


@pytest.mark.parametrize("targeted", [False, True])
def test_parameter_grads_untouched(random_model, batch, targeted):
    x, y = batch
    sentinels = {}
    for name, p in random_model.named_parameters():
        p.grad = torch.full_like(p, 7.25)
        sentinels[name] = p.grad.clone()
    FGSM(0.1, targeted=targeted)(random_model, x, y, (y + 3) % 10 if targeted else None)
    fgsm_curve(random_model, x, y, [0.0, 0.1], batch_size=8)
    for name, p in random_model.named_parameters():
        assert p.grad is not None, name
        assert torch.equal(p.grad, sentinels[name]), f"{name}.grad changed"


def test_parameter_grads_stay_none(random_model, batch):
    x, y = batch
    FGSM(0.1)(random_model, x, y)
    assert all(p.grad is None for p in random_model.parameters())


@pytest.mark.parametrize("mode", [True, False])
def test_model_mode_restored_and_attack_runs_in_eval(random_model, batch, mode):
    x, y = batch
    random_model.train(mode)
    torch.manual_seed(123)
    a1, _ = FGSM(0.1)(random_model, x, y)
    torch.manual_seed(456)
    a2, _ = FGSM(0.1)(random_model, x, y)
    assert random_model.training is mode
    assert all(m.training is mode for m in random_model.modules())
    # dropout is off during the attack: a model in train mode gives the same, deterministic result as in eval
    assert torch.equal(a1, a2)
    random_model.eval()
    a3, _ = FGSM(0.1)(random_model, x, y)
    assert torch.equal(a1, a3)
    random_model.train(mode)
    fgsm_curve(random_model, x, y, [0.0, 0.1])
    assert random_model.training is mode


def test_untargeted_raises_the_loss(random_model, batch):
    x, y = batch
    x_adv, _ = FGSM(0.02)(random_model, x, y)
    with torch.no_grad():
        before = F.cross_entropy(random_model(x), y, reduction="none")
        after = F.cross_entropy(random_model(x_adv), y, reduction="none")
    assert bool((after > before).all()), (before, after)


def test_targeted_raises_the_target_probability_random_model(random_model, batch):
    x, y = batch
    target = (y + 5) % 10
    x_adv, _ = FGSM(0.02, targeted=True)(random_model, x, y, target)
    with torch.no_grad():
        p0 = torch.softmax(random_model(x), 1).gather(1, target[:, None])[:, 0]
        p1 = torch.softmax(random_model(x_adv), 1).gather(1, target[:, None])[:, 0]
    assert bool((p1 > p0).all()), (p0, p1)


def test_direction_sign_and_targeted_is_opposite(random_model, batch):
    x, y = batch
    d_untargeted, logits = fgsm_direction(random_model, x, y)
    d_toward_y, _ = fgsm_direction(random_model, x, y, target=y)
    assert set(torch.unique(d_untargeted).tolist()) <= {-1.0, 0.0, 1.0}
    # stepping toward class y is the opposite of stepping away from it
    assert torch.equal(d_toward_y, -d_untargeted)
    with torch.no_grad():
        torch.testing.assert_close(logits, random_model(x))


def naive_fgsm_curve(model, images, labels, eps_list, batch_size):
    """The article's way: for every ε, recompute the gradient with images.requires_grad and loss.backward()."""
    model.eval()
    accs = []
    for eps in eps_list:
        correct = 0
        for start in range(0, len(labels), batch_size):
            xb = images[start : start + batch_size].clone().requires_grad_(True)
            yb = labels[start : start + batch_size]
            loss = F.cross_entropy(model(xb), yb)
            model.zero_grad()
            loss.backward()
            x_adv = torch.clamp(xb + eps * xb.grad.sign(), 0, 1).detach()
            with torch.no_grad():
                correct += int((model(x_adv).argmax(1) == yb).sum())
        accs.append(correct / len(labels))
    return accs


def test_curve_matches_naive_recomputation_random_model(random_model):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(96, 1, 28, 28, generator=g)
    with torch.no_grad():
        y = random_model(x).argmax(1)  # labels the model gets right, so the curve has something to lose
    y[::4] = (y[::4] + 1) % 10
    eps = [0.0, 0.01, 0.02, 0.05]
    curve = fgsm_curve(random_model, x, y, eps, batch_size=32)
    expected = naive_fgsm_curve(_copy(random_model), x, y, eps, 32)
    assert list(curve.accuracy) == expected
    assert curve.clean_accuracy == expected[0] == pytest.approx(0.75)
    assert curve.accuracy[-1] < curve.accuracy[0]
    assert curve.n == 96 and curve.eps == tuple(eps) and curve.attack == "fgsm"


def _copy(model: MnistCNN) -> MnistCNN:
    clone = MnistCNN()
    clone.load_state_dict(model.state_dict())
    return clone.eval()


def test_curve_refuses_eps_outside_pixel_space(random_model, batch):
    x, y = batch
    with pytest.raises(ValueError):
        fgsm_curve(random_model, x, y, [0.0, 2.0])


def test_curve_json_format(random_model, batch):
    x, y = batch
    doc = fgsm_curve(random_model, x, y, [0.0, 0.1]).to_json("m")
    assert doc["model"] == "m" and doc["attack"] == "fgsm" and doc["n"] == 16
    assert [r["eps"] for r in doc["results"]] == [0.0, 0.1]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in doc["results"])
    assert doc["results"][0]["accuracy"] == doc["clean_accuracy"]


# --- on the bundled model and the real test set ---------------------------------------------------------


def test_bundled_model_accuracy_falls_as_eps_grows(bundled_model, mnist_test):
    sub = mnist_test.head(2000)
    curve = fgsm_curve(bundled_model, sub.images, sub.labels, DEFAULT_EPS, batch_size=250)
    acc = curve.accuracy
    assert curve.n == 2000
    assert acc[0] == curve.clean_accuracy >= 0.98
    assert all(a > b for a, b in zip(acc, acc[1:])), acc
    assert acc[-1] < 0.6 * acc[0], acc  # FGSM at ε = 0.3 breaks an undefended model


def test_bundled_model_curve_matches_naive(bundled_model, mnist_test):
    sub = mnist_test.head(300)
    eps = [0.0, 0.1, 0.2]
    curve = fgsm_curve(bundled_model, sub.images, sub.labels, eps, batch_size=100)
    expected = naive_fgsm_curve(_copy(bundled_model), sub.images, sub.labels, eps, 100)
    assert list(curve.accuracy) == expected


def test_bundled_model_targeted_raises_target_probability(bundled_model, mnist_test):
    sub = mnist_test.head(200)
    target = (sub.labels + 1) % 10
    x_adv, _ = FGSM(0.1, targeted=True)(bundled_model, sub.images, sub.labels, target)
    with torch.no_grad():
        p0 = torch.softmax(bundled_model(sub.images), 1).gather(1, target[:, None])[:, 0]
        p1 = torch.softmax(bundled_model(x_adv), 1).gather(1, target[:, None])[:, 0]
    assert float(p1.mean()) > 10 * float(p0.mean())
    assert float((p1 > p0).float().mean()) >= 0.95
