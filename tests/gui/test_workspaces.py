"""Workspaces: each tab brings the side panels its activity needs; the user's choices are kept per tab (and
across restarts); the lesson is a column of its own on every tab and through presentation mode; messages appear
in the strip at the top of the window, where the user is looking."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from advstudio.gui.workspaces import ALL_PANELS, DEFAULTS, SETTINGS_KEY


def shown(window) -> set[str]:
    return {k for k, d in window.docks.items() if not d.isHidden()}


def test_each_tab_brings_its_own_panels(window):
    window.resize(1280, 720)
    for key, panels in DEFAULTS.items():
        window.show_tab(key)
        assert shown(window) == set(panels), key
    window.show_tab("attack")
    assert shown(window) == set(ALL_PANELS)  # the drawing tab gets everything back


def test_a_panel_the_user_shows_on_a_tab_is_kept_for_that_tab_and_across_a_restart(make_window, settings):
    window = make_window()
    window.show_tab("compare")
    window.docks["prediction"].toggleViewAction().trigger()  # View ▸ Panels ▸ Prediction
    assert "prediction" in shown(window)
    window.show_tab("robustness")
    assert "prediction" not in shown(window)  # another tab, its own panels
    window.show_tab("compare")
    assert shown(window) == {"input", "prediction"}
    window.docks["input"].close()  # the dock's own close button
    assert shown(window) == {"prediction"}
    window.save_settings()
    window.close()

    again = make_window(settings=settings)
    again.show_tab("compare")
    assert shown(again) == {"prediction"}
    again.show_tab("attack")
    assert shown(again) == set(ALL_PANELS)  # untouched tabs keep their defaults
    again.actions_.reset_layout.trigger()  # View ▸ Reset layout
    again.show_tab("compare")
    assert shown(again) == set(DEFAULTS["compare"])


@pytest.mark.parametrize("value", ["{not json", "[1, 2]", '{"plain": {"compare": "input"}}', '{"plain": 3}'])
def test_a_broken_saved_choice_falls_back_to_the_defaults(make_window, settings, value):
    settings.setValue(SETTINGS_KEY, value)
    window = make_window(settings=settings)
    window.show_tab("compare")
    assert shown(window) == set(DEFAULTS["compare"])


def test_the_lesson_is_a_column_of_its_own_on_every_tab(window):
    window.resize(1280, 720)
    window.show_tab("attack")
    window.lesson.start()
    lesson = window.docks["lesson"]
    for key in DEFAULTS:
        window.show_tab(key)
        QApplication.processEvents()
        assert not lesson.isHidden() and not window.tabifiedDockWidgets(lesson), key
        assert not lesson.visibleRegion().isEmpty(), key  # on screen, not a background tab
    window.show_tab("attack")
    assert {"gallery", "model", "activations"}.isdisjoint(shown(window))  # they made room for it
    lesson.close()
    assert shown(window) == set(ALL_PANELS)  # and come back when it goes


def test_a_step_panel_joins_the_lesson_and_leaves_on_the_next_step(window):
    window.show_tab("compare")
    window.lesson.start()
    assert window.show_dock("activations")
    assert "activations" in shown(window) and "lesson" in shown(window)
    window.unfocus_docks()
    assert "activations" not in shown(window) and "lesson" in shown(window)


def test_the_lesson_survives_presentation_mode(qtbot, window):
    window.lesson.start()
    window.presentation.set_active(True)
    qtbot.wait(300)
    assert not window.docks["lesson"].isHidden()
    assert shown(window) <= {"input", "prediction", "lesson"}  # the larger text needs the room
    window.presentation.set_active(False)
    qtbot.wait(300)
    assert not window.docks["lesson"].isHidden()
    assert window.workspace_bar.isVisible()


def test_a_lesson_opened_while_presenting_stays_after_it(qtbot, window):
    window.presentation.set_active(True)
    window.lesson.start()
    window.presentation.set_active(False)
    qtbot.wait(300)
    assert not window.docks["lesson"].isHidden()


def test_the_switcher_shows_every_tab_and_switches_both_ways(window):
    window.resize(1280, 720)
    bar = window.workspace_bar.switcher
    assert [bar.tabText(i) for i in range(bar.count())] == [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert bar.sizeHint().width() <= window.width()  # every title readable, no scroll arrows
    bar.setCurrentIndex(3)
    assert window.tabs.currentIndex() == 3
    window.show_tab("attack")
    assert bar.currentIndex() == window.tabs.currentIndex()
    assert all(bar.tabToolTip(i) for i in range(bar.count()))


def test_messages_show_in_the_strip_at_the_top(window):
    strip = window.workspace_bar.strip
    window.ctx.status("Saved the attack to the gallery.", 4000)
    assert strip.message() == "Saved the attack to the gallery." and strip.isVisible()
    assert strip.property("warning") is False
    window.ctx.status("Cannot read this file: it is not an image.", 4000)
    assert strip.property("warning") is True
    strip.close_button.click()
    assert strip.message() == ""
    assert window.statusBar().currentMessage() == "Cannot read this file: it is not an image."  # kept there too


def test_the_brush_slider_stays_a_slider_beside_the_lesson(qtbot, window):
    window.resize(1280, 720)
    window.show_tab("attack")
    window.lesson.start()
    qtbot.wait(200)
    assert window.studio.input_panel.brush.width() >= 40
