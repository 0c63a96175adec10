"""Why it breaks and the Activations dock with a 26-class model whose classes are named (a freshly built MLP
784→128→26, synthetic IDX data with a classes.txt; no MNIST bytes): every class shown is shown by name (map titles,
keys, sentences), the maps compute without an index out of range, the projection's key lists the classes present
and says that colours repeat, a dataset of ten classes is refused for the projection, and the dock's summary
says the names of the classes it flips between."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from advstudio.core.explain.words import boundary_verdict, landscape_verdict, projection_verdict
from advstudio.gui.demo import digit_strokes
from advstudio.gui.features.activations.view import summary_text

NAMES = tuple(f"Class {c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.fixture
def letters_folder(tmp_path, write_idx, synthetic_mnist):
    folder = tmp_path / "named26"
    images, _ = synthetic_mnist(52, seed=2)
    write_idx(folder, "test", images, (np.arange(52) % 26).astype(np.uint8))
    (folder / "classes.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def letters_model(tmp_path):
    from advstudio.core.model import build_model
    from advstudio.core.storage import save_model

    torch.manual_seed(0)
    model = build_model("MLP", num_classes=26)
    return save_model(model, tmp_path / "letters.safetensors",
                      {"name": "letters", "architecture": "MLP", "num_classes": 26, "classes": list(NAMES)})


def _open(qtbot, make_window, model_path, data_dir):
    w = make_window(data_dir=str(data_dir))
    with qtbot.waitSignal(w.ctx.modelReady, timeout=30000) as ready:
        w.studio.open_model(str(model_path))
    assert ready.args[0].classes == NAMES
    w.ctx.request_strokes(digit_strokes(3))
    qtbot.waitUntil(lambda: w.ctx.analysis is not None and len(w.ctx.analysis.prediction.probs) == 26,
                    timeout=30000)
    return w


@pytest.fixture
def lwindow(qtbot, make_window, letters_model, letters_folder):
    return _open(qtbot, make_window, letters_model, letters_folder)


def _key_names(key) -> list[str]:
    return [t for t in key.labels() if t in NAMES]


def test_the_maps_and_sentences_name_the_26_classes(lwindow, qtbot):
    w, ctl = lwindow, lwindow.explain
    with qtbot.waitSignal(ctl.attributionShown, timeout=30000) as shown:
        w.show_tab("explain")
    r = shown.args[0]
    assert len(r.rows) == 1  # the bundled digit models are no partner for a model of other classes
    row = r.rows[0]
    assert row.names == NAMES and all(0 <= c < 26 for c in row.classes)
    title = ctl.panel.attribution.titles[0, 0].text
    assert f"reads {NAMES[row.classes[0]]} (" in title, title
    assert f"reads {NAMES[row.classes[1]]} (" in ctl.panel.attribution.titles[0, 1].text

    w.ctx.request_eps(0.3)
    qtbot.waitUntil(lambda: w.ctx.attack_settings.eps == pytest.approx(0.3), timeout=5000)
    with qtbot.waitSignal(ctl.landscapeShown, timeout=60000) as shown:
        assert ctl.compute_landscape() is not None
    land = shown.args[0]
    page = ctl.panel.landscape
    assert land.class_names == NAMES and land.pred.max() < 26
    assert page.verdict.text() == landscape_verdict(land) and "another class" in page.verdict.text()
    assert _key_names(page.class_map.key) == [NAMES[k] for k in np.unique(land.pred)]
    assert "classes read on this plane" in page.caption.text()

    with qtbot.waitSignal(ctl.boundaryShown, timeout=120000) as shown:
        assert ctl.compute_boundary() is not None
    b = shown.args[0]
    page = ctl.panel.boundary
    assert b.class_names == NAMES
    assert page.verdict.text() == boundary_verdict(b) and NAMES[b.clean_pred] in page.verdict.text()
    assert _key_names(page.map.key) == [NAMES[k] for k in np.unique(b.pred)]


def test_the_projection_names_the_datasets_classes(lwindow, qtbot):
    w, ctl = lwindow, lwindow.explain
    with qtbot.waitSignal(ctl.attributionShown, timeout=30000):
        w.show_tab("explain")
    with qtbot.waitSignal(ctl.projectionShown, timeout=120000) as shown:
        assert ctl.compute_projection() is not None
    r = shown.args[0]
    page = ctl.panel.projection
    assert r.label_names == NAMES and r.class_names == NAMES and set(r.labels.tolist()) == set(range(26))
    assert page.verdict.text() == projection_verdict(r)
    assert NAMES[int(r.path_classes[0])] in page.verdict.text() and "” images" in page.verdict.text()
    assert _key_names(page.key) == list(NAMES)
    caption = page.caption.text()
    assert "52 test images" in caption and "its true class" in caption and "share one" in caption, caption


def test_a_dataset_of_other_classes_is_refused_for_the_projection(qtbot, make_window, letters_model, idx_folder):
    w = _open(qtbot, make_window, letters_model, idx_folder(60))
    ctl = w.explain
    with qtbot.waitSignal(ctl.attributionShown, timeout=30000):
        w.show_tab("explain")
    with qtbot.waitSignal(ctl.failedMessage, timeout=60000) as failed:
        assert ctl.compute_projection() is not None
    assert "26 classes but the test images" in failed.args[0] and "have 10" in failed.args[0]
    page = ctl.panel.projection
    assert page.data_message.isVisibleTo(page) and "26 classes" in page.data_message.text.text()


def test_the_activation_summary_names_the_classes(lwindow, qtbot):
    w = lwindow
    w.show_dock("activations")
    dock = w.activations
    qtbot.waitUntil(lambda: dock.data is not None and dock.data.classes == NAMES, timeout=30000)
    dock.panel.flush()
    data = dock.data
    assert NAMES[data.clean_label] in dock.panel.summary.text()
    flipped = dataclasses.replace(data, clean_label=10, adv_label=7)
    assert "flips Class K → Class H" in summary_text(flipped)
    assert "holds at Class Z" in summary_text(dataclasses.replace(data, clean_label=25, adv_label=25))
    assert "flips 10 → 7" in summary_text(dataclasses.replace(flipped, classes=()))
