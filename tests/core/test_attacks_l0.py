"""The few-pixel (L0) attacks (core/attacks/jsma.py, onepixel.py): settings are checked, the pixel budgets hold and
only changed pixels count, JSMA's pair search equals a brute-force one and reaches requested targets, the
one-pixel attack asks only for scores and counts its queries, both repeat, cancel, leave the parameters' .grad
alone, give the same answer in chunks, and agree with torchattacks 3.5.1 on a fixed batch at the same budget."""

from __future__ import annotations

import copy
import inspect
import itertools
import threading

import numpy as np
import pytest
import torch
from torch import nn

import advstudio.core.attacks.base as base
from advstudio.core.attacks.common import L0_TOLERANCE
from advstudio.core.attacks.jsma import JSMA, pixel_budget, salient_pairs
from advstudio.core.attacks.onepixel import OnePixel, apply_candidates, rand1_members
from advstudio.core.errors import AttackCancelled

BUDGET = pixel_budget(0.1, 784)  # 78


@pytest.fixture(scope="module")
def model(bundled_model):
    m = copy.deepcopy(bundled_model)  # torchattacks' JSMA calls .backward(): keep the shared model's .grad clean
    m.eval()
    return m


@pytest.fixture(scope="module")
def batch(mnist_test):
    return mnist_test.images[:20].clone(), mnist_test.labels[:20].clone()


@pytest.fixture(scope="module")
def second(model, batch):
    """Each image's second most likely class: the target untargeted JSMA aims at."""
    with torch.no_grad():
        return model(batch[0]).argsort(1, descending=True)[:, 1]


@pytest.fixture(scope="module")
def jsma_run(model, batch):
    return JSMA().run(model, *batch)


@pytest.fixture(scope="module")
def onepixel_run(model, batch):
    return OnePixel(pixels=3, population=30, steps=6).run(model, *batch)


def changed_pixels(out, x: torch.Tensor) -> torch.Tensor:
    return (out.x_adv != x).flatten(1).sum(1)


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("cls, bad", [
    (JSMA, {"gamma": 0.0}), (JSMA, {"gamma": -0.1}), (JSMA, {"gamma": 1.5}), (JSMA, {"theta": 0.0}),
    (JSMA, {"theta": 1.5}), (JSMA, {"theta": -2.0}), (JSMA, {"theta": 1e-4}),
    (OnePixel, {"pixels": 0}), (OnePixel, {"pixels": 6}), (OnePixel, {"pixels": 2.5}), (OnePixel, {"population": 3}),
    (OnePixel, {"steps": -1}),
])
def test_bad_settings_raise(cls, bad):
    with pytest.raises(ValueError):
        cls(**bad)


def test_settings_come_in_the_documented_order_and_params_name_them():
    assert list(inspect.signature(JSMA).parameters) == ["theta", "gamma", "targeted", "early_stop",
                                                        "record_trajectory"]
    assert list(inspect.signature(OnePixel).parameters) == ["pixels", "population", "steps", "targeted",
                                                            "early_stop", "record_trajectory", "seed"]
    j, o = JSMA(theta=-0.5, gamma=0.2), OnePixel(pixels=2, population=50, steps=7, seed=3)
    assert (j.name, j.norm, j.iterative, o.name, o.norm, o.iterative) == ("jsma", "l0", True, "onepixel", "l0", True)
    assert j.params()["theta"] == -0.5 and j.params()["gamma"] == 0.2 and j.params()["norm"] == "l0"
    p = o.params()
    assert (p["pixels"], p["population"], p["steps"], p["seed"]) == (2, 50, 7, 3)
    assert "queries" not in p  # describe.py would then print "N queries" instead of the generations
    assert pixel_budget(0.1, 784) == 78 and pixel_budget(0.05, 784) == 39 and pixel_budget(1e-4, 784) == 1


# ---------------------------------------------------------------- JSMA


def _brute_force(a, b, domain, single, increase):
    """The best saliency −α·β over allowed pairs, by loops (0.0 when none qualifies)."""
    best = 0.0
    idx = [i for i in range(len(a)) if domain[i]]
    lone = single or len(idx) == 1
    pairs = [(p, p) for p in idx] if lone else list(itertools.combinations(idx, 2))
    for p, q in pairs:
        alpha, beta = a[p] + a[q], b[p] + b[q]
        ok = alpha > 0 and beta < 0 if increase else alpha < 0 and beta > 0
        if ok:
            best = max(best, -alpha * beta)
    return best


@pytest.mark.parametrize("increase", [True, False])
def test_the_pair_search_finds_the_brute_force_best_pair(increase):
    gen = torch.Generator().manual_seed(1)
    m, f = 12, 10
    a, b = torch.randn(m, f, generator=gen, dtype=torch.float64), torch.randn(m, f, generator=gen, dtype=torch.float64)
    domain = torch.rand(m, f, generator=gen) < 0.7
    domain[0] = False
    domain[1] = False
    domain[1, 3] = True  # one pixel left: the pair is that pixel twice
    single = torch.zeros(m, dtype=torch.bool)
    single[2:4] = True
    p, q, found = salient_pairs(a, b, domain, single, increase)
    for i in range(m):
        want = _brute_force(a[i].tolist(), b[i].tolist(), domain[i].tolist(), bool(single[i]), increase)
        assert bool(found[i]) == (want > 0), i
        if want > 0:
            pi, qi = int(p[i]), int(q[i])
            assert domain[i, pi] and domain[i, qi] and pi <= qi
            assert (pi == qi) == (bool(single[i]) or int(domain[i].sum()) == 1)
            got = -(a[i, pi] + a[i, qi]) * (b[i, pi] + b[i, qi])
            assert float(got) == pytest.approx(want, rel=1e-12)
    assert not found[0]


def test_jsma_changes_at_most_its_budget_and_counts_only_the_pixels_it_changed(jsma_run, batch):
    x, y = batch
    out = jsma_run
    assert torch.all(out.l0 <= BUDGET)
    assert torch.equal(out.l0, changed_pixels(out, x))  # every changed pixel moved by θ: none below the tolerance
    moved = out.x_adv != x
    assert torch.all(out.x_adv[moved] == 1.0)  # θ = 1 saturates each chosen pixel
    assert torch.all(out.pred[out.success] != y[out.success])  # untargeted success is a misclassification
    assert torch.all(out.pred[~out.success] == y[~out.success])
    hit = out.success & (out.clean_pred == y)
    assert torch.all(out.l0[hit] <= 2 * out.success_step[hit])  # one pair per iteration
    assert torch.all(out.success_step[hit] >= 1) and torch.all(out.success_step[~out.success] == -1)
    assert 0.4 <= out.success_rate() < 1.0  # this model resists JSMA at 10 % better than the paper's LeNet
    assert out.gradient_evaluations > 0 and out.gradient_evaluations % 2 == 0
    assert out.queries is None and torch.equal(out.l0, (out.perturbation.abs() >= L0_TOLERANCE).flatten(1).sum(1))


def test_jsma_with_negative_theta_only_darkens_and_may_spend_an_odd_budget(model, batch):
    x, y = batch
    out = JSMA(theta=-1.0, gamma=0.05).run(model, x, y)
    assert torch.all(out.l0 <= 39) and torch.all(out.perturbation <= 0)
    assert torch.all(out.x_adv[out.x_adv != x] == 0.0)
    assert int(out.l0.max()) == 39  # a failed sample spends its last pixel alone
    assert torch.all(out.pred[out.success] != y[out.success])


def test_targeted_jsma_reaches_the_requested_target_on_most_images(model, batch, second):
    x, y = batch
    out = JSMA(gamma=0.2, targeted=True).run(model, x, y, target=second)
    assert torch.all(out.pred[out.success] == second[out.success])
    assert torch.all(out.pred[~out.success] != second[~out.success])
    assert out.success_rate() >= 0.7  # 17 of 20 when written
    assert torch.all(out.l0 <= pixel_budget(0.2, 784))
    same = JSMA(targeted=True).run(model, x[:3], y[:3], target=y[:3])  # a target equal to the class: left alone
    assert not same.success.any() and torch.equal(same.x_adv, x[:3])


def test_jsma_records_one_frame_per_iteration_and_full_mode_keeps_the_first_adversarial_image(model, batch):
    x, y = batch[0][:4], batch[1][:4]
    stop = JSMA(gamma=0.05, record_trajectory=True).run(model, x, y)
    tr = stop.trajectory
    assert tr is not None and np.array_equal(tr.images[0], x.numpy()) and np.array_equal(tr.step, np.arange(len(tr)))
    assert len(tr) - 1 == int(torch.where(stop.success, stop.success_step, (stop.l0 + 1) // 2).max())
    full = JSMA(gamma=0.05, early_stop=False, record_trajectory=True).run(model, x, y)
    assert torch.equal(full.success, stop.success) and torch.equal(full.x_adv, stop.x_adv)
    assert full.success.any()
    last = torch.from_numpy(full.trajectory.images[-1])
    kept_on = (last != x).flatten(1).sum(1)
    assert torch.all(kept_on[full.success] >= full.l0[full.success])
    assert torch.any(kept_on[full.success] > full.l0[full.success])  # it went on changing pixels


def test_jsma_gives_the_same_answer_in_chunks(model, batch, monkeypatch):
    x, y = batch
    attack = JSMA(theta=-1.0, gamma=0.03)
    monkeypatch.setattr(base, "CHUNK_SIZE", 1000)
    whole = attack.run(model, x, y)
    monkeypatch.setattr(base, "CHUNK_SIZE", 6)  # 4 chunks, the last one short
    parts = attack.run(model, x, y)
    assert torch.equal(parts.success, whole.success) and torch.equal(parts.l0, whole.l0)
    assert torch.allclose(parts.x_adv, whole.x_adv) and parts.gradient_evaluations == whole.gradient_evaluations


# ---------------------------------------------------------------- one-pixel


def test_candidates_write_their_pixels_and_the_later_one_wins():
    images = torch.zeros(2, 1, 4, 5)
    cand = torch.tensor([[[1.7, 3.2, 0.5], [0.0, 4.9, 1.0]],
                         [[2.0, 2.0, 0.3], [2.9, 2.5, 0.8]]])  # row 2: both pixels at (2, 2)
    out = apply_candidates(images, cand)
    assert out[0, 0, 1, 3] == 0.5 and out[0, 0, 0, 4] == 1.0 and int((out[0] != 0).sum()) == 2
    assert out[1, 0, 2, 2] == pytest.approx(0.8) and int((out[1] != 0).sum()) == 1
    assert torch.equal(images, torch.zeros(2, 1, 4, 5))


def test_de_rand_1_draws_three_distinct_members_other_than_the_parent():
    gen = torch.Generator().manual_seed(0)
    r1, r2, r3 = rand1_members(50, 6, gen)
    parent = torch.arange(6).expand(50, 6)
    for u, v in itertools.combinations((parent, r1, r2, r3), 2):
        assert torch.all(u != v)
    counts = torch.bincount(torch.cat([r1, r2, r3]).flatten(), minlength=6)
    assert counts.min() > 0.8 * counts.float().mean()  # every member gets drawn about equally often


def test_onepixel_changes_at_most_its_pixels_and_counts_its_queries(onepixel_run, batch):
    x, y = batch
    out = onepixel_run
    assert torch.all(out.l0 <= 3) and torch.all(changed_pixels(out, x) <= 3)
    assert torch.equal(out.l0, (out.perturbation.abs() >= L0_TOLERANCE).flatten(1).sum(1))
    assert torch.all(out.pred[out.success] != y[out.success]) and torch.all(out.pred[~out.success] == y[~out.success])
    attacked = out.clean_pred == y
    # The first population and one per generation; a fooled sample stops (early_stop).
    assert torch.equal(out.queries[attacked & ~out.success], torch.full_like(out.queries, 30 * 7)[attacked
                                                                                                  & ~out.success])
    assert torch.equal(out.queries[attacked & out.success], 30 * out.success_step[attacked & out.success])
    assert out.gradient_evaluations == 0


class ScoresOnly(nn.Module):
    """The model, with a check that no one asks it for a gradient, and a count of the images it scores."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.images = 0

    def forward(self, x):
        assert not torch.is_grad_enabled(), "a score-based attack asked for a gradient"
        self.images += x.shape[0]
        return self.inner(x)


def test_onepixel_only_asks_for_scores_and_every_image_scored_is_a_query(model, batch):
    x, y = batch[0][:6], batch[1][:6]
    wrapped = ScoresOnly(model).eval()
    out = OnePixel(pixels=2, population=12, steps=4, early_stop=False).run(wrapped, x, y)
    assert wrapped.images == int(out.queries.sum()) + 6  # the queries and the clean check every attack makes
    assert torch.all(out.queries == 12 * 5)


def test_a_child_replaces_its_parent_only_if_better_so_the_fittest_never_gets_worse(model, batch):
    x, y = batch[0][:4], batch[1][:4]
    out = OnePixel(pixels=1, population=20, steps=6, record_trajectory=True).run(model, x, y)
    failed = (~out.success).nonzero().squeeze(1)
    assert failed.numel() > 0  # one pixel rarely fools this model: the whole search shows
    p_true = out.trajectory.probs[1:, failed.numpy(), y[failed].numpy()]  # the fittest member's true-class p
    assert np.all(np.diff(p_true, axis=0) <= 1e-7)
    assert np.any(p_true[-1] < p_true[0])


def test_onepixel_is_repeatable_with_its_seed_and_moves_with_another(model, batch):
    x, y = batch[0][:8], batch[1][:8]
    a = OnePixel(pixels=2, population=16, steps=3, seed=7).run(model, x, y)
    b = OnePixel(pixels=2, population=16, steps=3, seed=7).run(model, x, y)
    c = OnePixel(pixels=2, population=16, steps=3, seed=8).run(model, x, y)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.queries, b.queries) and torch.equal(a.success, b.success)
    assert not torch.equal(a.x_adv, c.x_adv)


def test_targeted_onepixel_raises_the_target_and_records_its_search(model, batch, second):
    x, y, t = batch[0][:5], batch[1][:5], second[:5]
    out = OnePixel(pixels=5, population=30, steps=5, targeted=True, record_trajectory=True).run(model, x, y, target=t)
    assert torch.all(out.pred[out.success] == t[out.success])
    with torch.no_grad():
        clean = torch.softmax(model(x), 1).gather(1, t[:, None])
    assert torch.all(out.probs.gather(1, t[:, None]) > clean)  # the fittest of 180 candidates beats the clean image
    tr = out.trajectory
    assert tr is not None and tr.queries is not None and np.array_equal(tr.images[0], x.numpy())
    assert np.all(np.diff(tr.queries, axis=0) >= 0) and np.array_equal(tr.queries[-1], out.queries.numpy())
    assert np.array_equal(tr.images[-1], out.x_adv.numpy())  # the last frame shows the result


# ---------------------------------------------------------------- both


@pytest.mark.parametrize("attack", [JSMA(gamma=0.05), OnePixel(population=10, steps=5)], ids=["jsma", "onepixel"])
def test_cancel_stops_the_attack(model, batch, attack):
    x, y = batch[0][:4], batch[1][:4]
    stop = threading.Event()
    stop.set()
    with pytest.raises(AttackCancelled):
        attack.run(model, x, y, cancel=stop)
    stop = threading.Event()
    calls = []

    def cancel_after_two(module, inputs, output):
        calls.append(1)
        if len(calls) == 2:
            stop.set()

    handle = model.register_forward_hook(cancel_after_two)
    try:
        with pytest.raises(AttackCancelled):
            attack.run_chunk(model, x, y, None, stop)  # mid-run (run() would attack a channels-last copy)
    finally:
        handle.remove()


@pytest.mark.parametrize("attack", [JSMA(gamma=0.03), OnePixel(population=8, steps=2)], ids=["jsma", "onepixel"])
def test_the_parameters_gradients_are_left_alone(model, batch, attack):
    m = copy.deepcopy(model)
    for p in m.parameters():
        p.requires_grad_(True)
    params = list(m.parameters())
    params[0].grad = torch.full_like(params[0], 0.25)
    attack.run_chunk(m, batch[0][:4], batch[1][:4], None, None)  # the model itself, not run()'s fast copy
    assert torch.all(params[0].grad == 0.25)
    assert all(p.grad is None for p in params[1:])


# ---------------------------------------------------------------- torchattacks 3.5.1 as the oracle


@pytest.fixture(scope="module")
def oracle_batch(mnist_test):
    return mnist_test.images[:30].clone(), mnist_test.labels[:30].clone()


def test_jsma_agrees_with_torchattacks(torchattacks, model, oracle_batch):
    x, y = oracle_batch
    target = (y + 1) % 10  # torchattacks' own choice when untargeted; both get it as the target here
    theirs = torchattacks.JSMA(copy.deepcopy(model), theta=1.0, gamma=0.1)
    theirs.set_mode_targeted_by_label(quiet=True)
    adv = theirs(x, target)
    with torch.no_grad():
        their_hit = model(adv).argmax(1) == target
    ours = JSMA(theta=1.0, gamma=0.1, targeted=True).run(model, x, y, target=target)
    # Budgets differ a little: torchattacks runs ⌈0.1·784 / 2⌉ = 40 pair steps (up to 80 pixels) and leaves out
    # pixels above 0.99 at the start; we stop at ⌊0.1·784⌋ = 78 pixels and leave out only saturated ones.
    assert abs(ours.success_rate() - float(their_hit.float().mean())) <= 0.1
    assert float((ours.success == their_hit).float().mean()) >= 0.8  # mostly the same images
    their_l0 = ((adv - x).abs() >= L0_TOLERANCE).flatten(1).sum(1)
    both = ours.success & their_hit
    assert both.any() and float((ours.l0[both] - their_l0[both]).abs().float().mean()) <= 8


def test_onepixel_agrees_with_torchattacks(torchattacks, model, oracle_batch):
    x, y = oracle_batch
    np.random.seed(0)  # torchattacks' differential evolution draws from numpy's global generator
    # popsize 100 with 3 parameters per pixel: 100 // 3 = 33 times 3 = 99 candidates per generation.
    adv = torchattacks.OnePixel(copy.deepcopy(model), pixels=1, steps=20, popsize=100)(x, y)
    with torch.no_grad():
        their_probs = torch.softmax(model(adv), 1)
    their_rate = float((their_probs.argmax(1) != y).float().mean())
    ours = OnePixel(pixels=1, population=99, steps=20).run(model, x, y)
    # torchattacks runs SciPy's best1bin (mutation around the best member, F dithered in [0.5, 1)), we the paper's
    # rand1 with F = 0.5: the same budget, not the same search, so compare the outcome, not the pixels.
    assert abs(ours.success_rate() - their_rate) <= 0.1
    our_p = ours.probs.gather(1, y[:, None]).mean()
    their_p = their_probs.gather(1, y[:, None]).mean()
    assert float(our_p) <= float(their_p) + 0.01  # the true class is pushed down at least as far
    assert torch.all(ours.queries <= 99 * 21)
