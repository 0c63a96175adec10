"""Inputs from files, drops and the gallery; models from files. A bad file shows an error and changes nothing."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import draw_digit, wait_settled


def _digit_png(path, polarity: str = "dark-on-light", size=(300, 200)) -> None:
    """A big '1' (a vertical bar) on paper of any size and polarity."""
    paper, ink = (255, 0) if polarity == "dark-on-light" else (0, 255)
    im = Image.new("L", size, paper)
    ImageDraw.Draw(im).line([(size[0] // 2, 30), (size[0] // 2 + 6, size[1] - 30)], fill=ink, width=14)
    im.save(path)


def _snapshot(window):
    return (window.ctx.current_input.copy() if window.ctx.current_input is not None else None,
            window.ctx.analysis, window.ctx.model_info, window.studio.canvas.strokes)


def _unchanged(window, snap) -> bool:
    cur, analysis, info, strokes = snap
    same_input = (cur is None and window.ctx.current_input is None) or np.array_equal(cur, window.ctx.current_input)
    return same_input and window.ctx.analysis is analysis and window.ctx.model_info is info and window.studio.canvas.strokes == strokes


@pytest.mark.parametrize("polarity,suffix", [("dark-on-light", "png"), ("light-on-dark", "jpg"),
                                             ("dark-on-light", "bmp")])
def test_open_image_file_becomes_the_input(qtbot, window, tmp_path, polarity, suffix):
    path = tmp_path / f"one.{suffix}"
    _digit_png(path, polarity)
    window.studio.open_image(path)  # decoded on the worker (tests/gui/test_hostile_files.py)
    qtbot.waitUntil(lambda: window.ctx.analysis is not None, timeout=30000)
    wait_settled(qtbot, window)
    assert window.ctx.analysis.prediction.label == 1
    assert window.ctx.errors == []


def test_drop_an_image_on_the_window(qtbot, window, tmp_path):
    path = tmp_path / "dropped.png"
    _digit_png(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    rest = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(50, 50), *rest)  # QDragEnterEvent takes an integer point
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(QPointF(50, 50), *rest))
    wait_settled(qtbot, window)
    assert window.ctx.analysis.prediction.label == 1


def test_opening_a_non_image_shows_an_error_and_changes_nothing(qtbot, window, tmp_path):
    draw_digit(qtbot, window, 3)
    snap = _snapshot(window)
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    for path in (bad, blank, tmp_path / "missing.png"):
        n = len(window.ctx.errors)
        with qtbot.waitSignal(window.ctx.errorShown, timeout=30000):
            window.studio.open_image(path)
        assert len(window.ctx.errors) == n + 1 and path.name in window.ctx.errors[-1]
        qtbot.wait(50)
        assert _unchanged(window, snap)


def _bad_models(tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(pickle.dumps({"conv1.weight": [1.0, 2.0]}))
    disguised = tmp_path / "disguised.safetensors"  # a pickle with a safetensors name
    disguised.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    truncated = tmp_path / "truncated.safetensors"
    from advstudio.core.resources import bundled_model_path

    truncated.write_bytes(bundled_model_path().read_bytes()[:100_000])
    return [corrupt, pickled, disguised, truncated]


def test_opening_a_bad_model_shows_an_error_and_changes_nothing(qtbot, window, tmp_path):
    draw_digit(qtbot, window, 3)
    snap = _snapshot(window)
    status = window.status_model.text()
    for path in _bad_models(tmp_path):
        n = len(window.ctx.errors)
        with qtbot.waitSignal(window.ctx.errorShown, timeout=30000):
            window.studio.open_model(path)
        assert len(window.ctx.errors) == n + 1 and path.name in window.ctx.errors[-1], window.ctx.errors[-1]
        assert _unchanged(window, snap)
        assert window.status_model.text() == status
    assert "pickle" in window.ctx.errors[1].lower() and "pickle" in window.ctx.errors[2].lower()
    # the old model still answers
    window.studio.attack_panel.controls.set_eps(0.2)
    wait_settled(qtbot, window)


def test_open_another_model_updates_status_and_info(qtbot, window, tmp_path, settings):
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model, save_model

    model, meta = load_model(bundled_model_path())
    other = save_model(model, tmp_path / "other.safetensors", {**meta, "name": "Other CNN", "test_accuracy": 0.5})
    draw_digit(qtbot, window, 3)
    with qtbot.waitSignal(window.ctx.modelReady, timeout=30000):
        window.studio.open_model(other)
    assert window.ctx.model_info.name == "Other CNN"
    assert "Other CNN" in window.status_model.text() and "50.00%" in window.status_accuracy.text()
    assert "Other CNN" in window.studio.model_panel.text.text()
    assert settings.value("model/last") == str(other)
    wait_settled(qtbot, window)


def test_model_info_shows_recipe_accuracy_and_curve(window):
    text = window.studio.model_panel.text.text()
    assert "Recipe" in text and "Adam" in text and "Test accuracy" in text
    xs, ys = window.studio.model_panel.line.getData()
    curve = window.ctx.model_info.meta["fgsm_curve"]
    assert list(xs) == curve["eps"] and np.allclose(ys, np.asarray(curve["accuracy"]) * 100)
    assert "CPU" in window.status_device.text()


def test_gallery_filters_and_picks(qtbot, make_window, idx_folder):
    folder = idx_folder(300)
    window = make_window(data_dir=str(folder))
    qtbot.waitUntil(lambda: window.studio.gallery_panel.data is not None, timeout=20000)
    g = window.studio.gallery_panel
    data = g.data
    assert len(data.labels) == 300 and g.model.rowCount() == 300
    g.set_filter(klass=7)
    assert all(data.labels[i] == 7 for i in g.visible_indices()) and g.model.rowCount() > 0
    g.set_filter(klass=-1, verdict="wrong")
    assert all(data.labels[i] != data.predictions[i] for i in g.visible_indices())
    g.set_filter(klass=-1, verdict="right")
    assert all(data.labels[i] == data.predictions[i] for i in g.visible_indices())
    g.set_filter()
    g.view.clicked.emit(g.model.index(5, 0))
    wait_settled(qtbot, window)
    assert np.allclose(window.ctx.current_input, data.images[5] / 255.0, atol=1e-6)


def test_gallery_with_the_real_mnist(qtbot, make_window, mnist_dir):
    window = make_window(data_dir=str(mnist_dir))
    qtbot.waitUntil(lambda: window.studio.gallery_panel.data is not None, timeout=60000)
    d = window.studio.gallery_panel.data
    assert len(d.labels) == 10000 and (d.labels == d.predictions).mean() > 0.97


def test_bad_dataset_folder_is_reported(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.ctx.errorShown, timeout=30000):
        window.ctx.set_data_dir(tmp_path)
    assert "MNIST" in window.ctx.errors[-1] and window.studio.gallery_panel.data is None


def _pick_folder(monkeypatch, folder) -> None:
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *args, **kwargs: str(folder)))


def test_choosing_an_empty_folder_names_it_and_the_files_it_needs(qtbot, make_window, monkeypatch, tmp_path,
                                                                  idx_folder):
    monkeypatch.delenv("ADVSTUDIO_MNIST_DIR", raising=False)
    window = make_window()
    lab = window.lab
    assert window.ctx.data_dir is None and lab.run_lab([], [0.0], 10) is None  # no folder yet: the lab says so
    assert "No MNIST folder is set" in lab.panel.data_text.text()
    empty = tmp_path / "empty"
    empty.mkdir()
    _pick_folder(monkeypatch, empty)
    lab.panel.choose_folder.click()
    for text in (lab.panel.data_text.text(), window.ctx.errors[-1]):
        assert "No MNIST folder is set" not in text
        assert f"{empty} has no MNIST files" in text and "t10k-images-idx3-ubyte.gz" in text
        assert "--data" not in text and "environment variable" not in text
    assert not lab.panel.data_message.isHidden() and window.ctx.data_dir is None  # the empty folder is not taken
    # a folder with MNIST files is taken, and the window says what it holds
    good = idx_folder(60)
    _pick_folder(monkeypatch, good)
    lab.panel.choose_folder.click()
    assert window.ctx.data_dir == str(good) and lab.panel.data_message.isHidden()
    message = window.statusBar().currentMessage()
    assert f"MNIST folder set: {good}" in message and "60 test digits" in message and "no training files" in message


def test_the_real_mnist_folder_is_confirmed_with_its_sizes(qtbot, make_window, monkeypatch, mnist_dir):
    monkeypatch.delenv("ADVSTUDIO_MNIST_DIR", raising=False)
    window = make_window()
    _pick_folder(monkeypatch, mnist_dir)
    window.actions_.data_dir.trigger()
    assert window.ctx.data_dir == str(mnist_dir)
    assert "(60,000 training and 10,000 test digits)" in window.statusBar().currentMessage()


def test_dataset_failures_from_the_worker_use_the_window_words(qtbot, window, tmp_path, idx_folder):
    bad = idx_folder(20)
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    with qtbot.waitSignal(window.ctx.errorShown, timeout=30000) as blocker:
        window.ctx.set_data_dir(bad)
    assert "gzip" in blocker.args[0] and "--data" not in blocker.args[0] and "Choose MNIST folder" in blocker.args[0]


def test_check_regular_file_refuses_fifos_folders_missing_and_oversized(tmp_path):
    from advstudio.core.files import NotARegularFile, check_regular_file

    ok = tmp_path / "ok.bin"
    ok.write_bytes(b"12345")
    assert check_regular_file(ok) == ok
    assert check_regular_file(ok, max_bytes=5) == ok
    with pytest.raises(NotARegularFile, match="more than"):
        check_regular_file(ok, max_bytes=4)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile, match="not a regular file"):
        check_regular_file(fifo)
    with pytest.raises(NotARegularFile, match="folder"):
        check_regular_file(tmp_path)
    with pytest.raises(NotARegularFile, match="cannot be read"):
        check_regular_file(tmp_path / "missing")
