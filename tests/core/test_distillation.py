"""Defensive distillation: soft labels are distributions, the two stages run in order and cancel, and on real
data the student resists FGSM only by masking its gradient: FGSM through logits / T, and C&W, break it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from advstudio.core.attacks.fgsm import FGSM
from advstudio.core.attacks.l2 import CW
from advstudio.core.data import MnistSplit
from advstudio.core.defenses.distillation import distill, distillation_recipe, soft_labels, train_at_temperature
from advstudio.core.errors import TrainingCancelled
from advstudio.core.evaluation.defense import TemperatureScaled
from advstudio.core.model import MnistCNN
from advstudio.core.training import train
from advstudio.core.training_config import TrainConfig


def _synthetic(n: int = 96) -> MnistSplit:
    g = torch.Generator().manual_seed(0)
    return MnistSplit(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g), Path("."))


def test_soft_labels_are_distributions_that_flatten_with_temperature():
    torch.manual_seed(0)
    teacher = MnistCNN()
    x = torch.rand(8, 1, 28, 28)
    p1, p20 = soft_labels(teacher, x, 1.0), soft_labels(teacher, x, 20.0)
    assert torch.allclose(p20.sum(1), torch.ones(8), atol=1e-5)
    assert torch.equal(p1.argmax(1), p20.argmax(1))
    assert float(p20.max(1).values.mean()) < float(p1.max(1).values.mean())
    assert teacher.training  # mode restored


def test_stages_run_in_order_and_the_recipe_names_the_temperature():
    data = _synthetic()
    cfg = TrainConfig(epochs=1, batch_size=48, report_every=1)
    stages = [stage for stage, _ in distill(MnistCNN(), MnistCNN(), data, data.head(32), cfg, temperature=10.0)]
    first_student = stages.index("student")
    assert stages[0] == "teacher" and set(stages[first_student:]) == {"student"}
    recipe = distillation_recipe(cfg, 10.0)
    assert recipe["temperature"] == 10.0 and recipe["defense"] == "defensive_distillation"


def test_bad_settings_and_cancel():
    data = _synthetic()
    with pytest.raises(ValueError):
        next(train_at_temperature(MnistCNN(), data, None, TrainConfig(), temperature=0.0))
    with pytest.raises(ValueError):
        next(train_at_temperature(MnistCNN(), data, None, TrainConfig(adversarial="fgsm_rs")))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TrainingCancelled):
        next(distill(MnistCNN(), MnistCNN(), data, None, TrainConfig(), 10.0, cancel=cancel))


def test_distillation_masks_the_gradient_and_cw_breaks_it(mnist_train, mnist_test):
    """Measured on this subset (2000 training images, 1 epoch each, lr 3e-3, T = 20; 200 test images), seeds 0
    and 1: FGSM ε = 0.3 leaves the standard model 21.5–24 % and the student 34–34.5 % (with lower clean
    accuracy, 65–72 % against 93 %); FGSM on logits / T drops the student to 10–13.5 %; C&W (50 steps, 3 rounds)
    fools 94–97 % of the student's correct images at median L2 2.25–2.53 against 2.18–2.46 for the standard one
    (on the 30 images used here: 3.0 against 1.96).
    The full-data run (60k, 2 epochs, T = 100) is in the issue's note."""
    cfg = TrainConfig(epochs=1, limit=2000, lr=3e-3, report_every=10**9, seed=0)
    torch.manual_seed(0)
    base = MnistCNN()
    for _ in train(base, mnist_train, None, cfg):
        pass
    torch.manual_seed(0)
    teacher, student = MnistCNN(), MnistCNN()
    for _ in distill(teacher, student, mnist_train, None, cfg, temperature=20.0):
        pass
    base.eval(), student.eval()
    test = mnist_test.head(200)
    x, y = test.images, test.labels
    with torch.no_grad():
        assert float(student(x).std()) > 5 * float(base(x).std())  # logits about T times larger
    fgsm_base = FGSM(0.3).run(base, x, y).accuracy()
    fgsm_student = FGSM(0.3).run(student, x, y).accuracy()
    assert fgsm_student > fgsm_base + 0.05, (fgsm_base, fgsm_student)  # the apparent robustness
    x_t = FGSM(0.3).run(TemperatureScaled(student, 20.0), x, y).x_adv
    with torch.no_grad():
        fgsm_t = float((student(x_t).argmax(1) == y).float().mean())
    assert fgsm_t < fgsm_student - 0.1, (fgsm_student, fgsm_t)  # gone once the softmax is unsaturated
    cw = CW(steps=50, binary_search_steps=3)
    medians = []
    for m in (base, student):
        out = cw.run(m, x[:30], y[:30])
        ok = out.clean_pred == y[:30]
        assert float(out.success[ok].float().mean()) > 0.85
        medians.append(float(out.l2[ok & out.success].median()))
    # C&W needs small perturbations on the student too (FGSM at ε = 0.3 moves an image by ‖δ‖₂ ≈ 6–8)
    assert medians[1] < 2 * medians[0] and medians[1] < 4.0, medians
