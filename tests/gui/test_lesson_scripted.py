"""Issue 13's "done when": a scripted student who only presses the lesson's own buttons (its action button, the
way-out buttons it offers, Next) and draws with the default brush completes the bundled lesson end to end.

The student draws a sturdy 3 that FGSM cannot flip, and starts with an MNIST folder that holds no MNIST, so the
flip step and the curve step each have to offer their way out; the folder dialog is the one thing stood in for
(it would pick the real MNIST folder)."""

from __future__ import annotations

import numpy as np
from qt_helpers import drag
from test_flip_dead_end import STUBBORN_3

from advstudio.gui.features.studio.controller import DEFAULT_BRUSH

STEP_TIMEOUT_MS = 60000


def _offer(lesson):
    """The first way-out button on screen, or None."""
    return next((b for b in lesson.panel.way_out_buttons if b.isVisible()), None)


def _draw_with_the_mouse(qtbot, window, strokes) -> None:
    canvas = window.studio.canvas
    assert canvas.brush_width == DEFAULT_BRUSH  # the default brush, untouched
    with qtbot.waitSignal(window.ctx.analysisShown, timeout=30000):
        for stroke in strokes:
            drag(canvas, stroke)


def _finish_step(qtbot, window, taken: list[str]) -> None:
    """Do the step on screen as the student would: draw (the draw step) or press its action button, then press
    whatever way out it offers until its check passes."""
    lesson = window.lesson
    step = lesson.step
    if step.id == "draw":
        _draw_with_the_mouse(qtbot, window, STUBBORN_3)
    elif lesson.panel.action_button.isVisible():
        assert lesson.panel.action_button.isEnabled()
        lesson.panel.action_button.click()
    for _ in range(3):
        qtbot.waitUntil(lambda: step.id in lesson.done or _offer(lesson) is not None, timeout=STEP_TIMEOUT_MS)
        if step.id in lesson.done:
            break
        button = _offer(lesson)
        taken.append(f"{step.id}: {button.text()}")
        assert lesson.panel.check.text() and "waiting" not in lesson.panel.check.text()  # it says why
        button.click()
    assert step.id in lesson.done, f"step {step.id!r} did not pass: {lesson.panel.check.text()}"
    assert "✓ done" in lesson.panel.check.text()


def test_a_student_pressing_only_the_lessons_buttons_completes_the_lesson(qtbot, make_window, mnist_dir,
                                                                         tmp_path, monkeypatch):
    no_mnist = tmp_path / "not-mnist"
    no_mnist.mkdir()
    window = make_window(data_dir=str(no_mnist))
    monkeypatch.setattr(window, "ask_data_dir", lambda: window.ctx.set_data_dir(mnist_dir))  # the folder dialog
    lesson = window.lesson
    n = len(lesson.lesson.steps)
    lesson.toggle_action.trigger()  # Ctrl+L
    assert lesson.dock.isVisible() and lesson.index == 0
    taken: list[str] = []
    for k in range(n):
        assert lesson.index == k and lesson.panel.step_label.text() == f"Step {k + 1} of {n}"
        _finish_step(qtbot, window, taken)
        if k < n - 1:
            lesson.panel.next.click()
    assert lesson.index == n - 1 and not lesson.panel.next.isEnabled()  # the last step reached
    assert len(lesson.done) == n and lesson.done == {s.id for s in lesson.lesson.steps}
    assert lesson.panel.dots.text().count("○") == 0
    # both dead ends were met and left through the lesson's own buttons, and the landscape step's second half
    assert taken == ["fgsm: Draw a 3 for me", "curve: Set MNIST folder…",
                     "masking: Follow the gradient without the defense"]
    # the curve ran with what the lab's form shows
    curve = window.lab.panel.curves[-1].curve
    assert window.lab.panel.eps() == list(curve.eps) and window.lab.panel.samples.value() == curve.n
    assert window.lab.panel.form.attack() == "fgsm"
    # the robust model was borrowed for its step: the student's (bundled) model is back and remembered
    qtbot.waitUntil(lambda: window.ctx.model_info.bundled, timeout=30000)
    assert lesson.borrowed is None and window.settings.value("model/last", "", str) == ""
    assert np.asarray(window.ctx.current_input).max() > 0.5
