"""A dataset of 26 named classes in the window (synthetic IDX files and a classes.txt, no MNIST bytes): the Training
tab trains a 26-class model that records the names; made current, it shows 26 named classes in the Prediction dock,
the Attack tab's bars, banner and target menu, and the gallery; File ▸ Dataset classes reads a folder without a
classes.txt as EMNIST letters."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QDockWidget

from advstudio.gui.demo import digit_strokes
from advstudio.gui.features.training.messages import TrainResult
from advstudio.gui.messages import TARGETED

NAMES = [f"Class {c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]


@pytest.fixture
def letters(tmp_path, write_idx, synthetic_mnist):
    folder = tmp_path / "named26"
    for split, n, seed in (("train", 52, 1), ("test", 52, 2)):
        images, _ = synthetic_mnist(n, seed=seed)
        write_idx(folder, split, images, (np.arange(n) % 26).astype(np.uint8))
    (folder / "classes.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    return folder


def _train(qtbot, window, out):
    t, p = window.training, window.training.panel
    p.set_method(None)
    p.method_box.set_architecture("MLP")
    p.limit.setValue(0)
    p.epochs.setValue(1)
    p.batch_size.setValue(16)
    p.eval_limit.setValue(0)
    t.set_output(out)
    stages = []
    t.trainingProgress.connect(lambda prog: stages.append(prog.stage))
    with qtbot.waitSignal(t.trainingFinished, timeout=60000) as blocker:
        assert t.start() is not None
    assert any("Training on 52 images of 26 classes (Class A, Class B, Class C, …)" in s for s in stages), stages
    return blocker.args[0]


def test_a_26_class_model_shows_its_named_classes_everywhere(qtbot, make_window, tmp_path, letters):
    from advstudio.core.storage import load_model

    w = make_window(data_dir=str(letters))
    r = _train(qtbot, w, tmp_path / "letters.safetensors")
    assert isinstance(r, TrainResult), r
    model, meta = load_model(r.path)
    assert meta["num_classes"] == 26 and meta["classes"] == NAMES
    with qtbot.waitSignal(w.ctx.modelReady, timeout=30000) as ready:
        w.studio.open_model(r.path)
    info = ready.args[0]
    assert info.classes == tuple(NAMES)
    assert w.studio.canvas.hint == "Draw one of its 26 classes\n(Class A … Class Z)"
    dock = w.studio.model_panel.text.text()
    assert "26: Class A, Class B" in dock and "on 52 test images" in dock
    w.ctx.request_strokes(digit_strokes(3))
    qtbot.waitUntil(lambda: w.ctx.analysis is not None and len(w.ctx.analysis.prediction.probs) == 26,
                    timeout=30000)
    pred = w.ctx.analysis.prediction
    panel = w.studio.prediction_panel
    assert panel.digit.text() == NAMES[pred.label] and NAMES[pred.label] in panel.caption.text()
    assert panel.bars.classes == tuple(NAMES) and len(panel.bars.heights[0]) == 26
    assert "25 = Class Z" in panel.bars.toolTip()
    controls = w.studio.controls
    assert controls.target.count() == 26 and controls.target.itemText(25) == "25: Class Z"
    assert controls.target_label.text() == "target class:"
    controls.method.setCurrentIndex(controls.method.findData(TARGETED))
    controls.target.setCurrentIndex(25)
    w.ctx.request_eps(0.3)
    qtbot.waitUntil(lambda: w.ctx.analysis.attack.target == 25 and abs(w.ctx.analysis.attack.eps - 0.3) < 1e-9,
                    timeout=30000)
    results = w.studio.attack_panel.results
    banner = results.banner.text()
    assert NAMES[w.ctx.analysis.attack.clean_label] in banner, banner
    assert len(results.bars.heights[1]) == 26 and results.bars.classes == tuple(NAMES)
    # the gallery lists the dataset's 26 classes by name and reads its images with this model
    gallery = w.studio.gallery_panel
    qtbot.waitUntil(lambda: gallery.data is not None and gallery.data.classes == tuple(NAMES), timeout=30000)
    assert gallery.klass.count() == 27 and gallery.klass.itemText(26) == "25: Class Z"
    gallery.set_filter(25)
    rows = gallery.visible_indices()
    assert rows.size == 2 and np.all(gallery.data.labels[rows] == 25)
    text = gallery.model.data(gallery.model.index(0))
    assert text.startswith("Class Z"), text
    assert "This model has" not in gallery.status.text()
    titles = {d.objectName(): d.windowTitle() for d in w.findChildren(QDockWidget)}
    assert "Dataset gallery" in titles.values() and "Input: draw one" in titles.values()


def test_a_ten_class_model_on_26_classes_says_so_and_the_digits_come_back(qtbot, make_window, letters):
    w = make_window(data_dir=str(letters))
    gallery = w.studio.gallery_panel
    qtbot.waitUntil(lambda: gallery.data is not None, timeout=30000)
    assert "This model has 10 classes and the dataset 26" in gallery.status.text()
    controls = w.studio.controls
    assert controls.target.count() == 10 and controls.target.itemText(3) == "3"
    assert controls.target_label.text() == "target digit:"
    assert w.studio.prediction_panel.bars.classes == tuple(str(i) for i in range(10))


def test_the_dataset_classes_menu_reads_a_folder_as_emnist_letters(qtbot, make_window, tmp_path, write_idx,
                                                                   synthetic_mnist):
    folder = tmp_path / "plain"
    images, _ = synthetic_mnist(26, seed=3)
    write_idx(folder, "test", images, (np.arange(26) % 26 + 1).astype(np.uint8))  # EMNIST letters: labels 1..26
    w = make_window(data_dir=str(folder))
    gallery = w.studio.gallery_panel
    qtbot.waitUntil(lambda: "label 26 is out of range" in gallery.status.text(), timeout=30000)
    assert "File ▸ Dataset classes" in gallery.status.text()  # labels 1..26 are not digits: the way out is named
    w.actions_.data_classes["letters"].trigger()
    qtbot.waitUntil(lambda: gallery.data is not None and gallery.data.classes[0] == "a", timeout=30000)
    assert len(gallery.data.classes) == 26 and int(gallery.data.labels.min()) == 0
    assert w.ctx.settings.value("data/classes") == "letters"
    assert gallery.klass.itemText(1) == "0: a"
    w.actions_.data_classes["auto"].trigger()
    qtbot.waitUntil(lambda: "label 26 is out of range" in gallery.status.text(), timeout=30000)
    assert gallery.data is None and gallery.model.rowCount() == 0


def test_bar_labels_fit_under_their_bars(qapp):
    from PySide6.QtGui import QFont, QFontMetrics

    from advstudio.gui.widgets.bars import fit_labels

    metrics = QFontMetrics(QFont())
    assert fit_labels(NAMES, 15, metrics) == list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # the shared word goes first
    fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
    cut = fit_labels(fashion, 40, metrics)
    assert all(full.startswith(c) and metrics.horizontalAdvance(c) <= 36 for c, full in zip(cut, fashion))
    assert fit_labels(fashion, 400, metrics) == fashion
    numbers = fit_labels([str(i) for i in range(26)], 8, metrics)
    assert numbers[0] == "0" and "" in numbers and all(n in ("", str(i)) for i, n in enumerate(numbers))
