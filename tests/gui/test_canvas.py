"""Drawing with real mouse events: predictions arrive, known shapes are read right, editing works."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeySequence
from qt_helpers import drag, draw_digit, ink_to_widget, send_mouse


def test_mouse_stroke_produces_a_prediction(qtbot, window):
    assert window.ctx.analysis is None
    with qtbot.waitSignal(window.ctx.analysisShown, timeout=30000):
        drag(window.studio.canvas, [(140, 60 + 10 * i) for i in range(17)])
    p = window.studio.prediction_panel.prediction
    assert p is not None
    assert p.probs.shape == (10,) and abs(float(p.probs.sum()) - 1.0) < 1e-4
    assert window.studio.prediction_panel.digit.text() == str(p.label)
    # the preview shows exactly what the model saw
    assert np.array_equal(window.studio.input_panel.preview.image, p.image)
    assert p.image.shape == (28, 28) and p.image.max() > 0.5


@pytest.mark.parametrize("digit", [1, 3, 7, 0])
def test_drawn_shapes_are_read_as_their_digit(qtbot, window, digit):
    draw_digit(qtbot, window, digit)
    assert window.ctx.analysis.prediction.label == digit
    assert window.ctx.analysis.prediction.confidence > 0.9


def test_prediction_updates_live_while_drawing_and_is_throttled(qtbot, window):
    canvas = window.studio.canvas
    emitted = []
    canvas.inkChanged.connect(lambda: emitted.append(1))
    pts = [ink_to_widget(canvas, 140, 50 + 2 * i) for i in range(90)]
    send_mouse(canvas, QEvent.Type.MouseButtonPress, pts[0])
    for p in pts[1:]:
        send_mouse(canvas, QEvent.Type.MouseMove, p)
    assert canvas.is_drawing()
    # still pressed: the throttle timer delivers a live update
    with qtbot.waitSignal(window.ctx.analysisShown, timeout=30000):
        pass
    assert window.ctx.analysis is not None
    assert len(emitted) <= 2, "89 moves in a burst must not emit 89 updates"
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, pts[-1])
    assert not canvas.is_drawing()


def test_undo_redo_clear_and_shortcuts(qtbot, window):
    draw_digit(qtbot, window, 1)
    drag(window.studio.canvas, [(100, 100), (180, 100)])
    assert len(window.studio.canvas.strokes) == 2
    acts = window.actions_
    assert acts.undo.shortcut() == QKeySequence("Ctrl+Z")
    assert QKeySequence("Ctrl+Shift+Z") in acts.redo.shortcuts()
    acts.undo.trigger()
    assert len(window.studio.canvas.strokes) == 1
    acts.redo.trigger()
    assert len(window.studio.canvas.strokes) == 2
    acts.clear.trigger()
    assert window.studio.canvas.current_input() is None
    qtbot.waitUntil(lambda: window.ctx.analysis is None and window.studio.prediction_panel.prediction is None)
    acts.undo.trigger()  # clearing is undoable
    assert window.studio.canvas.current_input() is not None


def test_eraser_and_brush_width(qtbot, window):
    canvas = window.studio.canvas
    window.studio.input_panel.brush.setValue(30)
    assert canvas.brush_width == 30
    drag(canvas, [(140, 60), (140, 220)])
    before = canvas.ink().sum()
    window.actions_.eraser.setChecked(True)
    assert canvas.eraser and window.studio.input_panel.eraser.isChecked()
    drag(canvas, [(100, 140), (180, 140)])
    assert canvas.ink().sum() < before
    assert canvas.strokes[-1].erase
    window.actions_.eraser.setChecked(False)
    drag(canvas, [(60, 60), (60, 80)], button=Qt.MouseButton.RightButton)  # right-drag erases too
    assert canvas.strokes[-1].erase


def test_the_hint_returns_whenever_the_canvas_is_empty(qtbot, window):
    canvas = window.studio.canvas
    assert canvas.shows_hint()
    empty = canvas.grab().toImage()  # the empty canvas, with its hint
    drag(canvas, [(140, 60 + 10 * i) for i in range(17)])
    assert not canvas.shows_hint() and canvas.grab().toImage() != empty
    window.actions_.clear.trigger()  # Delete
    assert canvas.is_empty() and canvas.shows_hint()
    assert canvas.grab().toImage() == empty
    canvas.undo()
    assert not canvas.is_empty() and not canvas.shows_hint()
    window.actions_.clear.trigger()
    drag(canvas, [(140, 100), (140, 120)])
    canvas.brush_width = 90  # a right-drag wider than the stroke erases all of it
    drag(canvas, [(140, 90), (140, 130)], button=Qt.MouseButton.RightButton)
    assert canvas.is_empty() and canvas.shows_hint() and canvas.grab().toImage() == empty
