"""The Training tab's Architecture menu: each architecture trains a few batches on a tiny synthetic MNIST (no
MNIST bytes), is saved with its architecture in the metadata and loads back as that network; the default file
name follows the menu; a checkpoint of another architecture is not resumed; and an MLP made the current model
has no feature maps, which the Activations dock says."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from qt_helpers import draw_digit

from advstudio.core.architecture_names import ARCHITECTURE_NAMES, ARCHITECTURE_TIPS, ARCHITECTURE_TITLES
from advstudio.gui.features.training.messages import TrainProblem, TrainResult


@pytest.fixture
def tiny_mnist(tmp_path, write_idx, synthetic_mnist):
    folder = tmp_path / "tiny-mnist"
    write_idx(folder, "train", *synthetic_mnist(48, seed=1))
    write_idx(folder, "test", *synthetic_mnist(16, seed=2))
    return folder


def _run(qtbot, t, timeout: int = 60000):
    with qtbot.waitSignal(t.trainingFinished, timeout=timeout) as blocker:
        assert t.start() is not None
    return blocker.args[0]


def _quick(p) -> None:
    p.set_method(None)
    p.limit.setValue(0)  # all 48
    p.epochs.setValue(1)
    p.batch_size.setValue(16)
    p.eval_limit.setValue(0)  # all 16


def test_the_menu_offers_every_architecture_in_plain_words(window):
    p = window.training.panel
    combo = p.arch
    assert [combo.itemData(i) for i in range(combo.count())] == list(ARCHITECTURE_NAMES)
    assert [combo.itemText(i) for i in range(combo.count())] == list(ARCHITECTURE_TITLES.values())
    for i in range(combo.count()):
        assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole) == ARCHITECTURE_TIPS[combo.itemData(i)]
    assert p.architecture() == "MnistCNN" and combo.toolTip() and combo.whatsThis()
    assert window.training.panel.output_path().endswith("mnist_cnn_standard.safetensors")
    p.method_box.set_architecture("LeNet5")
    assert p.output_path().endswith("lenet5_standard.safetensors")  # the default file follows the menu
    p.set_method("pgd")
    assert p.output_path().endswith("lenet5_pgd.safetensors")
    with pytest.raises(ValueError, match="unknown architecture"):
        p.method_box.set_architecture("ResNet50")
    p.set_running(True)
    assert not combo.isEnabled()
    p.set_running(False)
    assert combo.isEnabled()


def test_each_architecture_trains_saves_and_loads_back(qtbot, make_window, tmp_path, tiny_mnist):
    from advstudio.core.attacks.registry import make_attack
    from advstudio.core.model import ARCHITECTURES
    from advstudio.core.storage import load_model

    window = make_window(data_dir=str(tiny_mnist))
    t = window.training
    p = t.panel
    _quick(p)
    for arch in ARCHITECTURE_NAMES:
        p.method_box.set_architecture(arch)
        out = tmp_path / f"{arch}.safetensors"
        t.set_output(out)
        r = _run(qtbot, t)
        assert isinstance(r, TrainResult), (arch, r)
        assert r.metadata["architecture"] == arch and r.metadata["train_samples"] == 48
        model, meta = load_model(out)
        assert type(model) is ARCHITECTURES[arch] and meta["architecture"] == arch
        assert meta["fgsm_curve"]["n"] == 16
        xt = torch.from_numpy(np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32))
        with torch.no_grad():
            y = model(xt).argmax(1)
        adv = make_attack("fgsm", eps=0.1).run(model, xt, y)
        assert float((adv.x_adv - xt).abs().max()) == pytest.approx(0.1, abs=1e-6)
    # defensive distillation trains teacher and student of the chosen architecture
    p.method_box.set_architecture("LeNet5")
    p.set_method("distillation")
    t.set_output(tmp_path / "student.safetensors")
    r = _run(qtbot, t)
    assert isinstance(r, TrainResult) and r.temperature is not None, r
    student, meta = load_model(r.path)
    assert type(student) is ARCHITECTURES["LeNet5"] and meta["architecture"] == "LeNet5"
    assert r.metadata["architecture"] == "LeNet5" and meta["recipe"]["role"] == "student"
    p.set_method(None)
    # a checkpoint of another architecture is not resumed: the reason, in plain words
    p.method_box.set_architecture("MLP")
    t.set_output(tmp_path / f"{ARCHITECTURE_NAMES[-1]}.safetensors")  # the SmallCNN run's checkpoint
    p.epochs.setValue(2)
    p.resume.setChecked(True)
    bad = _run(qtbot, t)
    assert isinstance(bad, TrainProblem), bad
    assert "(“TRADES SmallCNN”, not “Two-layer MLP”)" in bad.message and "untick Resume" in bad.message


def test_an_mlp_as_current_model_shows_layers_but_no_feature_maps(qtbot, make_window, tmp_path, tiny_mnist):
    from advstudio.gui.features.activations.feature_maps import NO_MAPS

    window = make_window(data_dir=str(tiny_mnist))
    t, dock = window.training, window.activations
    _quick(t.panel)
    for arch, layers, maps in (("MLP", ["relu1"], []), ("LeNet5", ["relu1", "relu2", "relu3", "relu4"],
                                                         ["relu1", "relu2"])):
        t.panel.method_box.set_architecture(arch)
        t.set_output(tmp_path / f"{arch}.safetensors")
        assert isinstance(_run(qtbot, t), TrainResult)
        with qtbot.waitSignal(window.ctx.modelReady, timeout=20000):
            t.use_as_current()
        draw_digit(qtbot, window, 3)

        def answered(expected=layers) -> None:
            d = dock.data
            assert d is not None and list(d.comparison.clean.names) == expected
            assert np.array_equal(d.image, window.ctx.current_input)

        qtbot.waitUntil(answered, timeout=30000)
        dock.panel.flush()
        panel = dock.panel
        assert list(panel.histograms.curves) == layers and panel.columns == layers
        fm = panel.feature_maps
        assert list(fm.displayed) == maps and list(fm.images) == maps
        if maps:
            assert fm.note.text() != NO_MAPS
        else:
            assert fm.note.text() == NO_MAPS
