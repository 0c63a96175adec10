"""Helpers for GUI tests: real mouse drags (QMouseEvents with the button held, which QTest's mouseMove cannot
send) and waits for the window to show the answer to the current input."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def ink_to_widget(canvas, x: float, y: float) -> QPointF:
    """A point in the canvas's 280×280 ink coordinates, in widget coordinates."""
    from advstudio.gui.widgets.canvas import INK_SIZE

    r = canvas._target_rect()
    return QPointF(r.x() + x * r.width() / INK_SIZE, r.y() + y * r.height() / INK_SIZE)


def send_mouse(widget, kind: QEvent.Type, pos: QPointF, button=Qt.MouseButton.LeftButton) -> None:
    held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    moving = kind == QEvent.Type.MouseMove
    ev = QMouseEvent(kind, pos, widget.mapToGlobal(pos), Qt.MouseButton.NoButton if moving else button,
                     held, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def drag(canvas, points, button=Qt.MouseButton.LeftButton) -> None:
    """Press, move through `points` (ink coordinates) with the button held, release."""
    pts = [ink_to_widget(canvas, x, y) for x, y in points]
    send_mouse(canvas, QEvent.Type.MouseButtonPress, pts[0], button)
    for p in pts[1:]:
        send_mouse(canvas, QEvent.Type.MouseMove, p, button)
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, pts[-1], button)


def draw_digit(qtbot, window, digit: int) -> None:
    """Clear, draw `digit` with real mouse drags, and wait until its analysis is on screen."""
    from advstudio.gui.demo import digit_strokes

    window.studio.canvas.clear()
    strokes = digit_strokes(digit)
    for stroke in strokes[:-1]:
        drag(window.studio.canvas, stroke)
    with qtbot.waitSignal(window.ctx.analysisShown, timeout=30000):
        drag(window.studio.canvas, strokes[-1])
    wait_settled(qtbot, window)


def wait_settled(qtbot, window, timeout: int = 30000) -> None:
    """Wait until the analysis on screen answers the current input and attack settings."""

    def settled() -> None:
        a = window.ctx.analysis
        assert a is not None and window.ctx.current_input is not None
        assert np.array_equal(a.prediction.image, window.ctx.current_input)
        s = window.studio.attack_panel.controls.settings()
        assert a.attack.eps == s.eps and a.attack.method == s.method

    qtbot.waitUntil(settled, timeout=timeout)


def set_eps(qtbot, window, eps: float):
    """Move the slider to ε and return the AttackResult shown for it."""
    window.studio.attack_panel.controls.set_eps(eps)
    wait_settled(qtbot, window)
    return window.ctx.analysis.attack
