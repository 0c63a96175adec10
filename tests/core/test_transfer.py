"""The transfer matrix (core.evaluation.transfer): its diagonal is the attack's own white-box success, off the
diagonal each cell re-judges the same examples on another model, the counts add up, a PGD-trained model resists
examples made on a standard one, and cancel, targets and minimal-size attacks behave as documented."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from advstudio.core.attacks import make_attack
from advstudio.core.errors import EvaluationCancelled
from advstudio.core.evaluation.transfer import distinct_names, transfer_matrix

N = 120
BATCH = 50  # three batches, the last one short


@pytest.fixture(scope="module")
def data(mnist_test):
    return mnist_test.images[:N], mnist_test.labels[:N]


def _white_box(model, attack, images, labels, batch=BATCH) -> tuple[int, int]:
    """(fooled, right when clean) of a direct run of the attack, batch by batch as the matrix runs it."""
    fooled = right = 0
    for s in range(0, len(labels), batch):
        x, y = images[s : s + batch], labels[s : s + batch]
        with torch.no_grad():
            ok = model(x).argmax(1) == y
        out = attack.run(model, x, y)
        fooled += int((out.success & ok).sum())
        right += int(ok.sum())
    return fooled, right


def test_the_diagonal_is_the_white_box_success_and_pgd_from_a_standard_model_barely_moves_a_robust_one(
        bundled_model, robust, data):
    images, labels = data
    settings = {"steps": 10}
    m = transfer_matrix([bundled_model, robust], ["standard", "robust"], images, labels, "pgd", 0.3, settings,
                        batch_size=BATCH)
    for i, model in enumerate((bundled_model, robust)):
        fooled, right = _white_box(model, make_attack("pgd", eps=0.3, **settings), images, labels)
        assert m.counts[i][i] == fooled and m.judged[i] == right
        assert m.success[i][i] == pytest.approx(fooled / right)
    assert m.white_box == (m.success[0][0], m.success[1][1])
    assert m.success[0][0] > 0.95  # white-box PGD at ε = 0.3 breaks the standard CNN
    assert m.success[0][1] < 0.2 and m.success[0][1] < m.success[0][0] - 0.7  # ... and transfers poorly
    assert m.eps == 0.3 and m.n == N and m.params["steps"] == 10 and m.params["eps"] == 0.3
    assert m.params["targeted"] is False and m.params["batch_size"] == BATCH
    assert "PGD" in m.describe() and "ε = 0.3" in m.describe() and f"n = {N}" in m.describe()


def test_off_diagonal_cells_rejudge_the_same_examples_and_the_counts_add_up(bundled_model, robust, data):
    images, labels = data
    m = transfer_matrix([bundled_model, robust], ["standard", "robust"], images, labels, "fgsm", 0.25,
                        batch_size=BATCH)
    out = make_attack("fgsm", eps=0.25).run(bundled_model, images, labels)  # FGSM is deterministic
    with torch.no_grad():
        robust_clean = robust(images).argmax(1) == labels
        robust_adv = robust(out.x_adv).argmax(1) != labels
        standard_clean = bundled_model(images).argmax(1) == labels
    assert m.judged == (int(standard_clean.sum()), int(robust_clean.sum()))
    assert m.counts[0][1] == int((robust_adv & robust_clean).sum())
    for i in range(2):
        for j in range(2):
            assert 0 <= m.counts[i][j] <= m.judged[j]
            assert m.success[i][j] == pytest.approx(m.counts[i][j] / m.judged[j])
    assert m.clean_accuracy == pytest.approx((m.judged[0] / N, m.judged[1] / N))
    assert m.sizes[0]["fooled"] == m.counts[0][0] and m.sizes[0]["mean_linf"] == pytest.approx(0.25, abs=1e-5)
    doc = json.loads(json.dumps(m.to_json()))
    assert doc["models"] == ["standard", "robust"] and doc["rows"] == "crafted on" and doc["columns"] == "judged by"
    assert doc["fooled"] == [list(r) for r in m.counts] and doc["judged"] == list(m.judged)
    assert doc["white_box"] == list(m.white_box) and doc["params"]["steps"] == 1


def test_a_model_judging_its_own_examples_as_a_second_column_sees_the_white_box_figure(bundled_model, data):
    images, labels = data
    same = transfer_matrix([bundled_model, bundled_model], ["a", "b"], images[:60], labels[:60], "fgsm", 0.15)
    assert same.counts[0][1] == pytest.approx(same.counts[0][0], abs=1)  # the same weights: float rounding only
    assert same.success[1][0] == pytest.approx(same.success[0][0], abs=1 / same.judged[0] + 1e-9)


def test_cancel_raises_before_and_during_a_run(bundled_model, robust, data):
    images, labels = data
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EvaluationCancelled):
        transfer_matrix([bundled_model, robust], ["a", "b"], images, labels, "fgsm", 0.1, cancel=cancel)
    cancel = threading.Event()
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        cancel.set()  # after the first batch

    with pytest.raises(EvaluationCancelled):
        transfer_matrix([bundled_model, robust], ["a", "b"], images, labels, "pgd", 0.3, {"steps": 5},
                        batch_size=BATCH, progress=progress, cancel=cancel)
    assert seen == [(BATCH, 2 * N)]


def test_targets_and_budgets_are_refused_as_documented(bundled_model, robust, data):
    images, labels = data
    models, names = [bundled_model, robust], ["a", "b"]
    with pytest.raises(ValueError, match="untargeted"):
        transfer_matrix(models, names, images, labels, "pgd", 0.3, {"targeted": True})
    with pytest.raises(ValueError, match="takes no ε"):
        transfer_matrix(models, names, images, labels, "deepfool", 0.3)
    with pytest.raises(ValueError, match="needs an ε"):
        transfer_matrix(models, names, images, labels, "pgd", None)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        transfer_matrix(models, names, images, labels, "fgsm", 1.5)
    with pytest.raises(ValueError, match="names"):
        transfer_matrix(models, ["only one"], images, labels, "fgsm", 0.1)
    with pytest.raises(ValueError, match="unknown attack"):
        transfer_matrix(models, names, images, labels, "nope", 0.1)


def test_a_minimal_size_attack_runs_with_its_own_settings_and_reports_its_size(bundled_model, robust, data):
    images, labels = data
    m = transfer_matrix([bundled_model, robust], ["a", "b"], images[:40], labels[:40], "deepfool", None,
                        {"steps": 25})
    assert m.eps is None and "eps" not in m.params and m.params["steps"] == 25 and m.params["eps_norm"] == "l2"
    assert m.success[0][0] > 0.9  # DeepFool nearly always reaches the standard model's boundary
    assert m.success[0][1] < 0.3  # a change just past that boundary rarely fools the robust model
    assert 0.1 < m.sizes[0]["mean_l2"] < 4.0 and "no ε" in m.describe()
    assert m.to_json()["eps"] is None


def test_distinct_names():
    assert distinct_names(["A", "B", "A"]) == ["A (1)", "B", "A (2)"]
    assert distinct_names(["A", "B"]) == ["A", "B"]
