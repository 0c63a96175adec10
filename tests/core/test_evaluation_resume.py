"""A long evaluation resumes after its last finished batch and gives the curve an uninterrupted run gives; a
checkpoint from another run, or a damaged one, is refused with a message."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from advstudio.core.errors import EvaluationCancelled
from advstudio.core.evaluation.lab import attack_curve
from advstudio.core.evaluation.resume import CheckpointMismatch, EvaluationCheckpoint, fingerprint
from advstudio.core.model import MnistCNN


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = MnistCNN().eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 1, 28, 28, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)  # every point starts correct, so the attack has work on each batch
    return model, x, y


def _checkpoint(path, model, x, y, attack="pgd"):
    return EvaluationCheckpoint(path, {"attack": attack, **fingerprint(model, x, y)})


@pytest.mark.parametrize("attack,settings", [("pgd", {"steps": 3}), ("autoattack", {"budget": 0.02})])
def test_an_interrupted_run_resumes_to_the_uninterrupted_curve(setup, tmp_path, attack, settings):
    model, x, y = setup
    whole = attack_curve(model, x, y, attack, [0.0, 0.05], settings, batch_size=4)
    path = tmp_path / "ck.json"
    cancel = threading.Event()
    with pytest.raises(EvaluationCancelled):
        attack_curve(model, x, y, attack, [0.0, 0.05], settings, batch_size=4, cancel=cancel,
                     progress=lambda done, total: cancel.set(), checkpoint=_checkpoint(path, model, x, y, attack))
    assert json.loads(path.read_text())["tally"]["batches_done"] == 1
    resumed = attack_curve(model, x, y, attack, [0.0, 0.05], settings, batch_size=4,
                           checkpoint=_checkpoint(path, model, x, y, attack))
    assert resumed.extra["resumed_after_batches"] == 1
    assert resumed.accuracy == whole.accuracy and resumed.clean_accuracy == whole.clean_accuracy
    assert resumed.extra.get("breakdown") == whole.extra.get("breakdown")
    assert json.loads(path.read_text())["tally"]["batches_done"] == 3


def test_a_checkpoint_of_another_model_or_other_images_is_refused(setup, tmp_path):
    model, x, y = setup
    path = tmp_path / "ck.json"
    attack_curve(model, x, y, "pgd", [0.05], {"steps": 1}, batch_size=6, checkpoint=_checkpoint(path, model, x, y))
    other = MnistCNN().eval()
    with pytest.raises(CheckpointMismatch, match="weights"):
        attack_curve(other, x, y, "pgd", [0.05], {"steps": 1}, batch_size=6,
                     checkpoint=_checkpoint(path, other, x, y))
    with pytest.raises(CheckpointMismatch, match="data"):
        attack_curve(model, x.flip(0), y.flip(0), "pgd", [0.05], {"steps": 1}, batch_size=6,
                     checkpoint=_checkpoint(path, model, x.flip(0), y.flip(0)))


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"advstudio_evaluation_checkpoint": 2}',
                                  "[" * 100000, '{"advstudio_evaluation_checkpoint": 1, "tally": {}}'])
def test_damaged_checkpoints_are_refused_not_raised_raw(setup, tmp_path, text):
    model, x, y = setup
    path = tmp_path / "ck.json"
    path.write_text(text)
    with pytest.raises(CheckpointMismatch):
        _checkpoint(path, model, x, y).load(1, 3)


def test_a_tally_with_wrong_counts_is_refused(setup, tmp_path):
    model, x, y = setup
    path = tmp_path / "ck.json"
    ck = _checkpoint(path, model, x, y)
    attack_curve(model, x, y, "pgd", [0.05], {"steps": 1}, batch_size=6, checkpoint=ck)
    doc = json.loads(path.read_text())
    for key, bad in [("batches_done", 99), ("correct", [1, 2]), ("clean_correct", -1), ("evals", True),
                     ("seconds_before", "soon"), ("breakdowns", {"7": {}})]:
        broken = json.loads(json.dumps(doc))
        broken["tally"][key] = bad
        path.write_text(json.dumps(broken))
        with pytest.raises(CheckpointMismatch):
            ck.load(1, 2)


def test_an_ensembles_breakdown_is_shown_in_the_order_its_attacks_ran():
    from advstudio.core.attacks.common import ordered_breakdown

    stored = {"apgd-ce": 820, "apgd-t": 51, "clean": 110, "fab-t": 3, "square": 58}  # a checkpoint sorts its keys
    assert list(ordered_breakdown(stored)) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert ordered_breakdown(stored) == stored and ordered_breakdown(None) is None
    assert list(ordered_breakdown({"zz": 1, "square": 2, "clean": 0})) == ["clean", "square", "zz"]
