"""The window on a 1280×720 projector: it opens at the screen's size, its minimum size fits 1280×680 on every
tab, in presentation mode and after it, with the side panels hidden and shown, it never grows by itself, and no
visible widget is squeezed below its minimum size hint. The offscreen platform gets a 1280×720 screen from a
config file (QT_QPA_PLATFORM=offscreen:configfile=…), in a child process since the platform is chosen once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import json, sys
    import pyqtgraph as pg
    pg.setConfigOptions(imageAxisOrder="row-major", useOpenGL=False)
    from PySide6.QtCore import QEventLoop, QSettings, QSize, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMainWindow, QSizePolicy, QWidget
    app = QApplication([])
    from advstudio.gui.window import MainWindow

    def spin(ms):
        loop = QEventLoop(); QTimer.singleShot(ms, loop.quit); loop.exec()

    def smallest(x):
        """The least size Qt's layouts give a widget (as qSmartMinSize does): its minimum size hint, except where
        it sets a minimum of its own, ignores the hint (size policy Ignored) or caps it with a maximum; a widget
        whose height follows its width (a wrapped label) needs only its height at the width it has."""
        hint, least, most, policy = x.minimumSizeHint(), x.minimumSize(), x.maximumSize(), x.sizePolicy()
        ignored = QSizePolicy.Policy.Ignored
        w = least.width() or (0 if policy.horizontalPolicy() == ignored else hint.width())
        h = least.height() or (0 if policy.verticalPolicy() == ignored else hint.height())
        if x.hasHeightForWidth() and not least.height():
            h = min(h, x.heightForWidth(QWidget.width(x)))
        return QSize(min(w, most.width()), min(h, most.height()))

    def squeezed(w):
        """Visible widgets smaller than their minimum size hint, leaving out Qt's own parts (a spin box's line
        edit, a tab bar's scroll buttons, a table's header) and what sits inside a scroll area's viewport."""
        out = []
        for x in w.findChildren(QWidget):
            if not x.isVisible() or x.objectName().startswith("qt_") or x.parent() is None:
                continue
            if x.visibleRegion().isEmpty():  # not on screen: a dock tabbed behind another is moved off it
                continue
            name = type(x).__name__
            if isinstance(x.parent(), QMainWindow) and name == "QTabBar":  # the dock tabs: Qt sizes them itself
                continue
            if name in ("QHeaderView", "QToolButton", "QScrollBar") or x.parent().objectName() == "qt_scrollarea_viewport":
                continue
            hint = smallest(x)
            size = QWidget.size(x)
            if size.width() < hint.width() or size.height() < hint.height():
                out.append(f"{name} {x.objectName()} {size.toTuple()} < {hint.toTuple()}")
        return out

    settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, report_error=lambda title, message: None)
    w.show()
    spin(1500)
    out = {"opened": QWidget.size(w).toTuple(), "frame": w.frameGeometry().size().toTuple(), "states": [],
           "pgdown": None}
    def record(state):
        spin(300)
        lesson = w.docks["lesson"]
        out["states"].append({"state": state, "min": w.minimumSizeHint().expandedTo(w.minimumSize()).toTuple(),
                              "size": QWidget.size(w).toTuple(), "squeezed": squeezed(w),
                              "lesson": lesson.isVisible() and not lesson.visibleRegion().isEmpty(),
                              "lesson_width": lesson.width() if lesson.isVisible() else 0})
    keys = list(w.tab_widgets)
    for key in keys:
        w.show_tab(key); record(f"tab {key}")
    w.hide_side_panels(True); record("side panels hidden")
    w.hide_side_panels(False); record("side panels shown")
    w.presentation.set_active(True); spin(1200)
    for key in keys:
        w.show_tab(key); record(f"presentation, tab {key}")
    w.presentation.set_active(False); spin(1200)
    for key in keys:
        w.show_tab(key); record(f"after presentation, tab {key}")
    w.show_tab("attack")
    w.lesson.start(); record("lesson, tab attack")
    for key in keys:
        w.show_tab(key); record(f"lesson, tab {key}")
    w.show_tab("attack")
    w.show_dock("activations"); record("lesson, a step's panel")
    w.unfocus_docks(); record("lesson, the step's panel gone")
    w.presentation.set_active(True); spin(1200)
    for key in keys:
        w.show_tab(key); record(f"lesson, presentation, tab {key}")
    w.show_dock("activations"); record("lesson, presentation, a step's panel")
    w.unfocus_docks()
    w.presentation.set_active(False); spin(1200)
    w.show_tab("attack"); record("lesson, after presentation")
    w.docks["lesson"].close(); record("lesson closed")
    w.show_tab(keys[0]); spin(100)
    before = w.tabs.currentIndex()
    QTest.keyClick(w.tabs.currentWidget(), Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    spin(100)
    out["pgdown"] = [before, w.tabs.currentIndex()]
    w.close()
    print("RESULT" + json.dumps(out))
''')


@pytest.fixture(scope="module")
def fit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fit")
    config = tmp / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "projector", "x": 0, "y": 0, "width": 1280, "height": 720,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}", OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp / "advstudio.ini")], env=env, capture_output=True,
                         text=True, timeout=300)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT"):])


def test_opens_at_the_screen_size(fit):
    frame, size = fit["frame"], fit["opened"]
    assert frame[0] <= 1280 and frame[1] <= 720  # with its frame (if the platform draws one) on the screen
    assert size[0] >= 1240 and size[1] >= 680  # and filling it


def test_minimum_size_fits_1280x680_in_every_state(fit):
    too_big = [(s["state"], s["min"]) for s in fit["states"] if s["min"][0] > 1280 or s["min"][1] > 680]
    assert not too_big


def test_never_grows_by_itself(fit):
    grown = [(s["state"], s["size"]) for s in fit["states"] if s["size"][0] > 1280 or s["size"][1] > 720]
    assert not grown


def test_leaving_presentation_mode_gives_back_the_whole_screen(fit):
    after = [(s["state"], s["size"]) for s in fit["states"] if "after presentation" in s["state"]]
    assert after and all(size == fit["opened"] for _, size in after), after


def test_the_lesson_is_a_visible_column_on_every_tab_and_in_presentation_mode(fit):
    lesson_states = [s for s in fit["states"] if s["state"].startswith("lesson") and s["state"] != "lesson closed"]
    assert len(lesson_states) >= 2 * 7
    hidden = [s["state"] for s in lesson_states if not s["lesson"] or s["lesson_width"] < 220]
    assert not hidden
    assert not next(s for s in fit["states"] if s["state"] == "lesson closed")["lesson"]


def test_no_visible_widget_below_its_minimum_size_hint(fit):
    squeezed = {s["state"]: s["squeezed"] for s in fit["states"] if s["squeezed"] and "presentation," not in s["state"]}
    assert not squeezed, json.dumps(squeezed, indent=1)


def test_no_visible_widget_below_its_minimum_size_hint_in_presentation_mode(fit):
    squeezed = {s["state"]: s["squeezed"] for s in fit["states"] if s["squeezed"] and "presentation," in s["state"]}
    assert not squeezed, json.dumps(squeezed, indent=1)


def test_ctrl_page_down_moves_to_the_next_tab(fit):
    before, after = fit["pgdown"]
    assert after == before + 1
