"""Flat memory: the canvas's stroke history is bounded by the undo depth (a setting) without changing the ink, and
a long session through the real window (2,000 requests: strokes, ε moves, Activations dock requests) leaves the
resident set size and the live Python objects about where they were, with no forward hook left on the model.

The session's bounds come from measurements on a 2-core machine (see the numbers in the test's docstring); they
leave a wide margin for noise but not for one object per stroke, which is what the unbounded history leaked."""

from __future__ import annotations

import numpy as np
import pytest
from memory_load import footprint, prepare

from advstudio.gui.widgets.canvas import UNDO_DEPTH, UNDO_DEPTH_RANGE, DrawingCanvas, undo_depth_from

SESSION_REQUESTS = 2000
WARMUP_REQUESTS = 200  # caches (FGSM directions, pyqtgraph's transform cache, Qt's glyphs) fill here
MAX_RSS_GROWTH_MB = 15.0
MAX_OBJECT_GROWTH = 500  # the unbounded history alone added ~900 (one Stroke per stroke drawn)


def _stroke(i: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(i)
    x0, y0 = rng.uniform(40, 240, size=2)
    return [(x0 + 6 * k, y0 + 4 * k * (-1) ** i) for k in range(6)]


def _canvas(qtbot, depth: int) -> DrawingCanvas:
    c = DrawingCanvas()
    qtbot.addWidget(c)
    c.set_undo_depth(depth)
    return c


# ---------------------------------------------------------------------- the stroke history is bounded
def test_history_keeps_the_undo_depth_and_the_ink_is_unchanged(qtbot):
    small, big = _canvas(qtbot, 5), _canvas(qtbot, UNDO_DEPTH_RANGE[1])
    for i in range(40):
        for c in (small, big):
            c.add_stroke(_stroke(i), width=14, erase=i % 7 == 6)
            if i == 20:
                c.clear()  # a clear that falls out of the history
    assert len(small.strokes) == 5 and len(big.strokes) == 41
    np.testing.assert_array_equal(small.ink(), big.ink())
    for _ in range(5):
        small.undo()
        big.undo()
        np.testing.assert_array_equal(small.ink(), big.ink())
    assert not small.can_undo() and big.can_undo()
    small.undo()  # nothing left to undo: the older strokes stay
    np.testing.assert_array_equal(small.ink(), big.ink())
    for _ in range(5):
        small.redo()
        big.redo()
    np.testing.assert_array_equal(small.ink(), big.ink())
    np.testing.assert_array_equal(small.current_input(), big.current_input())


def test_an_opened_digit_edited_past_the_depth_gives_the_same_input(qtbot):
    digit = np.zeros((28, 28), np.float32)
    digit[6:22, 12:16] = 1.0
    small, big = _canvas(qtbot, 2), _canvas(qtbot, 50)
    for c in (small, big):
        c.set_base(digit)
        for i in range(6):
            c.add_stroke(_stroke(i), width=10)
    assert len(small.strokes) == 2
    np.testing.assert_array_equal(small.current_input(), big.current_input())
    small.clear()
    small.undo()  # the clear undone: the digit and every stroke are back
    np.testing.assert_array_equal(small.current_input(), big.current_input())


def test_lowering_the_depth_trims_history_and_redo(qtbot):
    c = _canvas(qtbot, 50)
    for i in range(10):
        c.add_stroke(_stroke(i))
    for _ in range(4):
        c.undo()
    before = c.ink()
    c.set_undo_depth(3)
    assert len(c.strokes) == 3 and len(c._redo) == 0
    np.testing.assert_array_equal(c.ink(), before)
    c.set_undo_depth(10**9)
    assert c.undo_depth == UNDO_DEPTH_RANGE[1]


@pytest.mark.parametrize("stored, depth, bad", [
    (None, UNDO_DEPTH, False), ("", UNDO_DEPTH, False), ("25", 25, False), (80, 80, False),
    ("junk", UNDO_DEPTH, True), ("nan", UNDO_DEPTH, True), ([3], UNDO_DEPTH, True), ("9" * 5000, UNDO_DEPTH, True),
    ("1e9", UNDO_DEPTH_RANGE[1], True), (10**400, UNDO_DEPTH_RANGE[1], True), ("-3", UNDO_DEPTH_RANGE[0], True),
    ("inf", UNDO_DEPTH, True),
])
def test_a_stored_undo_depth_is_validated_and_clamped(stored, depth, bad):
    got, problem = undo_depth_from(stored)
    assert got == depth and (problem is not None) == bad


def test_the_window_repairs_a_bad_stored_depth_and_edit_menu_sets_it(make_window, settings):
    settings.setValue("canvas/undo_depth", "a lot")
    w = make_window()
    assert w.studio.canvas.undo_depth == UNDO_DEPTH
    assert int(settings.value("canvas/undo_depth")) == UNDO_DEPTH  # the bad value is replaced
    assert w.actions_.undo_depths[UNDO_DEPTH].isChecked()
    w.actions_.undo_depths[10].trigger()
    assert w.studio.canvas.undo_depth == 10 and int(settings.value("canvas/undo_depth")) == 10
    for i in range(15):
        w.studio.canvas.add_stroke(_stroke(i))
    assert len(w.studio.canvas.strokes) == 10


def test_feature_maps_keep_their_plots_when_the_input_is_cleared(qtbot):
    from advstudio.core.activations import ActivationMonitor
    from advstudio.gui.features.activations.feature_maps import FeatureMapView

    view = FeatureMapView()
    qtbot.addWidget(view)
    comparison = _comparison(ActivationMonitor)
    view.set_data(comparison)
    boxes = dict(view.boxes)
    assert boxes
    view.set_data(None)  # the canvas cleared
    assert all(item.image is None for item in view.images.values())
    view.set_data(comparison)
    assert view.boxes == boxes  # the same view boxes, not new ones


def _comparison(monitor_class):
    import torch

    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model

    model, _ = load_model(bundled_model_path())
    x = torch.rand(1, 1, 28, 28)
    with monitor_class(model, feature_maps=True) as monitor:
        monitor.compare(x, (x + 0.1).clamp(0, 1))
        return monitor.comparison(attack="fgsm", params={"eps": 0.1})


# ---------------------------------------------------------------------- a long session through the window
def test_a_long_session_keeps_memory_flat_and_leaves_no_hooks(window):
    """2,000 requests after a 200-request warm-up. Measured with the bounded history (2 cores, offscreen):
    RSS +0 to +5 MB, objects +120 to +140, 0 hooks; with the history unbounded (reverted), objects +1,289."""
    driver = prepare(window)
    driver.run(WARMUP_REQUESTS)
    start = footprint(window)
    driver.run(SESSION_REQUESTS, WARMUP_REQUESTS)
    end = footprint(window)
    assert driver.done["activations"] == (WARMUP_REQUESTS + SESSION_REQUESTS) // 20  # the dock really answered
    grown_mb, grown_objects = (end.rss_kb - start.rss_kb) / 1024, end.objects - start.objects
    print(f"{SESSION_REQUESTS} requests: RSS {grown_mb:+.1f} MB, objects {grown_objects:+d}, hooks {end.hooks}")
    assert grown_objects < MAX_OBJECT_GROWTH, f"{grown_objects} more live objects after {SESSION_REQUESTS} requests"
    if start.rss_kb:  # Linux
        assert grown_mb < MAX_RSS_GROWTH_MB, f"RSS grew {grown_mb:.1f} MB over {SESSION_REQUESTS} requests"
    assert (start.hooks, end.hooks) == (0, 0)
    assert len(window.studio.canvas.strokes) <= window.studio.canvas.undo_depth
