"""FAB-T (core/attacks/fab.py): its projection onto a hyperplane within the pixel box is the minimal-norm one
(scipy's constrained solver as the oracle), the L∞ attack stays in its ε-box and agrees with torchattacks'
FAB on a fixed batch, and the L2 attack finds perturbations no larger than DeepFool's."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch

from advstudio.core.attacks import make_attack
from advstudio.core.attacks.fab import project_hyperplane_box
from advstudio.core.errors import AttackCancelled


@pytest.fixture(scope="module")
def model(bundled_model):
    m = copy.deepcopy(bundled_model)
    m.eval()
    return m


@pytest.fixture(scope="module")
def batch(mnist_test):
    return mnist_test.images[:16].clone(), mnist_test.labels[:16].clone()


def _oracle(z: np.ndarray, w: np.ndarray, b: float, norm: str) -> float:
    """The least norm of d with w·d = b and 0 ≤ z + d ≤ 1, from scipy (SLSQP; L∞ as min t with |d_i| ≤ t)."""
    from scipy.optimize import minimize

    n = z.size
    cons = [{"type": "eq", "fun": lambda v: w @ v[:n] - b}]
    bounds = [(-zi, 1 - zi) for zi in z]
    if norm == "l2":
        res = minimize(lambda v: v @ v, np.zeros(n), jac=lambda v: 2 * v, bounds=bounds, constraints=cons,
                       method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
        return float(np.sqrt(res.fun))
    cons += [{"type": "ineq", "fun": lambda v: v[n] - np.abs(v[:n])}]
    res = minimize(lambda v: v[n], np.r_[np.zeros(n), 1.0], bounds=bounds + [(0, 1)], constraints=cons,
                   method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
    return float(res.x[n])


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_the_projection_is_the_smallest_step_onto_the_plane_inside_the_box(norm):
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.uniform(0, 1, (6, 8))).double()
    w = torch.from_numpy(rng.normal(0, 1, (6, 8))).double()
    b = torch.from_numpy(rng.uniform(-0.8, 0.8, 6)).double()
    d = project_hyperplane_box(z, w, b, norm)
    assert torch.all(z + d >= -1e-12) and torch.all(z + d <= 1 + 1e-12)
    assert torch.allclose((w * d).sum(1), b, atol=1e-6)  # on the plane (these are all reachable)
    ours = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    for i in range(6):
        assert float(ours[i]) <= _oracle(z[i].numpy(), w[i].numpy(), float(b[i]), norm) + 1e-4


def test_out_of_reach_the_projection_goes_as_far_as_the_box_allows():
    z = torch.tensor([[0.5, 0.5]])
    w = torch.tensor([[1.0, 1.0]])
    d = project_hyperplane_box(z, w, torch.tensor([5.0]), "linf")  # the plane lies beyond the box
    assert torch.allclose(d, torch.tensor([[0.5, 0.5]]))


def test_fab_t_stays_in_its_eps_box_and_agrees_with_torchattacks(model, batch):
    import torchattacks

    x, y = batch
    out = make_attack("fab-t", eps=0.1, steps=30, target_classes=3).run(model, x, y)
    assert float(out.linf.max()) <= 0.1 + 1e-6 and float(out.x_adv.min()) >= 0 and float(out.x_adv.max()) <= 1
    with torch.no_grad():
        assert torch.equal(model(out.x_adv).argmax(1) != y, out.success)
    ta = torchattacks.FAB(model, norm="Linf", eps=0.1, steps=30, n_restarts=1, multi_targeted=True, n_classes=4,
                          seed=0)
    with torch.no_grad():
        theirs = float((model(ta(x, y)).argmax(1) == y).float().mean())
    assert abs(out.accuracy() - theirs) <= 1 / 16 + 1e-9, (out.accuracy(), theirs)
    assert out.accuracy() < out.clean_accuracy()  # it breaks something at ε = 0.1 on the standard model


def test_fab_t_l2_needs_no_more_than_deepfool(model, batch):
    x, y = batch
    fab = make_attack("fab-t-l2", steps=30, target_classes=3).run(model, x, y)
    deepfool = make_attack("deepfool").run(model, x, y)
    both = fab.success & deepfool.success
    assert int(both.sum()) >= 12
    assert float(fab.l2[both].median()) <= float(deepfool.l2[both].median()) * 1.02


def test_fab_t_records_its_walk_and_can_be_cancelled(model, batch):
    x, y = batch[0][:1], batch[1][:1]
    out = make_attack("fab-t", eps=0.2, steps=5, target_classes=2, early_stop=False,
                      record_trajectory=True).run(model, x, y)
    assert out.trajectory is not None and len(out.trajectory) == 1 + 2 * 5
    stop = threading.Event()
    stop.set()
    with pytest.raises(AttackCancelled):
        make_attack("fab-t", eps=0.2, steps=5).run(model, x, y, cancel=stop)
