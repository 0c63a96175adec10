"""The "Patch & universal" tab: a patch trained through the window and shown on the drawing, dragged (the image
sent to be classified and the verdict follow), cancelled, refused from a bad file, saved and loaded; a universal
perturbation computed within its ε and added to the drawing; the size and ε plots; a model change noted; and no
MNIST folder said in the tab. Small budgets: a few steps, a few hundred images."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from advstudio.gui.demo import digit_strokes
from advstudio.gui.features.universal.messages import (
    PATCH_FILE,
    PATCH_VIEW,
    PATCH_WORK,
    UNIVERSAL_FILE,
    UNIVERSAL_VIEW,
    UNIVERSAL_WORK,
    PatchData,
    WorkCancelled,
    add_universal,
    paste,
)
from advstudio.gui.features.universal.patch_view import patch_verdict


@pytest.fixture
def uwindow(make_window, mnist_dir, qtbot):
    w = make_window(data_dir=str(mnist_dir))
    w.ctx.request_strokes(digit_strokes(3))
    qtbot.waitUntil(lambda: w.ctx.current_input is not None and w.ctx.current_input.any(), timeout=20000)
    w.show_tab("universal")
    return w


def _finish(qtbot, ctl, start, timeout=120000):
    """Start a long job with start() and return what it finished with."""
    with qtbot.waitSignal(ctl.workFinished, timeout=timeout) as blocker:
        assert start() is not None
    return blocker.args[1]


def _white_patch(side=8, target=8) -> PatchData:
    return PatchData(patch=np.ones((side, side), np.float32), target=target, steps=1, success_rate=0.5, images=10,
                     model="bundled model")


def _drag(qtbot, view, roi, to_row, to_col) -> None:
    """A real mouse drag of the patch square: press on it, move with the button held (at a human pace:
    pyqtgraph drops moves that come faster than its frame rate), release."""
    vb = roi.getViewBox()
    side = roi.size().x()

    def at(row, col):
        return QPointF(view.mapFromScene(vb.mapViewToScene(QPointF(col + side / 2, row + side / 2))))

    start, end = at(roi.pos().y(), roi.pos().x()), at(to_row, to_col)
    viewport = view.viewport()

    def send(kind, pos, buttons):
        button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
        QApplication.sendEvent(viewport, QMouseEvent(kind, pos, viewport.mapToGlobal(pos), button, buttons,
                                                     Qt.KeyboardModifier.NoModifier))

    held = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, start, held)
    for t in np.linspace(0.05, 1.0, 12):
        qtbot.wait(25)
        send(QEvent.Type.MouseMove, start + (end - start) * float(t), held)
    send(QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def test_a_trained_patch_is_shown_on_the_drawing_and_classified(qtbot, uwindow):
    ctl, half = uwindow.universal, uwindow.universal.panel.patch
    assert half.roi.isVisible() is False and half.save_button.isEnabled() is False
    half.side.setValue(12)
    half.steps.setValue(30)
    half.images.setValue(500)
    progress = []
    half.runner.progress.valueChanged.connect(progress.append)
    patch = _finish(qtbot, ctl, ctl.train_patch)
    assert isinstance(patch, PatchData) and patch.side == 12 and patch.target == 8 and patch.images == 500
    assert ctl.patch is patch and patch.patch.min() >= 0 and patch.patch.max() <= 1
    assert progress and half.progress.value() == 1000 and "Done" in half.eta.text()
    assert half.roi.isVisible() and tuple(half.roi.size()) == (12, 12)
    assert np.array_equal(half.patch_item.image, patch.patch)
    assert "12×12 px toward 8" in half.info.text() and half.save_button.isEnabled()
    row, col = half.position
    qtbot.waitUntil(lambda: half.shown is not None and half.shown.position == (row, col), timeout=20000)
    sent = ctl.sent[PATCH_VIEW]
    assert np.array_equal(sent.image, paste(uwindow.ctx.current_input, patch.patch, row, col))
    assert np.array_equal(sent.clean, uwindow.ctx.current_input)
    assert half.bars.heights[0].sum() == pytest.approx(1, abs=1e-4)
    assert half.bars.heights[1].sum() == pytest.approx(1, abs=1e-4)
    assert half.verdict.text() == patch_verdict(half.shown, 8) and half.verdict.text().startswith("Your 3 ")
    assert not uwindow.ctx.errors


def test_dragging_the_patch_changes_what_is_classified(qtbot, uwindow):
    ctl, half = uwindow.universal, uwindow.universal.panel.patch
    ctl.set_patch(_white_patch(side=12), ("bundled model", None))  # a white square over the 3's middle: an 8
    assert half.position == (8, 8)  # a new patch starts at the centre
    qtbot.waitUntil(lambda: half.shown is not None and half.shown.position == (8, 8), timeout=20000)
    before_text, before_probs = half.verdict.text(), half.shown.probs.copy()
    assert before_text.startswith("Your 3 now reads as 8 (")
    _drag(qtbot, half.glw, half.roi, 0, 16)  # the top-right corner, off the digit's strokes
    assert half.position == (0, 16) and tuple(half.roi.pos()) == (16, 0)
    assert half.patch_item.pos().toTuple() == (16, 0)  # the patch's pixels went with the square
    qtbot.waitUntil(lambda: half.shown.position == (0, 16), timeout=20000)
    sent = ctl.sent[PATCH_VIEW]
    assert sent.position == (0, 16) and sent.image[0:12, 16:28].min() == 1.0
    assert np.array_equal(sent.image, paste(uwindow.ctx.current_input, np.ones((12, 12)), 0, 16))
    assert not np.allclose(half.shown.probs, before_probs)
    assert half.verdict.text().startswith("Your 3 still reads as 3")
    assert half.verdict.text() == patch_verdict(half.shown, 8)
    half.move_patch(40, -5)  # never outside the image
    assert 0 <= half.position[0] <= 16 and 0 <= half.position[1] <= 16


def test_cancel_stops_training_quietly_and_keeps_the_patch(qtbot, uwindow):
    ctl, half = uwindow.universal, uwindow.universal.panel.patch
    ctl.set_patch(_white_patch(), ("bundled model", None))
    old = ctl.patch
    half.steps.setValue(5000)
    half.images.setValue(300)
    with qtbot.waitSignal(ctl.workFinished, timeout=60000) as blocker:
        ctl.train_patch()
        assert half.running and not half.run_button.isEnabled() and half.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: half.progress.value() > 0, timeout=60000)
        half.cancel_button.click()
    result = blocker.args[1]
    assert isinstance(result, WorkCancelled) and 0 < result.done < 5000
    assert ctl.patch is old and not half.running and half.run_button.isEnabled()
    assert "cancelled" in half.eta.text().lower() and not uwindow.ctx.errors


def test_bad_files_are_refused_in_the_tab_and_a_saved_patch_comes_back(qtbot, uwindow, tmp_path):
    from advstudio.core.resources import bundled_model_path

    ctl, half = uwindow.universal, uwindow.universal.panel.patch
    first = _white_patch(side=6, target=2)
    ctl.set_patch(first, ("bundled model", None))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00not a patch at all" * 50)
    for bad in (garbage, bundled_model_path()):
        half.show_file_message(None)
        ctl.load(PATCH_FILE, bad)
        qtbot.waitUntil(lambda: not half.file_message.isHidden(), timeout=20000)
        assert "an adversarial patch" in half.file_message.text()  # "is not …", "is too large to be …"
        assert ctl.patch is first and half.patch is first and half.load_button.isEnabled()
    assert not any("Traceback" in e for e in uwindow.ctx.errors)
    saved = tmp_path / "mine"  # the suffix is added
    ctl.save(PATCH_FILE, saved)
    qtbot.waitUntil(lambda: half.eta.text().startswith("Saved as"), timeout=20000)
    assert (tmp_path / "mine.safetensors").is_file()
    ctl.set_patch(_white_patch(side=10), ("bundled model", None))
    with qtbot.waitSignal(ctl.patchShown, timeout=20000) as blocker:
        ctl.load(PATCH_FILE, tmp_path / "mine.safetensors")
    back = blocker.args[0]
    assert np.array_equal(back.patch, first.patch) and back.target == 2 and back.side == 6
    assert back.model == "bundled model" and half.file_message.isHidden() and half.patch is back
    assert "6×6 px toward 2" in half.info.text()


def test_a_universal_perturbation_stays_within_eps_and_is_added_to_the_drawing(qtbot, uwindow, tmp_path):
    ctl, half = uwindow.universal, uwindow.universal.panel.universal
    uwindow.universal.panel.show_page("universal")
    half.eps.setValue(0.2)
    half.images.setValue(200)
    half.passes.setValue(2)
    half.test_images.setValue(200)
    assert "0.200 pixel units" in half.eps_readout.text() and "51.0 of 255 grey levels" in half.eps_readout.text()
    u = _finish(qtbot, ctl, ctl.compute_universal)
    assert u is ctl.universal and u.eps == pytest.approx(0.2) and u.images == 200 and 1 <= u.passes <= 2
    assert np.abs(u.v).max() <= 0.2 + 1e-6 and np.abs(u.v).max() > 0
    assert u.test_rate is not None and u.test_images == 200
    assert f"{u.fooling_rate * 100:.0f} % of the 200 training digits" in half.info.text()
    assert "≤ ε = 0.2 pixel units" in half.info.text()
    assert np.allclose(half.shown_v, u.v) and half.colorbar.delta_labels == ["−0.2", "0", "+0.2"]
    drawing = uwindow.ctx.current_input
    qtbot.waitUntil(lambda: UNIVERSAL_VIEW in ctl.sent, timeout=20000)
    assert np.array_equal(ctl.sent[UNIVERSAL_VIEW].image, drawing)  # not ticked: the drawing alone
    half.add_box.setChecked(True)
    qtbot.waitUntil(lambda: half.shown is not None and not np.array_equal(half.shown.image, drawing), timeout=20000)
    sent = ctl.sent[UNIVERSAL_VIEW].image
    assert np.array_equal(sent, add_universal(drawing, u.v)) and not np.array_equal(sent, drawing)
    assert np.array_equal(half.drawing_item.image, sent) and half.bars.heights[1].sum() == pytest.approx(1, abs=1e-4)
    assert half.verdict.text().startswith("With v added, your 3 ")
    ctl.save(UNIVERSAL_FILE, tmp_path / "v.safetensors")
    qtbot.waitUntil(lambda: half.eta.text().startswith("Saved as"), timeout=20000)
    with qtbot.waitSignal(ctl.universalShown, timeout=20000) as blocker:
        ctl.load(UNIVERSAL_FILE, tmp_path / "v.safetensors")
    back = blocker.args[0]
    assert np.array_equal(back.v, u.v) and back.test_rate == pytest.approx(u.test_rate) and back.method == "sgd"


def test_the_size_and_eps_plots(qtbot, uwindow):
    ctl, patch, uni = uwindow.universal, uwindow.universal.panel.patch, uwindow.universal.panel.universal
    patch.steps.setValue(10)
    patch.images.setValue(200)
    patch.test_images.setValue(200)
    sweep = _finish(qtbot, ctl, lambda: ctl.sweep_patch((4, 12)))
    assert sweep.sides == (4, 12) and len(sweep.anywhere) == len(sweep.centre) == 2 and sweep.steps == 10
    x, ys = patch.sweep.data
    assert x == (4, 12) and ys == (sweep.anywhere, sweep.centre) and not patch.sweep.area.empty
    assert "10 Adam steps" in patch.sweep_caption.text()
    uni.images.setValue(100)
    uni.passes.setValue(1)
    uni.test_images.setValue(100)
    sweep = _finish(qtbot, ctl, lambda: ctl.sweep_universal((0.05, 0.3)))
    assert sweep.eps == (0.05, 0.3) and len(sweep.test) == 2 and all(0 <= r <= 1 for r in sweep.test)
    assert uni.sweep.data == ((0.05, 0.3), (sweep.train, sweep.test)) and not uni.sweep.area.empty
    assert ctl.universal is None  # a sweep does not replace the perturbation on screen


def test_measuring_the_patch_on_the_test_set(qtbot, uwindow, mnist_test):
    ctl, half = uwindow.universal, uwindow.universal.panel.patch
    assert ctl.measure_patch() is None and "first" in half.eta.text()
    ctl.set_patch(_white_patch(side=12), ("bundled model", None))
    half.test_images.setValue(300)
    r = _finish(qtbot, ctl, ctl.measure_patch)
    assert r.position == half.position and r.n == int((mnist_test.labels[:300] != 8).sum())
    assert 0 <= r.anywhere <= 1 and 0 <= r.here <= 1
    assert f"{r.anywhere * 100:.0f} %" in half.rate_text.text() and f"On {r.n:,} test digits" in half.rate_text.text()


def test_a_new_model_marks_the_patch_and_v_as_made_for_another(qtbot, uwindow, tmp_path):
    from advstudio.core.resources import bundled_model_path

    ctl, half = uwindow.universal, uwindow.universal.panel.patch
    ctl.set_patch(_white_patch(), (uwindow.ctx.model_info.name, uwindow.ctx.model_info.path))
    assert half.model_message.isHidden()
    twin = tmp_path / "twin.safetensors"
    shutil.copy(bundled_model_path(), twin)
    with qtbot.waitSignal(uwindow.ctx.modelReady, timeout=20000):
        uwindow.ctx.request_model(twin)
    assert not half.model_message.isHidden() and "not for the model now in use" in half.model_message.text()
    assert "It still applies" in half.model_message.text()
    assert ctl.patch is not None and half.roi.isVisible()  # it still applies: nothing is dropped


def test_no_mnist_folder_is_said_in_the_tab_instead_of_starting(make_window, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    w = make_window(data_dir=str(empty))
    ctl = w.universal
    w.show_tab("universal")
    assert ctl.train_patch() is None and ctl.sweep_patch() is None
    half = ctl.panel.patch
    assert half.data_message.isVisible() and "no MNIST files" in half.data_message.text.text()
    assert not half.running and half.run_button.isEnabled() and PATCH_WORK not in ctl.handles
    assert ctl.compute_universal() is None and UNIVERSAL_WORK not in ctl.handles
    assert "no MNIST files" in ctl.panel.universal.data_message.text.text()
    assert w.ctx.errors and "no MNIST files" in w.ctx.errors[-1]
