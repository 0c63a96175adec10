"""The black-box attacks: SimBA (score-based) and HopSkipJump, L2 and L∞ (decision-based). Settings, the ε-box,
the query budget as a hard limit, success meaning misclassification, no gradient ever asked for (and, for
HopSkipJump, nothing but the decision used), determinism, trajectories, cancellation, and in-suite oracles:
SimBA at a large budget breaks most of the standard model's images and few of the robust model's, and
HopSkipJump's L2 shrinks with the budget and lands within a small factor of C&W's (a white-box attack).

Budgets are small (≤ 16 images, ≤ 1000 queries) so the file runs in well under two minutes on a busy CPU."""

from __future__ import annotations

import copy
import inspect
import threading

import pytest
import torch
from torch import nn

from advstudio.core.attacks import make_attack
from advstudio.core.attacks.hopskipjump import HopSkipJump, HopSkipJumpLinf, evals_at
from advstudio.core.attacks.simba import SimBA, basis_directions, basis_order, dct_matrix
from advstudio.core.errors import AttackCancelled

TOL = 1e-6  # float32 rounding of x ± ε


@pytest.fixture(scope="module")
def standard(bundled_model):
    return copy.deepcopy(bundled_model).eval()


@pytest.fixture(scope="module")
def batch(mnist_test):
    return mnist_test.images[:16].clone(), mnist_test.labels[:16].clone()


class Watched(nn.Module):
    """The model, checking at every call that no gradient can be taken (grad mode off, input not tracked) and
    counting the images asked about. A module of the test, so fast_layout attacks it as it is."""

    def __init__(self, inner: nn.Module, decision_only: bool = False) -> None:
        super().__init__()
        self.inner = inner
        self.decision_only = decision_only
        self.rows = 0
        self.grad_seen = False
        self.train(inner.training)  # else eval_mode would hand the wrapped model back in training mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += int(x.shape[0])
        self.grad_seen |= torch.is_grad_enabled() or x.requires_grad
        logits = self.inner(x)
        if self.decision_only:  # the same argmax, every score thrown away
            return nn.functional.one_hot(logits.argmax(1), logits.shape[1]).float() * 5.0
        return logits


def _pred(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("cls, expected", [
    (SimBA, [("eps", inspect.Parameter.empty), ("queries", 1000), ("basis", "pixel"), ("targeted", False),
             ("early_stop", True), ("record_trajectory", False), ("seed", 0)]),
    (HopSkipJump, [("queries", 1000), ("init_evals", 100), ("max_evals", 1000), ("targeted", False),
                   ("early_stop", True), ("record_trajectory", False), ("seed", 0)]),
    (HopSkipJumpLinf, [("eps", inspect.Parameter.empty), ("queries", 1000), ("init_evals", 100),
                       ("max_evals", 1000), ("targeted", False), ("early_stop", True),
                       ("record_trajectory", False), ("seed", 0)]),
])
def test_settings_in_order_with_their_defaults(cls, expected):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [(p.name, p.default) for p in params] == expected


def test_names_and_norms():
    assert (SimBA.name, SimBA.norm, SimBA.iterative) == ("simba", "linf", True)
    assert (HopSkipJump.name, HopSkipJump.norm) == ("hopskipjump", "l2")
    assert (HopSkipJumpLinf.name, HopSkipJumpLinf.norm) == ("hopskipjump-linf", "linf")
    assert SimBA(0.1).uses_eps and HopSkipJumpLinf(0.1).uses_eps and not HopSkipJump().uses_eps
    p = SimBA(0.2, queries=50, basis="dct", targeted=True).params()
    assert (p["eps"], p["queries"], p["basis"], p["targeted"], p["norm"]) == (0.2, 50, "dct", True, "linf")
    p = HopSkipJumpLinf(0.3, queries=70, init_evals=10, max_evals=20).params()
    assert (p["eps"], p["queries"], p["init_evals"], p["max_evals"], p["norm"]) == (0.3, 70, 10, 20, "linf")
    assert "eps" not in HopSkipJump().params() and HopSkipJump().params()["norm"] == "l2"


@pytest.mark.parametrize("make", [
    lambda: SimBA(-0.1), lambda: SimBA(1.5), lambda: SimBA(0.1, queries=0), lambda: SimBA(0.1, basis="fft"),
    lambda: HopSkipJump(queries=0), lambda: HopSkipJump(init_evals=0), lambda: HopSkipJump(init_evals=50, max_evals=49),
    lambda: HopSkipJumpLinf(1.2), lambda: HopSkipJumpLinf(-0.01), lambda: HopSkipJumpLinf(0.1, queries=0),
])
def test_bad_settings_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_the_papers_sample_schedule():
    assert [evals_at(t, 100, 1000) for t in (1, 2, 4, 9, 100, 101)] == [100, 141, 200, 300, 1000, 1000]
    assert evals_at(4, 100, 150) == 150


# ---------------------------------------------------------------- SimBA's bases


def test_dct_basis_is_orthonormal_and_walked_low_frequencies_first():
    c = dct_matrix(28, torch.float64)
    assert torch.allclose(c @ c.T, torch.eye(28, dtype=torch.float64), atol=1e-10)
    gen = torch.Generator().manual_seed(0)
    order = basis_order("dct", 3, (1, 28, 28), gen)
    assert all(sorted(row.tolist()) == list(range(784)) for row in order)
    u, v = order // 28, order % 28
    ring = torch.maximum(u, v)
    assert bool((ring[:, :49] < 7).all())  # the 7×7 low block first, then ring after ring
    assert bool((ring[:, 49:].diff(dim=1) >= 0).all())
    assert not torch.equal(order[0], order[1])  # a random order within each ring, per image
    pixel = basis_order("pixel", 2, (1, 28, 28), gen)
    assert sorted(pixel[0].tolist()) == list(range(784)) and not torch.equal(pixel[0], pixel[1])
    peak = tuple(m / m.abs().amax(1, keepdim=True) for m in (c.float(), c.float()))
    q = basis_directions("dct", torch.tensor([0, 29, 783]), (1, 28, 28), peak)
    assert torch.allclose(q.flatten(1).abs().amax(1), torch.ones(3))
    assert torch.allclose(q[0], torch.ones(1, 28, 28))  # frequency (0, 0): the constant image
    e = basis_directions("pixel", torch.tensor([5]), (1, 28, 28))
    assert e.sum() == 1 and e.flatten()[5] == 1


# ---------------------------------------------------------------- SimBA


@pytest.mark.parametrize("basis", ["pixel", "dct"])
def test_simba_stays_in_the_eps_box_within_its_budget(standard, batch, basis):
    x, y = batch
    eps, budget = 0.15, 300
    out = SimBA(eps, queries=budget, basis=basis, early_stop=False).run(standard, x, y)
    assert float(out.linf.max()) <= eps + TOL
    assert float(out.x_adv.min()) >= 0.0 and float(out.x_adv.max()) <= 1.0
    assert out.queries is not None and int(out.queries.max()) <= budget
    assert int(out.queries.min()) == budget  # full mode spends the budget on every point
    assert bool((out.pred[out.success] != y[out.success]).all())
    assert bool((_pred(standard, out.x_adv)[out.success] != y[out.success]).all())
    assert 0 < int(out.success.sum()) < len(y)  # mid-curve: it does something, not everything


def test_simba_scores_do_not_saturate_on_a_very_sure_model():
    """A float32 softmax rounds p_y to 1 (log-softmax to 0) past a logit gap of ~17; the log-odds do not, so a
    step that lowers p_y a little is still seen as better (targeted: one that raises the target's)."""
    z = torch.tensor([[30.0, 0.0, 0.0] + [0.0] * 7])
    y, t = torch.tensor([0]), torch.tensor([1])
    assert float(torch.log_softmax(z, 1)[0, 0]) == 0.0  # what the plain log-probability would compare
    nudged = z.clone()
    nudged[0, 1] += 0.01
    assert SimBA.score(nudged, y, None) < SimBA.score(z, y, None)
    assert SimBA.score(nudged, y, t) < SimBA.score(z, y, t)
    assert torch.allclose(SimBA.score(z, y, None), torch.tensor([30.0 - torch.log(torch.tensor(9.0))]))


def test_simba_pixel_at_a_large_budget_breaks_most_standard_images(standard, batch):
    x, y = batch
    out = SimBA(0.3, queries=1000).run(standard, x, y)
    assert out.success_rate() >= 0.9, out.success_rate()
    assert bool(out.success[:2].all())  # test images 0 and 1: the model is sure past float32's softmax
    s = out.success
    assert float(out.queries[s].float().mean()) < 600  # early stop: a fooled point stops asking
    assert bool((out.queries[~s] == 1000).all())


def test_simba_breaks_far_fewer_robust_images(standard, robust, batch):
    x, y = batch[0][:12], batch[1][:12]
    weak = SimBA(0.3, queries=400).run(standard, x, y).success_rate()
    strong = SimBA(0.3, queries=400).run(robust, x, y).success_rate()
    assert strong + 0.3 <= weak, (strong, weak)


def test_simba_targeted_reaches_the_target(standard, batch):
    x, y = batch[0][:8], batch[1][:8]
    tgt = (y + 1) % 10
    out = SimBA(0.3, queries=600, targeted=True).run(standard, x, y, target=tgt)
    assert out.success.any()
    assert bool((out.pred[out.success] == tgt[out.success]).all())
    assert float(out.linf.max()) <= 0.3 + TOL and int(out.queries.max()) <= 600


def test_a_target_equal_to_the_true_class_is_left_alone(standard, batch):
    x, y = batch[0][:4], batch[1][:4]
    for attack in (SimBA(0.3, queries=50, targeted=True), HopSkipJump(queries=60, targeted=True),
                   HopSkipJumpLinf(0.3, queries=60, targeted=True)):
        out = attack.run(standard, x, y, target=y)
        assert not out.success.any() and int(out.queries.max()) == 0
        assert torch.equal(out.x_adv, x)


# ---------------------------------------------------------------- HopSkipJump


@pytest.mark.parametrize("budget", [40, 137, 300])
@pytest.mark.parametrize("cls", [HopSkipJump, HopSkipJumpLinf])
def test_hopskipjump_never_exceeds_its_budget(standard, batch, cls, budget):
    x, y = batch[0][:6], batch[1][:6]
    attack = cls(queries=budget) if cls is HopSkipJump else cls(0.1, queries=budget, early_stop=False)
    watched = Watched(standard)
    out = attack.run(watched, x, y)
    assert int(out.queries.max()) <= budget
    assert watched.rows == int(out.queries.sum()) + len(y)  # every row counted, the clean check aside
    assert int(out.queries.min()) >= budget - 25  # and it uses what it has (a bisection may not fit)


def test_hopskipjump_l2_success_means_misclassified_and_x_adv_is_its_smallest(standard, batch):
    x, y = batch[0][:8], batch[1][:8]
    out = HopSkipJump(queries=400, record_trajectory=True).run(standard, x, y)
    assert out.success.all()  # untargeted: uniform noise is misread, so a start is always found
    assert bool((out.pred != y).all()) and bool((_pred(standard, out.x_adv) != y).all())
    frames = torch.from_numpy(out.trajectory.images)
    walked = (frames[1:] - x).flatten(2).norm(dim=2)  # every boundary point after the start
    assert torch.allclose(out.l2, walked.amin(0) * (1 + 1e-3), rtol=1e-4)  # pushed out by 0.1 %
    assert bool((walked[-1] < walked[0]).all())  # the walk moved towards x


def test_hopskipjump_l2_shrinks_as_the_budget_grows_and_lands_near_cw(standard, batch):
    x, y = batch[0][:12], batch[1][:12]
    small = HopSkipJump(queries=200).run(standard, x, y)
    large = HopSkipJump(queries=1000).run(standard, x, y)
    assert small.success.all() and large.success.all()
    assert float(large.l2.median()) < 0.8 * float(small.l2.median())
    cw = make_attack("cw").run(standard, x, y)
    both = cw.success & large.success
    ratio = float(large.l2[both].median()) / float(cw.l2[both].median())
    # A black-box walk after 1000 decisions: at most ~2.5× the white-box C&W (ART's HSJ reaches ~3.2× with
    # 916 queries on these images) and not far below it.
    assert 0.8 <= ratio <= 2.5, ratio


def test_hopskipjump_linf_successes_lie_in_the_eps_box(standard, batch):
    x, y = batch
    eps = 0.2
    out = HopSkipJumpLinf(eps, queries=500).run(standard, x, y)
    assert float(out.linf.max()) <= eps + TOL  # failures too: clipped into the box
    assert bool((out.pred[out.success] != y[out.success]).all())
    assert bool((_pred(standard, out.x_adv)[out.success] != y[out.success]).all())
    assert bool((out.pred[~out.success] == y[~out.success]).all())  # a failure is still read correctly
    assert 0 < int(out.success.sum()) < len(y)
    assert int(out.queries.max()) <= 500
    easy = HopSkipJumpLinf(0.4, queries=500).run(standard, x, y)
    assert easy.success_rate() > out.success_rate()
    assert float(easy.queries[easy.success].float().mean()) < 500  # early stop once within ε


def test_hopskipjump_targeted_reaches_the_target_or_leaves_the_image(standard, batch):
    x, y = batch[0][:8], batch[1][:8]
    tgt = (y + 3) % 10
    out = HopSkipJump(queries=300, targeted=True).run(standard, x, y, target=tgt)
    assert out.success.any()
    assert bool((out.pred[out.success] == tgt[out.success]).all())
    assert torch.equal(out.x_adv[~out.success], x[~out.success])  # no start found: left alone
    assert int(out.queries.max()) <= 300


def test_hopskipjump_uses_nothing_but_the_decision(standard, batch):
    """A model that answers with a one-hot of its class (every score gone) leads the walk to the same points."""
    x, y = batch[0][:4], batch[1][:4]
    for attack in (HopSkipJump(queries=250), HopSkipJumpLinf(0.2, queries=250, early_stop=False)):
        plain = attack.run(Watched(standard), x, y)
        blind = attack.run(Watched(standard, decision_only=True), x, y)
        assert torch.equal(plain.x_adv, blind.x_adv) and torch.equal(plain.queries, blind.queries)


@pytest.mark.parametrize("make", [
    lambda: SimBA(0.2, queries=100), lambda: SimBA(0.2, queries=100, basis="dct", targeted=True),
    lambda: HopSkipJump(queries=200), lambda: HopSkipJumpLinf(0.2, queries=200, targeted=True),
])
def test_no_gradient_is_ever_asked_for(standard, batch, make):
    x, y = batch[0][:4], batch[1][:4]
    watched = Watched(standard)
    make().run(watched, x, y, target=(y + 1) % 10)
    assert watched.rows > len(y) and not watched.grad_seen


# ---------------------------------------------------------------- determinism, trajectories, cancel


@pytest.mark.parametrize("make", [
    lambda s: SimBA(0.2, queries=150, seed=s), lambda s: SimBA(0.2, queries=150, basis="dct", seed=s),
    lambda s: HopSkipJump(queries=200, seed=s), lambda s: HopSkipJumpLinf(0.2, queries=200, seed=s),
])
def test_a_fixed_seed_gives_the_same_result(standard, batch, make):
    x, y = batch[0][:6], batch[1][:6]
    a, b, c = (make(s).run(standard, x, y) for s in (0, 0, 1))
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.queries, b.queries)
    assert torch.equal(a.success, b.success) and torch.equal(a.success_step, b.success_step)
    assert not torch.equal(a.x_adv, c.x_adv)  # another seed, another walk


def test_trajectories_follow_the_walk(standard, batch):
    x, y = batch[0][:1], batch[1][:1]
    out = SimBA(0.2, queries=200, early_stop=False, record_trajectory=True).run(standard, x, y)
    traj = out.trajectory
    assert traj is not None and len(traj) >= 2 and traj.queries is not None
    assert traj.step[0] == 0 and (traj.queries[0] == 0).all() and bool((traj.step[1:] > traj.step[:-1]).all())
    assert float((torch.from_numpy(traj.images) - x).abs().max()) <= 0.2 + TOL
    assert (traj.queries[1:, 0] >= traj.queries[:-1, 0]).all() and traj.queries[-1, 0] <= 200
    hsj = HopSkipJump(queries=600, record_trajectory=True).run(standard, x, y)
    t = hsj.trajectory
    assert t is not None and list(t.step) == list(range(len(t))) and len(t) >= 4  # clean, start, iterations
    assert (t.queries[:, 0] == sorted(t.queries[:, 0])).all()
    assert t.queries[-1, 0] == hsj.queries[0] - 1  # the kept query (the final push) comes after the last frame
    assert (t.probs[1:].argmax(2)[:, 0] != int(y[0])).all()  # every frame after the start is adversarial


@pytest.mark.parametrize("make", [
    lambda: SimBA(0.05, queries=500, early_stop=False), lambda: HopSkipJump(queries=1000),
    lambda: HopSkipJumpLinf(0.01, queries=1000),
])
def test_cancel_stops_the_attack_between_steps(standard, batch, make):
    x, y = batch[0][:4], batch[1][:4]
    stop = threading.Event()
    stop.set()
    with pytest.raises(AttackCancelled):
        make().run(standard, x, y, cancel=stop)
    cancel = threading.Event()
    calls = [0]

    def cancel_after_three(module, inputs, output):
        calls[0] += 1
        if calls[0] == 3:
            cancel.set()

    handle = standard.register_forward_hook(cancel_after_three)
    try:
        with pytest.raises(AttackCancelled):
            make().run(standard, x, y, cancel=cancel)
    finally:
        handle.remove()
    assert calls[0] <= 60  # stopped at the next iteration (a bisection is ≤ 21 calls), not at the end
