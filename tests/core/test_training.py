"""Training: learns on a small subset, reports progress a GUI can show, cancels between batches, and is
reproducible from its seed."""

from __future__ import annotations

import threading

import pytest
import torch

from advstudio.core.data import MnistSplit
from advstudio.core.errors import DatasetError, TrainingCancelled
from advstudio.core.model import MnistCNN
from advstudio.core.training import accuracy, train
from advstudio.core.training_config import TrainConfig
from advstudio.core.types import Progress


def _fresh(seed: int = 0) -> MnistCNN:
    torch.manual_seed(seed)
    return MnistCNN()


@pytest.fixture(scope="module")
def toy() -> MnistSplit:
    """A synthetic, learnable task (no MNIST): class k is a bright bar in row band k."""
    g = torch.Generator().manual_seed(0)
    n = 640
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.rand(n, 1, 28, 28, generator=g) * 0.3
    for i, k in enumerate(labels.tolist()):
        images[i, 0, 2 + 2 * k : 4 + 2 * k, 4:24] = 1.0
    return MnistSplit(images.contiguous(), labels, source=None)  # type: ignore[arg-type]


def test_recipe_defaults_are_the_articles():
    cfg = TrainConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.lr) == (5, 64, 1e-3)
    assert cfg.recipe()["optimizer"] == "Adam" and cfg.recipe()["shuffle"] is True
    assert cfg.recipe()["loss"] == "cross_entropy"


def test_progress_reports(toy):
    cfg = TrainConfig(epochs=2, batch_size=64, report_every=3, limit=320)
    calls = []
    reports = list(train(_fresh(), toy, toy, cfg, between_batches=lambda: calls.append(1)))
    assert all(isinstance(r, Progress) for r in reports)
    assert len(calls) == 2 * 5  # once per batch: 320 samples / 64 = 5 batches, 2 epochs
    # every 3rd batch and the last of each epoch
    assert [(r.epoch, r.batch) for r in reports] == [(1, 3), (1, 5), (2, 3), (2, 5)]
    assert all(r.batches == 5 and r.epochs == 2 for r in reports)
    assert all(r.samples_per_s > 0 for r in reports)
    etas = [r.eta_s for r in reports]
    # the ETA is remaining batches × measured time per batch: it ends at 0 and falls overall (timing jitter on a
    # busy machine may nudge single reports up, so compare halves rather than neighbours)
    half = len(etas) // 2
    assert etas[0] > 0 and etas[-1] == 0.0 and max(etas[half:]) < max(etas[:half])
    assert [r.test_accuracy is not None for r in reports] == [False, True, False, True]
    assert [r.done for r in reports] == [False, False, False, True]
    assert [h["epoch"] for h in reports[-1].history] == [1, 2]
    assert all(0.0 <= r.accuracy <= 1.0 and r.loss > 0 for r in reports)
    assert reports[-1].history[-1]["test_accuracy"] == reports[-1].test_accuracy
    assert all(r.robust_accuracy is None for r in reports)  # standard training: no robust readout


def test_cancel_between_batches(toy):
    cancel = threading.Event()
    model = _fresh()
    seen = []
    gen = train(model, toy, None, TrainConfig(epochs=3, report_every=1), cancel=cancel)
    with pytest.raises(TrainingCancelled, match="epoch 1, batch 2"):
        for prog in gen:
            seen.append(prog.batch)
            if prog.batch == 2:
                cancel.set()
    assert seen == [1, 2]


def test_cancel_before_start_changes_nothing(toy):
    cancel = threading.Event()
    cancel.set()
    model = _fresh()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingCancelled):
        list(train(model, toy, None, TrainConfig(epochs=1), cancel=cancel))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_same_seed_same_weights_other_seed_other_weights(toy):
    def run(seed: int) -> dict:
        model = _fresh(0)
        list(train(model, toy, None, TrainConfig(epochs=1, seed=seed, limit=256)))
        return model.state_dict()

    a, b, c = run(7), run(7), run(8)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_learns_a_toy_task_and_ends_in_eval_mode(toy):
    model = _fresh()
    last = list(train(model, toy, toy, TrainConfig(epochs=2)))[-1]
    assert last.done and last.test_accuracy is not None and last.test_accuracy > 0.9
    assert not model.training
    assert accuracy(model, toy.images, toy.labels) == last.test_accuracy


def test_empty_training_set_is_an_error():
    empty = MnistSplit(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long), source=None)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="no training samples"):
        list(train(_fresh(), empty, None, TrainConfig(epochs=1)))


def test_accuracy_restores_mode(toy):
    model = _fresh()
    model.train()
    acc = accuracy(model, toy.images[:50], toy.labels[:50])
    assert 0.0 <= acc <= 1.0 and model.training


def test_a_few_hundred_steps_on_mnist_beat_chance_by_far(mnist_train, mnist_test):
    """3,200 samples × 4 epochs = 200 steps of the article's recipe; judged on 2,000 held-out test images."""
    model = _fresh()
    cfg = TrainConfig(epochs=4, limit=3200, eval_limit=2000, seed=0)
    reports = list(train(model, mnist_train, mnist_test, cfg))
    assert sum(1 for r in reports if r.test_accuracy is not None) == 4
    final = reports[-1].test_accuracy
    assert final is not None and final > 0.9  # chance is 0.1
    held_out = mnist_test.images[-2000:], mnist_test.labels[-2000:]  # not the images used for the epoch reports
    assert accuracy(model, *held_out) > 0.9


def test_cosine_schedule_decays_to_zero_and_constant_stays():
    cos = TrainConfig(epochs=4, lr=1e-3, lr_schedule="cosine")
    assert cos.lr_at(1, 0.0) == pytest.approx(1e-3)
    assert cos.lr_at(3, 0.0) == pytest.approx(5e-4)  # halfway through 4 epochs
    assert cos.lr_at(4, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert all(cos.lr_at(e, 0.5) > cos.lr_at(e + 1, 0.5) for e in range(1, 4))
    assert TrainConfig(epochs=4, lr=1e-3).lr_at(4, 0.9) == 1e-3
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(lr_schedule="step")


def test_cosine_schedule_is_applied_to_the_optimizer(toy, monkeypatch):
    seen: list[float] = []
    real_step = torch.optim.Adam.step

    def spy(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    cfg = TrainConfig(epochs=2, batch_size=64, lr=1e-3, lr_schedule="cosine", report_every=100)
    list(train(_fresh(), toy, None, cfg))
    assert len(seen) == 20 and seen[0] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(seen, seen[1:]))  # strictly decreasing, batch by batch
    assert seen[-1] < 0.05e-3
