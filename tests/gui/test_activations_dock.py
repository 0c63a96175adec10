"""The Activations dock: histograms, table and feature maps hold the worker's comparison for the input and ε on
screen; log scale and the feature-map toggle; no activation jobs while the dock is hidden."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import draw_digit, set_eps, wait_settled

from advstudio.gui.features.activations.feature_maps import ADVERSARIAL, CLEAN, DIFFERENCE, grid_columns, tile


def wait_activations(qtbot, window):
    """Wait until the dock's data answers the current input and attack settings, draw it, and return it."""
    dock = window.activations

    def answered() -> None:
        d = dock.data
        assert d is not None and window.ctx.current_input is not None
        assert np.array_equal(d.image, window.ctx.current_input)
        assert d.settings == window.studio.attack_panel.controls.settings()

    qtbot.waitUntil(answered, timeout=30000)
    dock.panel.flush()
    assert dock.panel.shown is dock.data
    return dock.data


def curve_counts(panel, layer: str, which: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = panel.histograms.curves[layer][which].getOriginalDataset()
    return np.asarray(x), np.asarray(y)


def split_pair(text: str) -> tuple[float, float]:
    a, b = text.replace("%", "").split("→")
    return float(a), float(b)


def test_histograms_hold_the_comparison_counts_with_fixed_bins(qtbot, window):
    assert window.activations.wanted()  # visible by default
    draw_digit(qtbot, window, 3)
    set_eps(qtbot, window, 0.0)
    data = wait_activations(qtbot, window)
    panel = window.activations.panel
    c = data.comparison
    assert list(panel.histograms.curves) == list(c.clean.names) == ["relu1", "relu2", "relu3"]
    edges_at_zero = {}
    for layer in c.clean.names:
        x_clean, y_clean = curve_counts(panel, layer, "clean")
        x_adv, y_adv = curve_counts(panel, layer, "adversarial")
        assert np.array_equal(y_clean, c.clean.layer(layer).hist_counts)
        assert np.array_equal(y_adv, c.adversarial.layer(layer).hist_counts)
        assert np.array_equal(y_clean, y_adv)  # ε = 0: the same input twice
        assert np.array_equal(x_clean, c.clean.layer(layer).hist_edges) and np.array_equal(x_clean, x_adv)
        edges_at_zero[layer] = x_clean
    assert all(s.relative_shift == 0 and s.flip_fraction == 0 for s in c.shifts)

    for eps in (0.1, 0.25):
        set_eps(qtbot, window, eps)
        data = wait_activations(qtbot, window)
        c = data.comparison
        assert c.params["eps"] == eps
        differ = 0
        for layer in c.clean.names:
            x_clean, y_clean = curve_counts(panel, layer, "clean")
            x_adv, y_adv = curve_counts(panel, layer, "adversarial")
            assert np.array_equal(y_clean, c.clean.layer(layer).hist_counts)
            assert np.array_equal(y_adv, c.adversarial.layer(layer).hist_counts)
            assert np.array_equal(x_clean, edges_at_zero[layer])  # the bins stay put while ε moves
            differ += not np.array_equal(y_clean, y_adv)
        assert differ == len(c.clean.names)
        assert all(s.relative_shift > 0 for s in c.shifts)
        assert data.adv_label == window.ctx.analysis.attack.adv_label  # the dock and the attack panel agree
    assert f"ε = {0.25:.3f}" in panel.summary.text()


def test_table_numbers_match_the_comparison(qtbot, window):
    draw_digit(qtbot, window, 3)
    set_eps(qtbot, window, 0.2)
    c = wait_activations(qtbot, window).comparison
    table = window.activations.panel.table
    headers = [table.horizontalHeaderItem(k).text() for k in range(table.columnCount())]
    rows = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    assert headers == list(c.clean.names)
    assert rows == ["mean", "std", "max", "active %", "shift", "units flipped"]

    def cell(row: str, layer: str) -> str:
        return table.item(rows.index(row), headers.index(layer)).text()

    for layer in headers:
        clean, adv, shift = c.clean.layer(layer), c.adversarial.layer(layer), c.shift(layer)
        for row, a, b in (("mean", clean.mean, adv.mean), ("std", clean.std, adv.std), ("max", clean.max, adv.max)):
            assert split_pair(cell(row, layer)) == pytest.approx((a, b), rel=5e-3, abs=5e-4), (row, layer)
        active = (clean.active_fraction * 100, adv.active_fraction * 100)
        assert split_pair(cell("active %", layer)) == pytest.approx(active, abs=0.05)
        assert float(cell("shift", layer).rstrip(" %")) == pytest.approx(shift.relative_shift * 100, abs=0.05)
        assert float(cell("units flipped", layer).rstrip(" %")) == pytest.approx(shift.flip_fraction * 100, abs=0.05)
        assert shift.relative_shift > 0


def test_log_scale_checkbox_toggles_the_plots_log_mode(qtbot, window):
    draw_digit(qtbot, window, 3)
    wait_activations(qtbot, window)
    panel = window.activations.panel
    plots = panel.histograms.plots
    assert plots and not any(p.ctrl.logYCheck.isChecked() for p in plots.values())
    panel.log_check.setChecked(True)
    assert all(p.ctrl.logYCheck.isChecked() and p.getAxis("left").logMode for p in plots.values())
    assert all(c.opts["logMode"] == [False, True] for cs in panel.histograms.curves.values() for c in cs.values())
    panel.log_check.setChecked(False)
    assert not any(p.ctrl.logYCheck.isChecked() for p in plots.values())


def test_feature_map_toggle_switches_the_displayed_arrays(qtbot, window):
    draw_digit(qtbot, window, 3)
    set_eps(qtbot, window, 0.2)
    c = wait_activations(qtbot, window).comparison
    view = window.activations.panel.feature_maps
    window.activations.panel.tabs.setCurrentWidget(view)
    assert view.mode == CLEAN
    assert {k: v.shape for k, v in view.displayed.items()} == {"relu1": (32, 28, 28), "relu2": (64, 14, 14)}
    for name in ("relu1", "relu2"):
        assert np.array_equal(view.displayed[name], c.clean.feature_maps[name])
    view.buttons[ADVERSARIAL].click()
    assert view.mode == ADVERSARIAL
    for name in ("relu1", "relu2"):
        assert np.array_equal(view.displayed[name], c.adversarial.feature_maps[name])
    view.buttons[DIFFERENCE].click()
    for name in ("relu1", "relu2"):
        diff = c.adversarial.feature_maps[name] - c.clean.feature_maps[name]
        assert np.array_equal(view.displayed[name], diff) and np.abs(diff).max() > 0
        tiled, _ = tile(diff, grid_columns(diff.shape[0]))
        assert view.images[name].image.shape == (*tiled.shape, 3)  # one tiled RGB image per layer
    set_eps(qtbot, window, 0.0)
    wait_activations(qtbot, window)
    assert all(np.abs(v).max() == 0 for v in view.displayed.values())  # ε = 0: no difference
    view.set_mode(CLEAN)
    assert view.mode == CLEAN


def test_no_activation_jobs_while_the_dock_is_hidden(qtbot, window):
    submitted: list[str] = []
    submit = window.worker.submit

    def spy(kind, payload=None, **kw):
        submitted.append(kind)
        return submit(kind, payload, **kw)

    window.worker.submit = spy
    dock = window.docks["activations"]
    dock.hide()
    assert not window.activations.wanted()
    draw_digit(qtbot, window, 3)
    for eps in (0.05, 0.15):
        set_eps(qtbot, window, eps)
    assert "analyze" in submitted and "activations" not in submitted

    window.docks["model"].raise_()  # tabbed behind another dock counts as hidden too
    dock.show()
    window.docks["model"].raise_()
    qtbot.waitUntil(lambda: not window.activations.wanted())
    submitted.clear()
    set_eps(qtbot, window, 0.2)
    assert "activations" not in submitted

    dock.raise_()  # back in front: it catches up with the input and ε on screen
    qtbot.waitUntil(lambda: "activations" in submitted, timeout=5000)
    data = wait_activations(qtbot, window)
    assert data.settings.eps == 0.2
    wait_settled(qtbot, window)


def test_clearing_the_canvas_clears_the_dock(qtbot, window):
    draw_digit(qtbot, window, 7)
    wait_activations(qtbot, window)
    window.studio.canvas.clear()
    panel = window.activations.panel
    qtbot.waitUntil(lambda: panel.data is None)
    panel.flush()
    assert panel.shown is None and not panel.feature_maps.displayed
    assert all(text == "–" for text in (panel.table.item(r, 0).text() for r in range(panel.table.rowCount())))
