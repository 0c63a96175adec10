"""AutoAttack's attacks (APGD-CE, APGD-T, Square): the paper's schedules, the ε-box, strength against PGD-40 on
the bundled robust model, agreement with torchattacks 3.5.1 as an oracle at matched budgets, Square's
gradient-free queries, and cancellation.

Budgets are small (≤ 64 images, ≤ 20 steps, ≤ 300 queries) so the file runs in well under a minute."""

from __future__ import annotations

import copy
import json
import math
import threading

import pytest
import torch
from torch import nn

from advstudio.core.attacks import make_attack
from advstudio.core.attacks.apgd import INITIAL_STEP, apgd_walk, checkpoint_fractions, checkpoints, dlr_loss
from advstudio.core.attacks.square import HALVINGS, square_fraction, square_side
from advstudio.core.errors import AttackCancelled

AUTOATTACK = ("apgd-ce", "apgd-t", "square")
FAST = {"apgd-ce": dict(steps=10), "apgd-t": dict(steps=10, target_classes=3), "square": dict(queries=150)}


@pytest.fixture(scope="module")
def standard(bundled_model):
    return copy.deepcopy(bundled_model).eval()


@pytest.fixture(scope="module")
def batch(mnist_test):
    return mnist_test.images[:64].clone(), mnist_test.labels[:64].clone()


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


# ---------------------------------------------------------------- the paper's schedules


def test_checkpoints_follow_the_papers_recursion():
    p = checkpoint_fractions()
    assert p[:2] == [0.0, 0.22]
    for j in range(1, len(p) - 1):
        assert p[j + 1] == pytest.approx(p[j] + max(p[j] - p[j - 1] - 0.03, 0.06))
    assert p[-1] <= 1.0 < p[-1] + max(p[-1] - p[-2] - 0.03, 0.06)
    assert p == pytest.approx([0.0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99])
    assert checkpoints(100) == [0, 22, 41, 57, 70, 80, 87, 93, 99]
    for n in (7, 10, 33, 250):
        assert checkpoints(n) == sorted({math.ceil(round(q * n, 9)) for q in p} - {n})


def _walk(objective_of_call, steps: int = 100, eps: float = 0.1) -> dict[int, float]:
    """apgd_walk on one 4-pixel 'image' whose objective at the c-th call is objective_of_call(c); the gradient
    pushes every pixel up. Returns each iterate's step size."""
    x = torch.full((1, 1, 2, 2), 0.5)
    calls = [0]

    def goal(xa, idx):
        calls[0] += 1
        total = xa.sum((1, 2, 3))
        return torch.zeros(len(idx), 10), total - total.detach() + objective_of_call(calls[0])

    trace: list = []
    apgd_walk(goal, x, x - eps, x + eps, eps, steps, idx=torch.tensor([0]), step_sizes=trace)
    return {k: float(eta[0]) for k, eta in trace}


def test_a_stalled_loss_halves_the_step_at_every_checkpoint():
    """Condition 1: a loss that never rises (fewer than ρ = 0.75 of the steps raise it) halves η at every
    checkpoint; η starts at 2ε."""
    eta = _walk(lambda c: -float(c))  # falls at every call
    marks = checkpoints(100)[1:]
    assert eta[0] == pytest.approx(INITIAL_STEP * 0.1)
    for j, w in enumerate(marks, start=1):
        assert eta[w] == pytest.approx(0.2 / 2**j), (w, eta[w])
        assert eta[w - 1] == pytest.approx(0.2 / 2 ** (j - 1))


def test_a_rising_loss_keeps_the_step():
    eta = _walk(lambda c: float(c))
    assert all(v == pytest.approx(0.2) for v in eta.values()), eta


def test_a_best_loss_that_stops_rising_halves_the_step_by_condition_2():
    """90 % of the steps raise the loss (so condition 1 never holds), but after iterate 22 the best loss never
    rises again: the step halves at the next checkpoint where it was not halved at the one before (41, 70, …).
    Call c evaluates iterate c − 1; the loss rises at every call but the 50th and 100th and the first after a
    restart from the best point, and falls below its best after iterate 22."""
    eta = _walk(lambda c: float(c % 50) - (0.0 if c <= 23 else 100.0))
    halved = [w for w in checkpoints(100)[1:] if eta[w] < eta[w - 1]]
    assert halved == [41, 70, 87, 99]


def test_dlr_is_invariant_to_shifting_and_scaling_the_logits():
    torch.manual_seed(0)
    z = torch.randn(16, 10)
    y, t = torch.randint(0, 10, (16,)), torch.randint(0, 10, (16,))
    for target in (None, t):
        assert torch.allclose(dlr_loss(3.0 * z + 7.0, y, target), dlr_loss(z, y, target), atol=1e-5)
    top = z.sort(1, descending=True).values
    others = z.masked_fill(nn.functional.one_hot(y, 10).bool(), -math.inf).amax(1)
    assert torch.allclose(dlr_loss(z, y), -(z.gather(1, y[:, None])[:, 0] - others) / (top[:, 0] - top[:, 2]))


def test_squares_shrink_on_the_papers_schedule_rescaled_to_the_budget():
    assert square_fraction(1, 10_000, 0.8) == 0.8
    assert square_fraction(10, 10_000, 0.8) == 0.8
    assert square_fraction(11, 10_000, 0.8) == 0.4
    assert square_fraction(51, 10_000, 0.8) == 0.2
    assert square_fraction(9_999, 10_000, 0.8) == pytest.approx(0.8 / 2 ** len(HALVINGS))
    assert square_fraction(2, 1_000, 0.8) == 0.4  # iteration 2 of 1,000 is iteration 20 of 10,000
    assert square_fraction(600, 1_000, 0.8) == pytest.approx(0.8 / 2**7)  # at 6,000: not yet past it
    assert square_fraction(601, 1_000, 0.8) == pytest.approx(0.8 / 2**8)
    assert square_side(0.8, 28, 28) == round(math.sqrt(0.8 * 784)) == 25
    assert square_side(1e-6, 28, 28) == 1 and square_side(1.0, 28, 28) == 28


# ---------------------------------------------------------------- the ε-box, trajectories, queries


@pytest.mark.parametrize("name", AUTOATTACK)
def test_perturbations_stay_in_the_eps_box_and_in_0_1(name, robust, batch):
    x, y = batch[0][:32], batch[1][:32]
    out = make_attack(name, eps=0.3, **FAST[name]).run(robust, x, y)
    assert float(out.linf.max()) <= 0.3 + 1e-6
    assert float(out.x_adv.min()) >= 0.0 and float(out.x_adv.max()) <= 1.0
    assert torch.equal(out.success, out.pred != y) and out.accuracy() <= out.clean_accuracy()
    full = make_attack(name, eps=0.3, early_stop=False, record_trajectory=True, **FAST[name]).run(robust, x[:2], y[:2])
    t = full.trajectory
    assert t is not None and len(t) > 2
    assert (abs(t.images - x[:2].numpy()[None]).max()) <= 0.3 + 1e-6
    assert t.images.min() >= 0.0 and t.images.max() <= 1.0


def test_apgd_t_runs_one_search_per_target_class(robust, batch):
    x, y = batch[0][:1], batch[1][:1]
    out = make_attack("apgd-t", eps=0.3, steps=4, early_stop=False, record_trajectory=True).run(robust, x, y)
    t = out.trajectory
    assert sorted(set(t.restart.tolist())) == list(range(9))  # 9 target classes by default
    assert list(t.step[t.restart == 4]) == list(range(5))
    assert out.gradient_evaluations == 9 * 4 and out.params["target_classes"] == 9


def test_square_counts_its_queries_and_stops_each_point_once_fooled(standard, batch):
    x, y = batch
    out = make_attack("square", eps=0.3, queries=200, record_trajectory=False).run(standard, x, y)
    q = out.queries
    assert q is not None and q.shape == y.shape and int(q.max()) <= 200
    clean_wrong = standard(x).argmax(1) != y
    assert (q[clean_wrong] == 0).all()
    broken = out.success & ~clean_wrong  # an unchanged square costs an iteration but no query
    assert (q[broken] >= 1).all() and (q[broken] <= out.success_step[broken]).all()
    assert float(q[out.success].float().mean()) < 200  # a fooled point spends less than the budget
    traj = make_attack("square", eps=0.3, queries=200, record_trajectory=True).run(standard, x[:1], y[:1]).trajectory
    assert traj.queries is not None and (traj.queries[1:] >= traj.queries[:-1]).all()


def test_square_starts_from_vertical_stripes():
    """With one query the result is the start point: each column moved by +ε or −ε (clamped to [0, 1])."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.zeros_(model[1].weight)
    with torch.no_grad():
        model[1].bias.copy_(torch.tensor([5.0] + [0.0] * 9))  # always reads 0: never fooled
    x = torch.full((4, 1, 28, 28), 0.5)
    out = make_attack("square", eps=0.2, queries=1).run(model, x, torch.zeros(4, dtype=torch.long))
    delta = out.perturbation[:, 0]
    assert torch.allclose(delta.abs(), torch.full_like(delta, 0.2), atol=1e-6)
    assert (delta == delta[:, :1, :]).all()  # constant down every column
    assert (delta[:, 0] > 0).any() and (delta[:, 0] < 0).any()
    assert int(out.queries.max()) == 1


class _NoBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise AssertionError("Square asked for a gradient")


class _Guarded(nn.Module):
    """The model, but any backward pass raises and any forward with autograd on is recorded."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.grad_enabled_calls = 0

    def forward(self, x):
        self.grad_enabled_calls += int(torch.is_grad_enabled())
        return self.inner(_NoBackward.apply(x))


def test_square_never_asks_for_a_gradient(standard, batch):
    x, y = batch[0][:16], batch[1][:16]
    guarded = _Guarded(standard).eval()  # a new module trains; run() would hand train mode back to the model
    out = make_attack("square", eps=0.3, queries=100).run(guarded, x.requires_grad_(True), y)
    assert guarded.grad_enabled_calls == 0 and out.gradient_evaluations == 0
    assert out.success.float().mean() > 0.5  # and it still breaks the standard model


# ---------------------------------------------------------------- strength and the oracle


def test_apgd_ce_is_at_least_as_strong_as_pgd40_on_the_robust_model(robust, batch):
    x, y = batch
    pgd = make_attack("pgd", eps=0.3, steps=40, step_size=0.01, seed=0).run(robust, x, y).accuracy()
    apgd = make_attack("apgd-ce", eps=0.3, steps=40).run(robust, x, y).accuracy()
    assert apgd <= pgd + 1 / 64, (apgd, pgd)  # 95.3 % vs 93.8 % when written


ORACLE_EPS = 0.08  # mid-curve for the standard model (APGD-CE-10 ≈ 84 %), where disagreements would show
SLACK = 3 / 64  # three images of 64


def _theirs(torchattacks, name, model):
    if name == "apgd-ce":
        return torchattacks.APGD(model, norm="Linf", eps=ORACLE_EPS, steps=10, n_restarts=1, seed=0, loss="ce")
    if name == "apgd-t":
        atk = torchattacks.APGDT(model, norm="Linf", eps=ORACLE_EPS, steps=10, n_restarts=1, seed=0, n_classes=10)
        atk.n_target_classes = 3
        return atk
    return torchattacks.Square(model, norm="Linf", eps=ORACLE_EPS, n_queries=150, n_restarts=1, seed=0,
                               p_init=0.8)


@pytest.mark.parametrize("name", AUTOATTACK)
def test_agrees_with_torchattacks_at_matched_budgets(torchattacks, name, standard, batch):
    x, y = batch
    theirs = _accuracy(standard, _theirs(torchattacks, name, standard)(x, y), y)
    ours = make_attack(name, eps=ORACLE_EPS, **FAST[name]).run(standard, x, y).accuracy()
    assert abs(ours - theirs) <= SLACK, (ours, theirs)
    assert ours < _accuracy(standard, x, y)  # the batch is mid-curve: the attack does something


# ---------------------------------------------------------------- cancellation and the CLI


@pytest.mark.parametrize("name", AUTOATTACK)
def test_cancel_stops_the_attack_between_steps(name, standard, batch):
    x, y = batch[0][:8], batch[1][:8]
    cancel = threading.Event()
    calls = [0]

    def cancel_after_three(module, inputs, output):
        calls[0] += 1
        if calls[0] == 3:
            cancel.set()

    handle = standard.register_forward_hook(cancel_after_three)
    try:
        with pytest.raises(AttackCancelled):
            make_attack(name, eps=0.02, early_stop=False, **FAST[name]).run(standard, x, y, cancel=cancel)
    finally:
        handle.remove()
    assert calls[0] <= 4  # stopped at the next step, not at the end


def test_cli_evaluate_runs_the_autoattack_attacks(mnist_dir, tmp_path, capsys):
    from advstudio.cli import main
    from advstudio.core.resources import robust_model_path

    out = tmp_path / "apgd.json"
    rc = main(["evaluate", "--model", str(robust_model_path()), "--data", str(mnist_dir), "--attack", "apgd-ce",
               "--eps", "0,0.3", "--steps", "5", "--limit", "16", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "APGD-CE" in text and "5 steps" in text and "n = 16" in text and "halved" in text
    doc = json.loads(out.read_text())
    assert doc["attack"] == "apgd-ce" and doc["params"]["steps"] == 5 and [r["eps"] for r in doc["results"]] == [0, 0.3]
    assert main(["evaluate", "--data", str(mnist_dir), "--attack", "square", "--eps", "0.3", "--steps", "40",
                 "--limit", "8"]) == 0
    assert "Square" in (text := capsys.readouterr().out) and "40 queries" in text
    assert main(["evaluate", "--data", str(mnist_dir), "--attack", "apgd-t", "--eps", "0.3", "--steps", "2",
                 "--limit", "4"]) == 0
    assert "APGD-T" in capsys.readouterr().out
    assert main(["evaluate", "--data", str(mnist_dir), "--attack", "square", "--momentum", "1", "--limit", "4"]) == 2


@pytest.mark.parametrize("name", AUTOATTACK)
def test_large_batches_run_in_chunks_and_merge(monkeypatch, name, standard, batch):
    """Chunks get their own seeds (seed + k), so the merge is checked for shape and bookkeeping, not equality."""
    import advstudio.core.attacks.base as base

    x, y = batch[0][:20], batch[1][:20]
    monkeypatch.setattr(base, "CHUNK_SIZE", 8)  # 3 chunks, the last one short
    out = make_attack(name, eps=0.3, **FAST[name]).run(standard, x, y)
    assert out.n == 20 and out.x_adv.shape == x.shape and float(out.linf.max()) <= 0.3 + 1e-6
    assert torch.equal(out.success, out.pred != y)
    assert (out.queries is not None and out.queries.shape == (20,)) == (name == "square")
