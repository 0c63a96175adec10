"""No dead end at the flip: when FGSM flips nothing up to the slider's maximum ε, the Attack tab's banner says so
in the window and offers a demo 3, a thinner brush and PGD; the lesson's flip step accepts that path."""

from __future__ import annotations

from qt_helpers import drag, wait_settled

from advstudio.gui.messages import EPS_MAX

# An angular 3 drawn with the default brush that FGSM cannot flip up to ε = 0.5 (found by trying drawings).
STUBBORN_3 = [[(80, 60), (200, 60), (130, 130), (200, 190), (140, 240), (80, 220)]]


def _draw_stubborn(qtbot, window) -> None:
    window.studio.canvas.clear()
    with qtbot.waitSignal(window.ctx.analysisShown, timeout=30000):
        drag(window.studio.canvas, STUBBORN_3[0])
    wait_settled(qtbot, window)


def _find_flip(qtbot, window):
    with qtbot.waitSignal(window.ctx.flipFound, timeout=60000) as blocker:
        window.studio.find_flip()
    return blocker.args[0]


def _dead_end(qtbot, window):
    _draw_stubborn(qtbot, window)
    flip = _find_flip(qtbot, window)
    assert not flip.found and flip.clean_label == 3
    return window.studio.attack_panel.results


def test_the_banner_says_nothing_flips_and_offers_buttons(qtbot, window):
    assert window.studio.input_panel.brush.value() == 22  # the default brush
    results = _dead_end(qtbot, window)
    help_ = results.help
    assert help_.isVisible()
    assert "No ε up to 0.5" in help_.message.text() and "flips this 3" in help_.message.text()
    assert "Raise ε" not in results.banner.text() and "nor at any ε up to 0.5" in results.banner.text()
    for button, text in ((help_.demo_button, "Draw a 3 for me"), (help_.thinner_button, "Thinner brush"),
                         (help_.pgd_button, "Try a stronger attack (PGD)")):
        assert button.isVisible() and button.text() == text
    # at the slider's maximum the banner does not ask for more ε
    window.studio.controls.set_eps(EPS_MAX)
    wait_settled(qtbot, window)
    assert not window.ctx.analysis.attack.flipped
    assert "Raise ε" not in results.banner.text() and "largest ε" in results.banner.text()
    assert help_.isVisible()
    window.studio.canvas.clear()  # a new input: the search must run again
    assert not help_.isVisible()


def test_below_the_maximum_the_banner_still_says_raise_eps(qtbot, window):
    _draw_stubborn(qtbot, window)
    results = window.studio.attack_panel.results
    assert "Raise ε." in results.banner.text()
    assert not results.help.isVisible()


def test_draw_a_3_for_me_draws_the_demo_and_finds_its_flip(qtbot, window):
    help_ = _dead_end(qtbot, window).help
    with qtbot.waitSignal(window.ctx.flipFound, timeout=60000) as blocker:
        help_.demo_button.click()
    assert blocker.args[0].found and blocker.args[0].clean_label == 3
    assert window.current_tab() == "attack"
    assert not help_.isVisible()
    wait_settled(qtbot, window)
    assert window.ctx.analysis.attack.flipped  # the slider moved to the flip


def test_thinner_brush_halves_the_brush_and_clears(qtbot, window):
    results = _dead_end(qtbot, window)
    results.help.thinner_button.click()
    assert window.studio.input_panel.brush.value() == 11
    assert window.studio.canvas.brush_width == 11
    assert window.ctx.current_input is None
    assert "brush is now 11 px" in results.banner.text() and "draw your digit again" in results.banner.text()
    assert not results.help.isVisible()
    _draw_stubborn(qtbot, window)  # drawn again, thinner
    assert window.ctx.current_input is not None


def test_try_pgd_runs_it_on_this_input_in_any_attack(qtbot, window):
    results = _dead_end(qtbot, window)
    drawn = window.ctx.current_input.copy()
    with qtbot.waitSignal(window.any_attack.inputAttackShown, timeout=60000) as blocker:
        results.help.pgd_button.click()
        assert window.current_tab() == "attack_lab"
        assert window.any_attack.panel.form.attack() == "pgd"
    result = blocker.args[0]
    assert result.attack == "pgd" and (result.clean == drawn).all()
    assert result.success  # PGD flips what FGSM could not


def _lesson_at_flip_step(qtbot, window):
    lesson = window.lesson
    ids = [s.id for s in lesson.lesson.steps]
    lesson.start(ids.index("fgsm"))
    qtbot.wait(20)
    assert not lesson.evaluate()
    return lesson


def test_the_lessons_flip_step_passes_after_draw_a_3_for_me(qtbot, window):
    lesson = _lesson_at_flip_step(qtbot, window)
    help_ = _dead_end(qtbot, window).help
    qtbot.wait(20)
    assert not lesson.evaluate()
    assert "Draw a 3 for me" in lesson.panel.check.text()  # the lesson points at the way out
    with qtbot.waitSignal(lesson.checkPassed, timeout=60000) as blocker:
        help_.demo_button.click()
    assert blocker.args == ["fgsm"]


def test_the_lessons_flip_step_passes_after_pgd(qtbot, window):
    lesson = _lesson_at_flip_step(qtbot, window)
    help_ = _dead_end(qtbot, window).help
    with qtbot.waitSignal(lesson.checkPassed, timeout=60000) as blocker:
        help_.pgd_button.click()
    assert blocker.args == ["fgsm"]
