"""The decision plane: the points' coordinates, the grid's classes at the drawing and its adversarial version,
paths projected onto the plane, a PGD path crossing the boundary, and the errors for degenerate planes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from stroke_digits import strokes

from advstudio.core.attacks.registry import make_attack
from advstudio.core.errors import Cancelled
from advstudio.core.explain.boundary import decision_plane, random_third


def _pred(model, x: torch.Tensor) -> int:
    with torch.no_grad():
        return int(model(x.reshape(1, 1, 28, 28)).argmax(1))


@pytest.fixture(scope="module")
def attacked(bundled_model):
    """A synthetic digit, the model's class for it, and a successful PGD run with its full 20-step trajectory
    (no early stop: x_adv is the first successful iterate, the path goes on past it)."""
    model = bundled_model.eval()
    for seed in range(10):
        x = strokes(1, seed=seed)
        y = torch.tensor([_pred(model, x)])
        attack = make_attack("pgd", eps=0.1, steps=20, early_stop=False, record_trajectory=True)
        out = attack.run(model, x, y)
        if bool(out.success[0]) and int(out.success_step[0]) >= 2:
            return x, y, out
    pytest.fail("PGD at ε = 0.1 failed (or won at once) on 10 synthetic digits against the standard model")


def test_points_and_the_classes_on_them(bundled_model, attacked):
    x, y, out = attacked
    x_adv = out.x_adv
    plane = decision_plane(bundled_model, x, x_adv, grid=41)
    assert plane.points["clean"] == (0.0, 0.0)
    dist = plane.points["adversarial"][0]
    assert dist == pytest.approx(float((x_adv - x).flatten().norm()), rel=1e-6)
    assert plane.points["adversarial"][1] == 0.0
    assert plane.u.shape == plane.v.shape == (41,)
    assert plane.pred.shape == plane.confidence.shape == (41, 41)
    assert plane.pred.dtype == np.int64 and plane.confidence.dtype == np.float32
    assert bool(((plane.confidence > 0.1) & (plane.confidence <= 1.0)).all())
    # both axes pass exactly through the clean point, u through the adversarial one as well
    assert float(np.abs(plane.u).min()) == 0.0 and float(np.abs(plane.v).min()) == 0.0
    assert float(np.abs(plane.u - dist).min()) < 1e-9 * dist
    assert plane.grid_class(0.0, 0.0) == _pred(bundled_model, x) == int(y)
    assert plane.grid_class(dist, 0.0) == _pred(bundled_model, x_adv) == int(out.pred)
    # the box holds the three points with at least half ‖δ‖ to spare on each side
    for pu, pv in plane.points.values():
        assert plane.u.min() <= pu - 0.5 * dist + 1e-9 and plane.u.max() >= pu + 0.5 * dist - 1e-9
        assert plane.v.min() <= pv - 0.5 * dist + 1e-9 and plane.v.max() >= pv + 0.5 * dist - 1e-9
    assert 0.0 < plane.clamped_share <= 1.0  # a sign direction of size ‖δ‖∞ leaves the image box
    assert plane.third_name == "a random direction" and plane.path is None and plane.crossing() is None


def test_paths_project_onto_the_plane(bundled_model, attacked):
    x, _, out = attacked
    x_adv = out.x_adv
    third = random_third(x, x_adv, seed=2)
    segment = torch.stack([x[0] + t * (x_adv[0] - x[0]) for t in np.linspace(0.0, 1.0, 11)])
    plane = decision_plane(bundled_model, x, x_adv, third, path=segment, grid=21, third_name="noise")
    dist = plane.points["adversarial"][0]
    assert plane.path.shape == (11, 2) and plane.path_off_plane.shape == (11,)
    assert np.allclose(plane.path[0], (0.0, 0.0), atol=1e-6)
    assert np.allclose(plane.path[-1], (dist, 0.0), atol=1e-5)
    assert np.allclose(plane.path[:, 0], np.linspace(0.0, dist, 11), atol=1e-5)
    assert float(plane.path_off_plane.max()) < 1e-5
    assert plane.crossing() is not None and 0 < plane.crossing() <= 10

    # the third point lies on the plane at its stated coordinates
    on = decision_plane(bundled_model, x, x_adv, third, path=third, grid=21)
    assert np.allclose(on.path[0], on.points["third"], atol=1e-5) and float(on.path_off_plane[0]) < 1e-5
    # a point off the plane is as far from it as its part orthogonal to both axes
    bump = third.clone()
    bump[0, 0, 0, 0] += 0.5
    off = decision_plane(bundled_model, x, x_adv, third, path=bump, grid=21)
    assert 0.0 < float(off.path_off_plane[0]) <= 0.5 + 1e-6


def test_a_successful_pgd_path_crosses_the_boundary(bundled_model, attacked):
    x, _, out = attacked
    images = out.trajectory.images[:, 0]
    plane = decision_plane(bundled_model, x, out.x_adv, path=images, grid=41)
    k = plane.crossing()
    assert k is not None, "the PGD path never left the clean class on the plane"
    step = int(out.success_step[0])
    assert len(images) == 21 and plane.path.shape == (21, 2)
    assert float(plane.path_off_plane[step]) < 1e-4  # that iterate is x_adv itself, on the plane
    assert np.allclose(plane.path[step], plane.points["adversarial"], atol=1e-4)
    assert k <= step  # the adversarial point is sampled exactly, so the path has crossed by then
    # (the random start already projects most of the way along e1: PGD's clamped noise correlates with δ)

    # without the random start the path leaves from the clean point itself and crosses on the way
    y = torch.tensor([_pred(bundled_model, x)])
    plain = make_attack("pgd", eps=0.1, steps=20, early_stop=False, random_start=False, record_trajectory=True)
    run = plain.run(bundled_model, x, y)
    assert bool(run.success[0])
    line = decision_plane(bundled_model, x, run.x_adv, path=run.trajectory.images[:, 0], grid=41)
    first = int(run.success_step[0])
    assert np.allclose(line.path[0], (0.0, 0.0)) and float(line.path_off_plane[0]) == 0.0
    assert line.crossing() is not None and 0 < line.crossing() <= first


def test_degenerate_planes_are_refused_with_a_reason(bundled_model, attacked):
    x, _, out = attacked
    with pytest.raises(ValueError, match="equals the drawing"):
        decision_plane(bundled_model, x, x.clone(), grid=5)
    delta = out.x_adv - x
    with pytest.raises(ValueError, match="pick another third point"):
        decision_plane(bundled_model, x, out.x_adv, x + 2 * delta, grid=5)
    with pytest.raises(ValueError, match="pick another third point"):
        decision_plane(bundled_model, x, out.x_adv, x.clone(), grid=5)
    with pytest.raises(ValueError):
        decision_plane(bundled_model, x, out.x_adv, grid=5, path=torch.zeros(3, 1, 14, 14))


def test_random_third_and_cancel_and_progress(bundled_model, attacked):
    x, _, out = attacked
    size = float((out.x_adv - x).abs().max())
    third = random_third(x, out.x_adv, seed=0)
    assert third.shape == x.shape and float(third.min()) >= 0.0 and float(third.max()) <= 1.0
    assert float((third - x).abs().max()) <= size + 1e-6
    assert torch.equal(third, random_third(x, out.x_adv, seed=0))
    assert not torch.equal(third, random_third(x, out.x_adv, seed=1))

    calls: list[tuple[int, int]] = []
    decision_plane(bundled_model, x, out.x_adv, grid=15, batch=100, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(100, 225), (200, 225), (225, 225)]
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        decision_plane(bundled_model, x, out.x_adv, grid=15, cancel=event)
