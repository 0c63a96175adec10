"""The guided lesson dock (every step reachable, each step's check fires when its action is done, other lesson
files and broken ones) and presentation mode (chrome hidden, fonts and plot lines scaled, all restored)."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtWidgets import QApplication
from qt_helpers import draw_digit, set_eps, wait_settled

from advstudio.core.lesson import lesson_path


def _fire(qtbot, lesson, step_id: str, timeout: int = 30000):
    """Perform the current step's own action and wait for its check."""
    assert lesson.step.id == step_id
    with qtbot.waitSignal(lesson.checkPassed, timeout=timeout, check_params_cb=lambda sid: sid == step_id):
        lesson.perform_action()
    assert step_id in lesson.done
    assert "✓ done" in lesson.panel.check.text()


def test_every_step_can_be_reached_with_next_and_back(qtbot, window):
    lesson = window.lesson
    assert not lesson.dock.isVisible()
    window.lesson.start_action.trigger()
    assert lesson.dock.isVisible() and lesson.index == 0
    n = len(lesson.lesson.steps)
    assert n == 10
    seen = []
    for k in range(n):
        assert lesson.panel.step_label.text() == f"Step {k + 1} of {n}"
        assert lesson.panel.bar.value() == k + 1 and lesson.panel.bar.maximum() == n
        assert lesson.panel.title.text() == lesson.lesson.steps[k].title
        assert lesson.panel.body.toPlainText().strip()
        seen.append(lesson.step.id)
        assert lesson.panel.back.isEnabled() == (k > 0)
        if k < n - 1:
            assert lesson.panel.next.isEnabled()  # allowed before the step's check is done
            lesson.panel.next.click()
    assert not lesson.panel.next.isEnabled()
    assert seen == [s.id for s in lesson.lesson.steps]
    qtbot.waitUntil(lambda: "lessons" in lesson.done)  # the last step only asks to be read
    lesson.panel.back.click()
    assert lesson.index == n - 2 and lesson.panel.check.text().startswith("waiting:")
    lesson.next_action.trigger()
    assert lesson.index == n - 1
    assert lesson.panel.dots.text().count("○") == n - 1  # the rest are not done; the current (read) one is ◉


def test_each_steps_check_fires_when_its_action_is_done(qtbot, window):
    from advstudio.core.resources import robust_model_path

    lesson = window.lesson
    lesson.start(0)
    window.docks["activations"].raise_()  # the Model dock is behind it: step 1's check must wait
    qtbot.wait(50)
    assert not lesson.evaluate()
    assert lesson.panel.check.text() == "waiting: open the Model panel (the button above)"
    _fire(qtbot, lesson, "model")
    assert window.docks["model"].isVisible()
    # the body quotes the model file's own numbers
    lesson.next()
    assert f"{window.ctx.model_info.accuracy * 100:.2f}%" in lesson.panel.body.toPlainText()
    _fire(qtbot, lesson, "clean")
    lesson.next()
    assert not lesson.evaluate()  # nothing drawn yet
    _fire(qtbot, lesson, "draw")
    assert window.ctx.current_input is not None and window.ctx.current_input.max() > 0.5
    lesson.next()
    _fire(qtbot, lesson, "fgsm")
    assert window.ctx.flip is not None and window.ctx.flip.found
    wait_settled(qtbot, window)
    assert window.ctx.analysis.attack.flipped  # the slider moved to the flip
    lesson.next()
    assert not lesson.evaluate()
    lesson._sweep_timer.setInterval(150)
    _fire(qtbot, lesson, "invisible", timeout=20000)
    assert {0.0, 0.3} <= lesson.checks.range[1]
    lesson.go(lesson.lesson.index_of("inside"))
    window.docks["model"].raise_()
    qtbot.wait(50)
    assert not lesson.evaluate()
    _fire(qtbot, lesson, "inside")
    assert window.activations.data is not None
    lesson.next()
    assert lesson.step.id == "masking"
    with qtbot.waitSignal(window.explain.landscapeShown, timeout=120000):
        lesson.perform_action()  # the landscape behind JPEG, along the (zero) gradient it shows
    assert window.ctx.current_tab() == "explain" and not lesson.evaluate()
    offer = next(b for b in lesson.panel.way_out_buttons if b.isVisible())  # the step's second half
    assert offer.text() == "Follow the gradient without the defense"
    with qtbot.waitSignal(lesson.checkPassed, timeout=120000, check_params_cb=lambda sid: sid == "masking"):
        offer.click()
    assert window.explain.panel.landscape.direction.currentData() == "bpda"
    lesson.next()
    assert lesson.step.id == "defend"
    assert robust_model_path().is_file(), "the robust model ships with the app (resources/)"
    assert not lesson.panel.note.isVisible()
    assert "records no robust accuracy" in lesson.panel.body.toPlainText()  # the standard model is still loaded
    _fire(qtbot, lesson, "defend")
    assert window.ctx.model_info.path == str(robust_model_path())
    assert not window.ctx.model_info.bundled
    assert window.ctx.analysis.attack.eps >= 0.1
    body = lesson.panel.body.toPlainText()  # the step now headlines the robust model's strongest figure
    assert "at ε = 0.3 under AutoAttack standard, the strongest attack we have" in body, body
    assert "Robust accuracy" in window.studio.model_panel.text.text()


def test_the_defend_step_without_a_bundled_robust_model(qtbot, window, tmp_path, monkeypatch):
    """An installation without the robust model says so, and any model but the bundled one passes the step."""
    from advstudio.core import resources

    monkeypatch.setattr(resources, "robust_model_path", lambda: tmp_path / "absent_robust.safetensors")
    draw_digit(qtbot, window, 3)
    set_eps(qtbot, window, 0.2)
    lesson = window.lesson
    lesson.start(lesson.lesson.index_of("defend"))
    assert "not bundled" in lesson.panel.note.text() and lesson.panel.note.isVisible()
    assert lesson.perform_action() is False
    assert "not bundled with this installation" in window.ctx.errors[-1]
    # the way out: open a model of one's own (the file dialog stood in for)
    assert "not in this installation" in lesson.panel.check.text()
    offer = lesson.panel.way_out_buttons[0]
    assert offer.isVisible() and offer.text() == "Open a model…"
    other = tmp_path / "my_robust.safetensors"  # any model other than the bundled one counts
    shutil.copy(resources.bundled_model_path(), other)
    monkeypatch.setattr("advstudio.gui.model_dialog.ask_model_path", lambda ctx, title: str(other))
    with qtbot.waitSignal(lesson.checkPassed, timeout=30000, check_params_cb=lambda sid: sid == "defend"):
        offer.click()
    assert not window.ctx.model_info.bundled and window.ctx.analysis.attack.eps >= 0.1
    assert lesson.borrowed is None  # the student's own choice: it stays their model
    assert window.settings.value("model/last", "", str) == str(other)


def test_the_curve_step_runs_fgsm_on_the_test_set(qtbot, window, mnist_dir):
    window.ctx.data_dir = str(mnist_dir)
    form = window.lab.panel
    form.eps_edit.setText("0, 0.4")  # what the student left in the form: the lesson's run replaces it
    form.form.targeted.setChecked(True)
    lesson = window.lesson
    lesson.start(lesson.lesson.index_of("curve"))
    assert not lesson.evaluate()
    _fire(qtbot, lesson, "curve", timeout=120000)
    curves = window.lab.panel.curves
    assert len(curves) == 1 and curves[0].attack == "fgsm"
    assert window.current_tab() == "robustness"
    c = curves[0].curve
    assert list(c.eps) == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3] and c.n == 500
    # the form shows what ran: the lesson's ε list, its sample count, untargeted FGSM, only this model ticked
    assert form.eps() == list(c.eps) and form.eps_edit.text() == "0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3"
    assert form.samples.value() == c.n and form.form.attack() == "fgsm" and form.form.target_class() is None
    assert not c.params.get("targeted")  # the form's "targeted" was ticked; the lesson's curve is untargeted
    assert form.checked_models() == [curves[0].model.key]
    assert c.accuracy[0] > 0.9 and c.accuracy[-1] < c.accuracy[0]  # measured: the attack costs accuracy


def _custom(tmp_path, steps) -> str:
    path = tmp_path / "lesson.json"
    path.write_text(json.dumps({"format": "advstudio-lesson/1", "title": "Mine", "steps": steps}), encoding="utf-8")
    return str(path)


def test_a_teachers_lesson_file_and_a_broken_one(qtbot, window, tmp_path):
    lesson = window.lesson
    path = _custom(tmp_path, [
        {"id": "eps", "title": "Push ε", "body": "Drag ε to 0.2.",
         "action": {"label": "Set ε = 0.2", "do": "set_eps:0.2"}, "check": {"kind": "eps_at_least", "value": 0.2}},
        {"id": "lab", "title": "Lab", "body": "Open the lab.", "check": {"kind": "tab_shown", "tab": "robustness"}},
    ])
    assert lesson.load(path)
    assert window.settings.value("lesson/file") == path
    lesson.start(0)
    assert lesson.panel.step_label.text() == "Step 1 of 2"
    # set_eps does not draw: with nothing on the canvas the step says so and offers to draw
    assert "Draw a digit first" in lesson.panel.check.text()
    assert lesson.panel.way_out_buttons[0].isVisible()
    draw_digit(qtbot, window, 7)
    qtbot.waitUntil(lambda: lesson.panel.check.text() == "waiting: drag ε to 0.2 or more")
    assert not lesson.panel.way_out_buttons[0].isVisible()
    with qtbot.waitSignal(lesson.checkPassed, timeout=30000):
        set_eps(qtbot, window, 0.25)  # the student does it by hand
    lesson.next()
    assert not lesson.panel.action_button.isVisible()
    with qtbot.waitSignal(lesson.checkPassed, timeout=5000):
        window.show_tab("robustness")
    # a broken file is reported with its step and field, and the lesson on screen stays
    broken = tmp_path / "broken"
    broken.mkdir()
    bad = json.loads(lesson_path("en").read_text(encoding="utf-8"))
    bad["steps"][2]["check"] = {"kind": "magic"}
    (broken / "lesson.json").write_text(json.dumps(bad), encoding="utf-8")
    assert not lesson.load(broken)
    assert "step 3 ('draw')" in window.ctx.errors[-1] and "check.kind" in window.ctx.errors[-1]
    assert lesson.lesson.title == "Mine" and window.settings.value("lesson/file") == path


def test_a_missing_lesson_setting_falls_back_to_the_bundled_lesson(make_window, settings, tmp_path):
    settings.setValue("lesson/file", str(tmp_path / "gone.json"))
    w = make_window()
    assert w.lesson.lesson is not None and len(w.lesson.lesson.steps) == 10
    assert "gone.json" in w.lesson.panel.note.text()


def test_presentation_mode_hides_the_chrome_and_scales_fonts_and_lines(qtbot, window):
    from advstudio.gui.presentation import FONT_SCALE, presentation_scale

    app = QApplication.instance()
    size = app.font().pointSizeF()
    line = window.studio.model_panel.line  # the model's FGSM curve, drawn with width 2
    width = line.opts["pen"].widthF()
    digit_size = window.studio.prediction_panel.digit.font().pointSizeF()
    window.lesson.start(3)
    window.presentation.action.trigger()  # F11
    assert window.presentation.active and window.isFullScreen()
    assert not window.menuBar().isVisible() and not window.statusBar().isVisible()
    assert app.font().pointSizeF() == pytest.approx(size * FONT_SCALE)
    assert presentation_scale() == FONT_SCALE
    assert line.opts["pen"].widthF() >= 2 * width
    assert window.studio.prediction_panel.digit.font().pointSizeF() == pytest.approx(digit_size * FONT_SCALE)
    from PySide6.QtCore import Qt

    lesson = window.lesson.dock
    assert lesson.isVisible() and window.dockWidgetArea(lesson) == Qt.DockWidgetArea.RightDockWidgetArea
    assert not window.tabifiedDockWidgets(lesson)  # a column of its own, not a tab behind Prediction
    assert not window.docks["activations"].isVisible() and not window.docks["gallery"].isVisible()
    assert window.docks["input"].isVisible()
    window.lesson.go(window.lesson.lesson.index_of("inside"))
    window.lesson.perform_action()  # the Activations panel comes up; the input column makes room for it
    assert window.docks["activations"].isVisible() and not window.docks["input"].isVisible()
    window.lesson.next()
    assert window.docks["input"].isVisible() and not window.docks["activations"].isVisible()
    window.presentation.escape.activated.emit()  # Esc leaves
    assert lesson.isVisible() and not window.tabifiedDockWidgets(lesson)  # it stays a column of its own
    assert window.docks["input"].isVisible() and window.docks["prediction"].isVisible()
    assert not window.presentation.active and not window.presentation.action.isChecked()
    assert not window.isFullScreen() and window.menuBar().isVisible() and window.statusBar().isVisible()
    assert app.font().pointSizeF() == pytest.approx(size)
    assert line.opts["pen"].widthF() == pytest.approx(width)
    assert window.studio.prediction_panel.digit.font().pointSizeF() == pytest.approx(digit_size)
    assert presentation_scale() == 1.0


def test_the_lesson_resumes_where_the_student_left_it_after_a_restart(qtbot, make_window, settings):
    first = make_window()
    lesson = first.lesson
    lesson.start(0)
    _fire(qtbot, lesson, "model")
    lesson.go(lesson.lesson.index_of("draw"))
    _fire(qtbot, lesson, "draw")
    lesson.panel.next.click()
    assert lesson.step.id == "fgsm"
    first.close()
    again = make_window()  # the same settings: the next start shows the lesson where it was
    lesson = again.lesson
    assert lesson.dock.isVisible() and lesson.index == 3 and lesson.done == {"model", "draw"}
    lesson.toggle_action.trigger()  # Ctrl+L hides it, and reopens it there
    assert not lesson.dock.isVisible()
    lesson.toggle_action.trigger()
    assert lesson.dock.isVisible() and lesson.step.id == "fgsm"
    assert lesson.panel.step_label.text() == "Step 4 of 10" and lesson.panel.dots.text().startswith(
        '<span style="color:#2e7d32">●</span>○<span style="color:#2e7d32">●</span>◉')
    lesson.panel.start_over.click()  # Start over: step 1, the marks gone, and so saved
    assert lesson.index == 0 and "draw" not in lesson.done
    assert lesson.done <= {"model"}  # only step 1 may pass again at once: its panel is still on screen
    assert settings.value("lesson/progress/bundled-en/step", 0, int) == 1
    assert "draw" not in settings.value("lesson/progress/bundled-en/done", "draw", str)


def test_a_broken_saved_step_falls_back_to_step_1(qtbot, make_window, settings):
    settings.setValue("lesson/progress/bundled-en/step", "eleventy")
    settings.setValue("lesson/progress/bundled-en/done", "draw,no-such-step")
    w = make_window()
    assert w.lesson.index == 0 and w.lesson.done == {"draw"}
    w.lesson.toggle_action.trigger()
    assert w.lesson.panel.step_label.text() == "Step 1 of 10"
    settings.setValue("lesson/progress/bundled-en/step", 99)
    assert make_window().lesson.index == 0


def test_a_step_that_needs_a_digit_offers_to_draw_one(qtbot, window):
    lesson = window.lesson
    lesson.start(lesson.lesson.index_of("inside"))
    assert window.ctx.current_input is None
    qtbot.wait(20)
    assert "Draw a digit first" in lesson.panel.check.text()
    offer = lesson.panel.way_out_buttons[0]
    assert offer.isVisible() and offer.text() == "Draw a 3 for me"
    offer.click()
    assert window.ctx.current_input is not None and not offer.isVisible()
    _fire(qtbot, lesson, "inside")


def _load_robust(qtbot, window) -> None:
    """Press the defend step's "Load the robust model" and wait until the robust model answers on screen."""
    from advstudio.core.resources import robust_model_path

    with qtbot.waitSignal(window.ctx.modelReady, timeout=30000) as blocker:
        window.lesson.panel.action_button.click()
    assert blocker.args[0].path == str(robust_model_path())
    wait_settled(qtbot, window)


def test_the_robust_model_is_borrowed_for_its_step_only(qtbot, make_window, settings, tmp_path):
    from advstudio.core.resources import bundled_model_path

    window = make_window()
    mine = tmp_path / "my_model.safetensors"
    shutil.copy(bundled_model_path(), mine)
    with qtbot.waitSignal(window.ctx.modelReady, timeout=30000):
        window.studio.open_model(mine)
    assert settings.value("model/last", "", str) == str(mine)
    name = window.ctx.model_info.name
    draw_digit(qtbot, window, 3)
    set_eps(qtbot, window, 0.05)  # below the step's ε: the action raises it
    lesson = window.lesson
    lesson.start(lesson.lesson.index_of("defend"))
    _load_robust(qtbot, window)
    assert window.ctx.analysis.attack.eps >= 0.1 and "defend" in lesson.done
    assert settings.value("model/last", "", str) == str(mine)  # not remembered as the student's model
    assert f"your model ({name}) comes back when you leave this step" in lesson.panel.note.text()
    assert lesson.panel.note.isVisible()
    restarted = make_window()  # quitting now: the next start has the student's model
    assert restarted.ctx.model_info.path == str(mine)
    restarted.close()
    with qtbot.waitSignal(window.ctx.modelReady, timeout=30000) as blocker:
        lesson.panel.next.click()  # the step ends: the student's model comes back
    assert blocker.args[0].path == str(mine) and lesson.borrowed is None
    assert "comes back" not in lesson.panel.note.text()
    assert settings.value("model/last", "", str) == str(mine)
    lesson.panel.back.click()  # again, and this time the lesson is closed
    _load_robust(qtbot, window)
    with qtbot.waitSignal(window.ctx.modelReady, timeout=30000) as blocker:
        lesson.toggle_action.trigger()
    assert not lesson.dock.isVisible() and blocker.args[0].path == str(mine)


def test_the_robust_model_pressed_for_before_the_first_model_loaded_is_still_borrowed(qtbot, settings):
    """A student quick to press "Load the robust model" at start: the model being loaded then is theirs."""
    from advstudio.core.resources import robust_model_path
    from advstudio.gui.window import MainWindow

    window = MainWindow(settings=settings, report_error=lambda title, message: None)
    try:
        window.show()
        lesson = window.lesson
        lesson.start(lesson.lesson.index_of("defend"))
        assert window.ctx.model_info is None  # still loading the model it starts with
        lesson.perform_action()
        qtbot.waitUntil(lambda: window.ctx.model_info is not None
                        and window.ctx.model_info.path == str(robust_model_path()), timeout=30000)
        assert settings.value("model/last", "", str) == ""  # the bundled model stays the one to start with
        assert lesson.borrowed is not None and "comes back" in lesson.panel.note.text()
        lesson.panel.next.click()
        qtbot.waitUntil(lambda: window.ctx.model_info.bundled, timeout=30000)
        assert lesson.borrowed is None
    finally:
        window.close()


def test_a_curve_run_that_fails_on_damaged_mnist_files_says_why_and_offers_another_folder(qtbot, window, idx_folder):
    folder = idx_folder(50)
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:200])  # a download cut short: the header is there, the pixels are not
    window.ctx.set_data_dir(folder)
    lesson = window.lesson
    lesson.start(lesson.lesson.index_of("curve"))
    with qtbot.waitSignal(window.lab.labFailed, timeout=30000):
        lesson.perform_action()
    qtbot.waitUntil(lambda: "The robustness curve stopped" in lesson.panel.check.text(), timeout=5000)
    offer = lesson.panel.way_out_buttons[0]
    assert offer.isVisible() and offer.text() == "Set MNIST folder…"
    assert "curve" not in lesson.done
