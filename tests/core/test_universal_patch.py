"""Input-agnostic attacks: a universal perturbation (one δ for every image) and an adversarial patch (one square
for every image, anywhere): their budgets hold, they fool unseen test images far more than chance, the files
they are saved in round-trip and hostile files are refused; `advstudio universal` and `advstudio patch`."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from advstudio.core.errors import AttackCancelled, ModelFileError
from advstudio.core.patch import (
    load_patch,
    paste,
    patch_success_rate,
    random_positions,
    save_patch,
    train_patch,
)
from advstudio.core.universal import fooling_rate, load_universal, save_universal, universal_perturbation


@pytest.fixture(scope="module")
def standard():
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model

    model, _ = load_model(bundled_model_path())
    return model.eval()


def test_paste_replaces_exactly_the_covered_pixels_and_passes_gradients():
    x = torch.rand(3, 1, 28, 28)
    patch = torch.full((4, 4), 0.25, requires_grad=True)
    pos = torch.tensor([[0, 0], [10, 20], [24, 24]])
    out = paste(x, patch, pos)
    for i, (r, c) in enumerate(pos.tolist()):
        assert torch.all(out[i, 0, r : r + 4, c : c + 4] == 0.25)
        mask = torch.ones(28, 28, dtype=torch.bool)
        mask[r : r + 4, c : c + 4] = False
        assert torch.equal(out[i, 0][mask], x[i, 0][mask])
    (g,) = torch.autograd.grad(out.sum(), patch)
    assert torch.all(g == 3)  # each patch pixel lands once in each of the three images
    pos = random_positions(500, 6, generator=torch.Generator().manual_seed(0))
    assert pos.min() >= 0 and pos.max() <= 22


def test_a_trained_patch_turns_unseen_digits_into_its_target(standard, mnist_train, mnist_test):
    x, y = mnist_test.images[:400], mnist_test.labels[:400]
    before = {k: p.detach().clone() for k, p in standard.named_parameters()}
    a = train_patch(standard, mnist_train.images[:3000], target=8, side=12, steps=150, lr=0.1, report_every=50)
    assert a.patch.shape == (12, 12) and a.patch.min() >= 0.0 and a.patch.max() <= 1.0
    assert len(a.history) == 3 and a.settings["placement"].startswith("uniformly random")
    random_place = patch_success_rate(standard, x, y, a.patch, 8)
    centre = patch_success_rate(standard, x, y, a.patch, 8, positions=torch.tensor([8, 8]))
    noise = patch_success_rate(standard, x, y, np.random.default_rng(0).random((12, 12)), 8)
    assert centre > 0.5 and random_place > noise + 0.15, (centre, random_place, noise)
    assert all(torch.equal(p, before[k]) and p.grad is None for k, p in standard.named_parameters())


def test_patch_settings_and_cancel(standard, mnist_train):
    for bad in ({"target": 10}, {"side": 0}, {"side": 21}, {"steps": 0}, {"lr": 0}):
        kwargs = {"target": 3, **bad}
        with pytest.raises(ValueError):
            train_patch(standard, mnist_train.images[:10], **kwargs)
    stop = threading.Event()
    stop.set()
    with pytest.raises(AttackCancelled):
        train_patch(standard, mnist_train.images[:10], 3, side=4, steps=5, cancel=stop)


def test_a_universal_perturbation_fools_unseen_digits_within_its_budget(standard, mnist_train, mnist_test):
    u = universal_perturbation(standard, mnist_train.images[:600], 0.3, max_passes=4, seed=0)
    assert u.v.shape == (28, 28) and np.abs(u.v).max() <= 0.3 + 1e-6
    assert u.passes == len(u.history) <= 4 and u.settings["method"] == "sgd"
    test_rate = fooling_rate(standard, mnist_test.images[:500], u.v)
    noise = np.sign(np.random.default_rng(0).standard_normal((28, 28))).astype(np.float32) * 0.3
    assert test_rate > 0.3 and test_rate > fooling_rate(standard, mnist_test.images[:500], noise) + 0.2
    again = universal_perturbation(standard, mnist_train.images[:600], 0.3, max_passes=4, seed=0)
    assert np.array_equal(u.v, again.v)  # seeded
    small = universal_perturbation(standard, mnist_train.images[:600], 0.05, max_passes=2, seed=0)
    assert fooling_rate(standard, mnist_test.images[:500], small.v) < test_rate  # a smaller ball fools fewer


def test_the_papers_deepfool_method_also_runs(standard, mnist_train):
    u = universal_perturbation(standard, mnist_train.images[:64], 0.3, max_passes=1, method="deepfool")
    assert np.abs(u.v).max() <= 0.3 + 1e-6 and np.abs(u.v).max() > 0.1
    assert u.settings["method"] == "deepfool" and "overshoot" in u.settings
    with pytest.raises(ValueError):
        universal_perturbation(standard, mnist_train.images[:8], 0.3, method="magic")
    with pytest.raises(ValueError):
        universal_perturbation(standard, mnist_train.images[:8], 0.0)


def test_saved_files_round_trip_and_hostile_files_are_refused(tmp_path, standard, mnist_train):
    from advstudio.core.resources import bundled_model_path

    u = universal_perturbation(standard, mnist_train.images[:50], 0.2, max_passes=1)
    path = save_universal(u, tmp_path / "uap")
    assert path.suffix == ".safetensors"
    back = load_universal(path)
    assert np.array_equal(back.v, u.v) and back.eps == 0.2 and back.history == u.history
    a = train_patch(standard, mnist_train.images[:50], 5, side=6, steps=3)
    p = save_patch(a, tmp_path / "patch.safetensors")
    again = load_patch(p)
    assert np.array_equal(again.patch, a.patch) and (again.target, again.side) == (5, 6)
    pickle = tmp_path / "evil.safetensors"
    pickle.write_bytes(b"\x80\x04\x95" + b"cos\nsystem\n" * 10)
    for bad in (pickle, bundled_model_path(), p):  # a pickle, a model, a patch given as a perturbation
        with pytest.raises(ModelFileError):
            load_universal(bad)
    for bad in (pickle, bundled_model_path(), path, tmp_path / "missing.safetensors"):
        with pytest.raises(ModelFileError):
            load_patch(bad)
    # a perturbation larger than the ε it claims is damaged, not trusted
    from safetensors.torch import save

    meta = {**u.metadata(), "eps": 0.01}
    forged = tmp_path / "forged.safetensors"
    forged.write_bytes(save({"v": torch.from_numpy(u.v)}, metadata={"advstudio": json.dumps(meta)}))
    with pytest.raises(ModelFileError, match="larger than its ε"):
        load_universal(forged)


def test_the_universal_and_patch_commands(capsys, tmp_path, mnist_dir):
    from advstudio.cli import main

    out_json = tmp_path / "u.json"
    rc = main(["universal", "--data", str(mnist_dir), "--eps", "0.3", "--images", "200", "--passes", "2",
               "--limit", "200", "--out", str(tmp_path / "u.safetensors"), "--json-out", str(out_json)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "universal perturbation (sgd), L∞" in out and "fooling rate = share of images" in out
    doc = json.loads(out_json.read_text())
    (row,) = doc["results"]
    assert row["eps"] == 0.3 and row["test_images"] == 200 and 0.0 <= row["test_fooling_rate"] <= 1.0
    assert load_universal(row["path"]).eps == 0.3
    rc = main(["patch", "--data", str(mnist_dir), "--target", "8", "--sides", "4,6", "--steps", "5",
               "--images", "200", "--limit", "100", "--out", str(tmp_path / "p.safetensors")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "adversarial patch toward class 8" in out
    assert (tmp_path / "p-side4.safetensors").is_file() and load_patch(tmp_path / "p-side6.safetensors").side == 6
    assert main(["patch", "--data", str(mnist_dir), "--target", "8", "--sides", "4,x"]) == 2
    assert "--sides" in capsys.readouterr().err
