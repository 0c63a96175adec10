"""The loss landscape: the orthogonal sign direction, the grid against a direct computation, the ε-diamond, a
masking defense's zero gradient against BPDA's, cancel and progress, and the standard-against-robust claim of
Tramèr et al. (2018, fig. 1) measured on real test digits."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from stroke_digits import strokes

from advstudio.core.defenses import BitDepthReduction, DefendedModel, JpegCompression
from advstudio.core.errors import Cancelled
from advstudio.core.explain.landscape import loss_landscape, sign_orthogonal


@pytest.fixture(scope="module")
def digit() -> torch.Tensor:
    return strokes(1, seed=3)


def _grad_sign(model, x, label):
    xg = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(xg), torch.tensor([label]))
    return torch.sign(torch.autograd.grad(loss, xg)[0])


# ------------------------------------------------------------------------------------------------ sign_orthogonal


def test_sign_orthogonal_is_a_reproducible_orthogonal_sign_vector():
    g = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    r = sign_orthogonal(g, seed=1)
    assert r.shape == g.shape
    assert set(torch.unique(r).tolist()) == {-1.0, 1.0}
    assert float((r * torch.sign(g)).sum()) == 0.0
    assert torch.equal(r, sign_orthogonal(g, seed=1))
    assert not torch.equal(r, sign_orthogonal(g, seed=2))
    assert not torch.equal(r.abs() * torch.sign(g), r)  # not sign(g) itself
    assert abs(float((r == torch.sign(g)).float().mean()) - 0.5) < 1e-9  # agrees on exactly half


def test_sign_orthogonal_odd_sizes_zero_entries_and_all_zero():
    g = torch.randn(3, 5, 5, generator=torch.Generator().manual_seed(0))  # 75 entries: odd
    r = sign_orthogonal(g, seed=0)
    assert int((r == 0).sum()) == 1 and int((r.abs() == 1).sum()) == 74
    assert float((r * torch.sign(g)).sum()) == 0.0

    g = torch.randn(4, 4, generator=torch.Generator().manual_seed(1))
    g[0, :3] = 0.0  # 13 nonzero signs: one of those entries becomes 0, the zeros of g get ±1
    r = sign_orthogonal(g, seed=4)
    assert int((r == 0).sum()) == 1 and bool((r[0, :3].abs() == 1).all())
    assert float((r * torch.sign(g)).sum()) == 0.0

    zero = torch.zeros(2, 7)
    r = sign_orthogonal(zero, seed=3)
    assert bool((r.abs() == 1).all()) and torch.equal(r, sign_orthogonal(zero, seed=3))
    assert not torch.equal(r, sign_orthogonal(zero, seed=4))


# ------------------------------------------------------------------------------------------------ the landscape


def test_landscape_grid_matches_a_direct_computation(bundled_model, digit):
    model = bundled_model.eval()
    land = loss_landscape(model, digit[0], eps=0.1, grid=21, seed=7)
    assert land.a.shape == land.b.shape == (21,)
    assert land.loss.shape == land.pred.shape == (21, 21)
    assert land.loss.dtype == np.float32 and land.pred.dtype == np.int64
    assert land.span == pytest.approx(0.2) and land.a[10] == 0.0 and land.b[10] == 0.0
    assert not land.gradient_zero and land.direction == "the model's own gradient"

    with torch.no_grad():
        logits = model(digit)
    clean = int(logits.argmax(1))
    assert land.clean_pred == clean and land.label == clean
    assert land.pred[10, 10] == clean
    assert land.loss[10, 10] == pytest.approx(float(F.cross_entropy(logits, torch.tensor([clean]))), rel=1e-4, abs=1e-6)

    # row i ↔ b[i], column j ↔ a[j]: rebuild two off-centre points by hand
    g = _grad_sign(model, digit, clean)
    r = sign_orthogonal(g, seed=7)
    for i, j in ((2, 17), (19, 4)):
        point = (digit + land.a[j] * g + land.b[i] * r).clamp(0, 1)
        raw_linf = float((land.a[j] * g + land.b[i] * r).abs().max())
        assert raw_linf == pytest.approx(abs(land.a[j]) + abs(land.b[i]), abs=1e-6)
        with torch.no_grad():
            out = model(point)
        assert land.loss[i, j] == pytest.approx(float(F.cross_entropy(out, torch.tensor([clean]))), rel=1e-4, abs=1e-5)
        assert land.pred[i, j] == int(out.argmax(1))


def test_in_ball_is_the_diamond_and_its_summaries(bundled_model, digit):
    land = loss_landscape(bundled_model, digit, eps=0.1, grid=21)
    inside = land.in_ball()
    expected = np.abs(land.a)[None, :] + np.abs(land.b)[:, None] <= 0.1 + 1e-9
    assert np.array_equal(inside, expected)
    assert int(inside.sum()) == 2 * 5 * 6 + 1  # step 0.02: |i| + |j| ≤ 5 on a 21×21 grid
    assert inside[10, 5] and inside[10, 15] and not inside[10, 4] and not inside[5, 5]
    assert land.flipped_share() == pytest.approx(float((land.pred[inside] != land.clean_pred).mean()))
    row = land.loss[10, 5:16]
    assert land.rise_along("a") == pytest.approx(float(row.max() - land.loss[10, 10]))
    assert land.rise_along("b") == pytest.approx(float(land.loss[5:16, 10].max() - land.loss[10, 10]))
    with pytest.raises(ValueError):
        land.rise_along("c")


def test_label_argument_and_validation(bundled_model, digit):
    other = (loss_landscape(bundled_model, digit, eps=0.1, grid=5).clean_pred + 1) % 10
    land = loss_landscape(bundled_model, digit, label=other, eps=0.1, grid=5)
    with torch.no_grad():
        expect = float(F.cross_entropy(bundled_model(digit), torch.tensor([other])))
    assert land.label == other and land.loss[2, 2] == pytest.approx(expect, rel=1e-4)
    for bad in ({"grid": 20}, {"grid": 1}, {"eps": 1.5}, {"span": 0.0}):
        with pytest.raises(ValueError):
            loss_landscape(bundled_model, digit, **{"eps": 0.1, "grid": 5, **bad})
    with pytest.raises(ValueError):
        loss_landscape(bundled_model, digit.repeat(2, 1, 1, 1), eps=0.1, grid=5)
    assert loss_landscape(bundled_model, digit, eps=0.001, grid=5).span == pytest.approx(0.05)


@pytest.mark.parametrize("transform", [JpegCompression(50), BitDepthReduction(2)], ids=["jpeg", "bit_depth"])
def test_masking_defense_has_zero_gradient_and_bpda_does_not(bundled_model, digit, transform):
    naive = DefendedModel(bundled_model, transform, adaptive=False)
    bpda = DefendedModel(bundled_model, transform, adaptive=True)
    flat = loss_landscape(naive, digit, eps=0.3, grid=11)
    assert flat.gradient_zero
    assert float(np.ptp(flat.loss, axis=1).max()) < 1e-6  # constant along a in every row
    assert flat.rise_along("a") == 0.0

    seen = loss_landscape(naive, digit, eps=0.3, grid=11, direction_model=bpda, direction_name="BPDA")
    assert not seen.gradient_zero and seen.direction == "BPDA"
    assert float(np.ptp(seen.loss, axis=1).max()) > 1e-3
    assert not loss_landscape(naive, digit, eps=0.3, grid=11, direction_model=bundled_model).gradient_zero


def test_progress_counts_up_to_the_total_and_cancel_stops(bundled_model, digit):
    calls: list[tuple[int, int]] = []
    loss_landscape(bundled_model, digit, eps=0.1, grid=21, batch=100, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(100, 441), (200, 441), (300, 441), (400, 441), (441, 441)]

    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        loss_landscape(bundled_model, digit, eps=0.1, grid=21, cancel=event)

    event.clear()
    seen: list[int] = []

    def stop_after_first(done: int, total: int) -> None:
        seen.append(done)
        event.set()

    with pytest.raises(Cancelled):
        loss_landscape(bundled_model, digit, eps=0.1, grid=21, batch=100, cancel=event, progress=stop_after_first)
    assert seen == [100]


# ------------------------------------------------------------------------------------------------ the science


def test_standard_loss_rises_along_the_gradient_far_more_than_the_robust_one(bundled_model, robust, mnist_test):
    """Tramèr et al. (2018), fig. 1: within ε = 0.3 the standard model's loss climbs along the gradient sign,
    the PGD-trained model's barely moves. Measured on the first 16 test digits, grid 21×21."""
    images = mnist_test.images[:16]
    std = np.array([loss_landscape(bundled_model, x, eps=0.3, grid=21).rise_along("a") for x in images])
    rob = np.array([loss_landscape(robust, x, eps=0.3, grid=21).rise_along("a") for x in images])
    msg = (f"mean rise of the loss along the gradient sign within ε = 0.3 over 16 test digits: standard "
           f"{std.mean():.3f} (median {np.median(std):.3f}), robust {rob.mean():.4f} (median {np.median(rob):.4f})")
    assert std.mean() > 1.0, msg
    assert std.mean() > 10 * rob.mean(), msg
    assert np.median(std) > 10 * np.median(rob) + 0.1, msg


def test_jpeg_defense_flat_for_the_naive_direction_but_broken_along_bpda(bundled_model, mnist_test):
    """A naive attacker's gradient through JPEG is zero (the landscape is flat along it); the BPDA direction of
    the same defended model finds misclassified points inside the ε-ball."""
    naive = DefendedModel(bundled_model, JpegCompression(50), adaptive=False)
    bpda = DefendedModel(bundled_model, JpegCompression(50), adaptive=True)
    flipped, plain_rise = [], []
    for x in mnist_test.images[:8]:
        flipped.append(loss_landscape(naive, x, eps=0.3, grid=21, direction_model=bpda).flipped_share())
        plain_rise.append(loss_landscape(naive, x, eps=0.3, grid=21).rise_along("a"))
    msg = f"BPDA flipped shares {np.round(flipped, 3).tolist()}, naive rises {np.round(plain_rise, 6).tolist()}"
    assert max(flipped) > 0, msg
    assert max(abs(v) for v in plain_rise) < 1e-6, msg
