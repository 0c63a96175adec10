"""The robustness lab and the session report for a model of 26 named classes (synthetic IDX files, a classes.txt
and an MLP trained by `advstudio train`; no MNIST bytes): the lab's result carries a 26×26 confusion matrix and the
names, the view labels its axes with them (readably), the exports name the target, the target spins over the
model's classes and a target the model lacks is refused in words; the report names the kept attack's classes.
The ten digits keep their old matrix."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6.QtGui import QFont, QFontMetrics
from qt_helpers import draw_digit

from advstudio.core.classes import DIGITS
from advstudio.gui.features.lab.confusion import axis_labels, short_names
from advstudio.gui.features.lab.messages import LabResult, LabSpec

NAMES = [f"Class {c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
N = 52


@pytest.fixture
def letters(tmp_path, write_idx, synthetic_mnist):
    """A 26-class test split with a classes.txt, and a 26-class MLP trained on it (which records the names)."""
    from advstudio.cli import main

    folder = tmp_path / "named26"
    for split, n, seed in (("train", 104, 0), ("test", N, 1)):
        images, _ = synthetic_mnist(n, seed=seed)
        write_idx(folder, split, images, (np.arange(n) % 26).astype(np.uint8))
    (folder / "classes.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    model = tmp_path / "letters.safetensors"
    assert main(["train", "--data", str(folder), "--limit", "104", "--epochs", "1", "--arch", "MLP", "--no-curve",
                 "--robust-eval-samples", "4", "--out", str(model)]) == 0
    return folder, model


def _run(qtbot, lab, specs, eps, n, target=None):
    with qtbot.waitSignal(lab.labFinished, timeout=60000) as blocker:
        assert lab.run_lab(specs, eps, n, target) is not None
    return blocker.args[0]


def test_axis_labels_of_26_named_classes_stay_readable_in_small_cells(qapp):
    font = QFont()
    font.setPointSize(7)
    metrics = QFontMetrics(font)
    bottom, left = axis_labels(NAMES, 9.0, 9.0, metrics)
    assert len(bottom) == len(left) == 26
    shown = [(i, t) for i, t in enumerate(bottom) if t]
    assert shown and all(t in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for _, t in shown)  # the shared "Class " is dropped
    assert all(t == NAMES[i][-1] for i, t in shown)
    for (i, a), (j, b) in zip(shown, shown[1:]):  # no two labels overlap
        assert (j - i) * 9.0 >= metrics.horizontalAdvance(a) / 2 + metrics.horizontalAdvance(b) / 2
    rows = [(i, t) for i, t in enumerate(left) if t]
    assert rows[0] == (0, "Class A") and all(b - a >= metrics.height() / 9.0 for (a, _), (b, _) in zip(rows, rows[1:]))
    big_bottom, big_left = axis_labels(NAMES, 40.0, 40.0, metrics)
    assert all(big_bottom) and big_left == NAMES  # room enough: every class, named


def test_gallery_captions_cut_names_and_fall_back_to_numbers():
    fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert short_names(fashion) == ["T-s", "Tro", "Pul", "Dre", "Coa", "San", "Shi", "Sne", "Bag", "Ank"]
    assert short_names(NAMES) == list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # without the "Class " they share
    assert short_names(DIGITS) == list(DIGITS)
    mixed = fashion + ["Class K", "Class L"]  # cut, the last two read "Cla": numbers tell them apart
    assert short_names(mixed) == [str(i) for i in range(12)]


def test_the_lab_gives_a_26_class_model_a_named_26_by_26_matrix(qtbot, make_window, letters, tmp_path):
    folder, model = letters
    w = make_window(data_dir=str(folder))
    w.resize(1280, 720)
    lab = w.lab
    entry = w.ctx.models.add_file(model, "letters")
    result = _run(qtbot, lab, [LabSpec(entry, "fgsm", {})], [0.0, 0.1], N)
    assert isinstance(result, LabResult), result
    c = result.curves[0]
    assert c.classes == tuple(NAMES) and c.num_classes == 26
    assert c.confusion.shape == (26, 26) and c.confusion.sum() == N
    assert np.array_equal(c.confusion.sum(1), np.full(26, 2))  # two test images of each class
    panel = lab.panel
    w.show_tab("robustness")
    panel.show_details(0)
    qtbot.wait(50)
    cm = panel.confusion
    assert cm.names == tuple(NAMES) and cm.counts.shape == (26, 26)
    bottom, left = cm.ticks
    assert len(bottom) == len(left) == 26 and any(bottom) and any(left)
    assert all(not t or t == NAMES[i][-1] for i, t in enumerate(bottom))
    assert not cm.texts  # 26 × 26 cells are too small for their counts: the tooltip says them
    m = c.mistakes
    captions = [t.toPlainText() for t in panel.gallery_texts]
    assert len(captions) == len(m.indices) > 0
    for text, y, p in zip(captions, m.labels, m.predicted):
        assert text.startswith(f"{NAMES[y][-1]}→{NAMES[p][-1]} ")
    i, j = int(np.argmax(c.confusion.max(1))), int(np.argmax(c.confusion[int(np.argmax(c.confusion.max(1)))]))
    assert f"true {i}: {NAMES[i]}, read under attack as {j}: {NAMES[j]}: {c.confusion[i, j]} of 2" in cm.cell_text(i, j)
    docs = json.loads(lab.export("json", tmp_path / "c.json").read_text())
    assert docs[0]["classes"] == NAMES
    # a targeted run toward class 20 (beyond the digits): named in the CSV
    panel.clear()
    result = _run(qtbot, lab, [LabSpec(entry, "fgsm", {})], [0.0, 0.1], N, target=20)
    assert isinstance(result, LabResult) and result.curves[0].curve.params["target"] == 20
    rows = list(csv.DictReader(lab.export("csv", tmp_path / "c.csv").open()))
    assert rows and all(r["target"] == "20" and r["target_class"] == "Class U" for r in rows)


def _refused(qtbot, lab, run) -> str:
    with qtbot.waitSignal(lab.labFailed, timeout=60000) as failed:
        assert run() is not None
    assert not lab.panel.running and lab.panel.curves == [] and lab.panel.run_button.isEnabled()
    return failed.args[0]


def test_the_target_follows_the_model_and_one_it_lacks_is_refused(qtbot, make_window, letters, idx_folder):
    folder, model = letters
    w = make_window(data_dir=str(idx_folder(40)))
    lab, form = w.lab, w.lab.panel.form
    bundled = w.ctx.models.entries()[0]
    assert form.target.maximum() == 9  # the bundled ten-digit model
    message = _refused(qtbot, lab, lambda: lab.run_lab([LabSpec(bundled, "fgsm", {})], [0.0, 0.1], 40, 20))
    assert "target class 20 is not a class of" in message and "10 classes" in message
    # a ten-digit model on 26 classes is refused in words (as `advstudio evaluate` refuses it), before any curve
    w.ctx.data_dir = str(folder)
    letters_entry = w.ctx.models.add_file(model, "letters")
    specs = [LabSpec(letters_entry, "fgsm", {}), LabSpec(bundled, "fgsm", {})]
    message = _refused(qtbot, lab, lambda: lab.run_lab(specs, [0.0, 0.1], N))
    assert "has 10 classes but the test images" in message and "have 26" in message
    message = _refused(qtbot, lab, lambda: lab.run_transfer([letters_entry, bundled], "fgsm", 0.1, {}, N))
    assert "has 10 classes but the test images" in message
    with qtbot.waitSignal(w.ctx.modelReady, timeout=30000):
        w.ctx.request_model(model)
    assert form.target.maximum() == 25 and lab.panel.classes == tuple(NAMES)
    form.target.setValue(25)
    assert form.target.suffix() == ": Class Z"
    assert "test images" in lab.panel.intro.text() and "digits" not in lab.panel.intro.text()


def test_ten_digits_keep_their_matrix(qtbot, make_window, idx_folder):
    w = make_window(data_dir=str(idx_folder(40)))
    lab = w.lab
    result = _run(qtbot, lab, [LabSpec(w.ctx.models.entries()[0], "fgsm", {})], [0.0, 0.1], 40)
    c = result.curves[0]
    assert c.classes == DIGITS and c.confusion.shape == (10, 10) and c.confusion.sum() == 40
    cm = lab.panel.confusion
    assert cm.names == DIGITS and cm.ticks == (list(DIGITS), list(DIGITS)) and len(cm.texts) == 100
    assert lab.panel.form.target.suffix() == "" and lab.panel.form.target.maximum() == 9
    shown = [t.toPlainText() for t in cm.texts if t.toPlainText()]
    assert sum(int(s) for s in shown) == 40


def test_the_report_names_a_26_class_models_classes(qtbot, make_window, letters, tmp_path):
    folder, model = letters
    w = make_window(data_dir=str(folder))
    with qtbot.waitSignal(w.ctx.modelReady, timeout=30000):
        w.ctx.request_model(model)
    log = w.session_log
    draw_digit(qtbot, w, 3)
    entry = log.keep_current()
    assert entry is not None and entry["class_names"] == NAMES
    c, a = int(np.argmax(entry["clean_probs"])), int(np.argmax(entry["adv_probs"]))
    assert f"Attack 1 in the report: {NAMES[c]} → {NAMES[a]}" in w.statusBar().currentMessage()
    lab = w.lab
    entry_model = next(m for m in w.ctx.models if m.path and m.path == str(model))
    _run(qtbot, lab, [LabSpec(entry_model, "fgsm", {})], [0.0, 0.1], N)
    html = log.export(tmp_path / "report.html").read_text(encoding="utf-8")
    assert f"Attack 1: {NAMES[c]} → {NAMES[a]}, ε = " in html
    assert f"clean: {NAMES[c]} (" in html and '<th class="num">Class Z</th>' in html
    assert "26 classes: Class A, Class B" in html  # the model's appendix and the lab curve's settings
    assert f"Attack 1: {c} → {a}," not in html
