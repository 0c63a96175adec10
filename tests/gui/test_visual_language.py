"""One visual language: clean blue and adversarial orange from one palette in every view, δ colour bars on one
scale rule with their labels in view, keys (legends) beside the data rather than on it, placeholders in empty
plots, readable keys in the dark theme, and images of a readable size."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QFontMetrics, QPalette
from qt_helpers import draw_digit, set_eps, wait_settled

from advstudio.gui.features.lab.messages import LabSpec
from advstudio.gui.theme import _dark_palette
from advstudio.gui.widgets.attack_views import MIN_IMAGE, delta_scale, nice_ceil
from advstudio.gui.widgets.palette import DARK, LIGHT, colours, contrast


def _hue(colour: str) -> int:
    return QColor(colour).hsvHue()


def _is_blue(colour: str) -> bool:
    return 180 <= _hue(colour) <= 230


def _is_warm(colour: str) -> bool:
    """Orange, red or their warm neighbours (the adversarial family), never blue or green."""
    h = _hue(colour)
    return h <= 50 or h >= 300


def _brush_names(bars, k: int) -> list[str]:
    return [QColor(b).name().upper() for b in bars.items[k].opts["brushes"]]


def _window_rect(widget) -> QRect:
    return QRect(widget.mapTo(widget.window(), QPoint(0, 0)), widget.size())


def _data_rect(plot_widget) -> QRect:
    """The plot's data rectangle (its view box) in window coordinates."""
    vb = plot_widget.getPlotItem().getViewBox()
    scene = vb.sceneBoundingRect()
    view = plot_widget.mapFromScene(scene).boundingRect()
    return QRect(plot_widget.mapTo(plot_widget.window(), view.topLeft()), view.size())


def _run_small_lab(qtbot, window, idx_folder):
    window.ctx.data_dir = str(idx_folder(40))
    lab = window.lab
    with qtbot.waitSignal(lab.labFinished, timeout=60000):
        assert lab.run_lab([LabSpec(window.ctx.models.entries()[0], "fgsm", {})], [0.0, 0.1, 0.2], 20) is not None
    return lab.panel


# ---------------------------------------------------------------------------------------------- the palette
def test_the_palette_is_blue_for_clean_and_warm_for_adversarial_in_both_themes():
    for c, back in ((LIGHT, "#ffffff"), (DARK, "#1e1f22")):
        assert _is_blue(c.clean) and _is_blue(c.clean_strong) and _is_warm(c.adversarial)
        assert all(_is_warm(x) for x in c.adversarial_family)
        for colour in (c.clean, c.clean_strong, c.adversarial, c.neutral, *c.adversarial_family):
            assert contrast(colour, back) >= 3.0, colour  # a line or a bar stays visible on its background


def test_prediction_bars_are_clean_blue_not_orange(qtbot, window):
    draw_digit(qtbot, window, 3)
    wait_settled(qtbot, window)
    panel = window.studio.prediction_panel
    bars = panel.bars
    label = panel.prediction.label
    names = _brush_names(bars, 0)
    palette = colours(bars)
    assert names[label] == palette.clean_strong.upper()
    assert all(n == palette.clean.upper() for i, n in enumerate(names) if i != label)
    assert all(_is_blue(n) for n in names)
    # the Attack tab: clean blue beside adversarial orange, from the same palette
    verdict = window.studio.attack_panel.results.bars
    assert set(_brush_names(verdict, 0)) == {palette.clean.upper()}
    assert set(_brush_names(verdict, 1)) == {palette.adversarial.upper()}


def test_a_lab_curve_is_drawn_in_the_adversarial_family(qtbot, window, idx_folder):
    panel = _run_small_lab(qtbot, window, idx_folder)
    family = [c.upper() for c in colours(panel).adversarial_family]
    pen = panel.lines[0].opts["pen"]
    assert QColor(pen.color()).name().upper() == family[0]
    assert panel.key.entries[0].colour.upper() == family[0] and panel.key.labels() == [panel.curves[0].label()]


# ---------------------------------------------------------------------------------------------- colour bars
def test_the_delta_scale_rule():
    delta = np.zeros((28, 28), dtype=np.float32)
    delta[3, 4] = -0.43
    assert delta_scale(0.5, delta) == 0.5  # L∞: the attack's ε, whatever δ holds
    assert delta_scale(None, delta) == 0.5  # L2 (no ε): the largest |δ| rounded up
    assert [nice_ceil(x) for x in (0.43, 0.511, 1.677, 0.0123, 2.0)] == [0.5, 0.6, 2.0, 0.015, 2.0]


def test_an_l2_attack_colour_bar_is_labelled_by_its_largest_change(qtbot, window):
    from advstudio.gui.features.any_attack.view import TrajectoryView

    view = window.any_attack.panel.view
    assert isinstance(view, TrajectoryView)
    clean = np.zeros((28, 28), dtype=np.float32)
    iterate = clean.copy()
    iterate[10, 10] = 0.511
    s = delta_scale(None, iterate - clean)
    assert window.show_tab("attack_lab")
    view.display(clean, iterate, None, None, s)
    axis = view.colorbar.getAxis("right")
    qtbot.waitUntil(lambda: axis.width() == axis.fixedWidth, timeout=5000)  # laid out as on screen
    assert dict(axis._tickLevels[0]) == {-1.0: "−0.6", 0.0: "0", 1.0: "+0.6"}
    metrics = QFontMetrics(axis.style.get("tickFont") or axis.font())
    room = axis.width() - axis.style["tickTextOffset"][0] - axis.label.boundingRect().height()
    assert all(metrics.horizontalAdvance(t) <= room for t in ("−0.6", "+0.6"))
    assert axis.labelText == "pixel units"


# ---------------------------------------------------------------------------------------------- keys and placeholders
def test_the_lab_shows_a_placeholder_until_a_run_and_its_key_sits_outside_the_data(qtbot, window, idx_folder):
    window.resize(1280, 720)
    assert window.show_tab("robustness")
    panel = window.lab.panel
    assert panel.plot_area.empty and panel.plot_area.currentWidget().isVisible()
    assert "accuracy falls as ε grows" in panel.plot_area.message.text()
    assert not panel.plot.isVisible() and panel.details_area.empty
    _run_small_lab(qtbot, window, idx_folder)
    qtbot.waitUntil(lambda: panel.plot.isVisible(), timeout=5000)
    assert not panel.plot_area.empty and not panel.plot_area.message.isVisible() and not panel.details_area.empty
    assert panel.key.isVisible()
    assert not _window_rect(panel.key).intersects(_data_rect(panel.plot))
    labels = [text for _, text in panel.plot.getAxis("left")._tickLevels[0]]  # the accuracy axis reaches 100 %
    assert labels[0] == "0" and labels[-1] == "100"
    panel.clear()
    assert panel.plot_area.empty and not panel.key.isVisible()


def test_the_probability_key_is_above_the_bars(qtbot, window):
    bars = window.studio.attack_panel.results.bars
    item = bars.getPlotItem()
    key = item.titleLabel
    assert key.isVisible() and "clean" in key.text and "adversarial" in key.text
    assert not key.sceneBoundingRect().intersects(item.getViewBox().sceneBoundingRect())
    assert key.sceneBoundingRect().bottom() <= item.getViewBox().sceneBoundingRect().top()


def test_certify_and_defense_keys_sit_above_their_plots(window):
    certify, defenses = window.certify.panel, window.defense.panel
    for area, key in ((certify.curve_area, certify.curve_legend), (certify.roc_area, certify.roc_legend),
                      (defenses.plot_area, defenses.key)):
        figure = area.plot
        layout = figure.layout()
        assert layout.indexOf(key) == 0 and area.empty  # the key first, then the plot; a sentence until a run


def test_the_histogram_key_is_readable_in_the_dark_theme(qtbot, window):
    dark = _dark_palette()
    window.setPalette(dark)
    try:
        draw_digit(qtbot, window, 3)
        wait_settled(qtbot, window)
        panel = window.activations.panel
        key = panel.key
        assert key.isVisible()
        text = key.palette().color(QPalette.ColorRole.WindowText)
        back = key.palette().color(QPalette.ColorRole.Window)
        assert contrast(text, back) >= 7
        assert [e.colour for e in key.entries] == [DARK.clean, DARK.adversarial]
        assert all(contrast(e.colour, back) >= 3 for e in key.entries)
        assert DARK.adversarial in panel.caption.text()
        # the bars' key in the title row takes the dark theme's text colour
        bars = window.studio.attack_panel.results.bars
        assert dark.color(QPalette.ColorRole.Text).name() in bars.key_html()
        assert contrast(dark.color(QPalette.ColorRole.Text), dark.color(QPalette.ColorRole.Base)) >= 7
    finally:
        window.setPalette(QPalette())


# ---------------------------------------------------------------------------------------------- image size
@pytest.mark.parametrize("tab", ["attack", "attack_lab"])
def test_the_triptych_images_are_at_least_140_px(qtbot, window, tab):
    window.resize(1280, 720)
    assert window.show_tab(tab)
    draw_digit(qtbot, window, 3)
    set_eps(qtbot, window, 0.1)
    views = window.studio.attack_panel.views if tab == "attack" else window.any_attack.panel.view
    qtbot.waitUntil(lambda: views.glw.isVisible(), timeout=5000)
    qtbot.wait(100)
    for key in ("clean", "perturbation"):
        rect = views.glw.mapFromScene(views.images[key].sceneBoundingRect()).boundingRect()
        assert min(rect.width(), rect.height()) >= MIN_IMAGE - 2, (key, rect)


def _title_spans(views) -> list[tuple[float, float]]:
    spans = []
    for key in ("clean", "perturbation", "adversarial"):
        r = views.titles[key].item.sceneBoundingRect()
        spans.append((r.left(), r.right()))
    return spans


def test_triptych_titles_go_on_two_lines_rather_than_print_over_each_other(qtbot):
    """In a narrow view (Side by side beside the lesson, in presentation mode's larger font), a long column title
    wraps instead of overlapping its neighbour; in a wide view every title keeps one line."""
    from advstudio.gui.widgets.attack_views import AttackViews, ColumnTitle

    views = AttackViews()
    qtbot.addWidget(views)
    for title in views.titles.values():
        title.setText(title.text, size="14pt")
    views.resize(1400, 300)
    views.show()
    qtbot.wait(100)
    assert not any(t.wrapped for t in views.titles.values() if isinstance(t, ColumnTitle))
    views.resize(views.minimumSizeHint().width(), 300)
    qtbot.waitUntil(lambda: views.titles["adversarial"].wrapped, timeout=2000)
    qtbot.wait(100)
    spans = _title_spans(views)
    assert all(left_end <= right_start for (_, left_end), (right_start, _) in zip(spans, spans[1:])), spans
    views.resize(1400, 300)
    qtbot.waitUntil(lambda: not views.titles["adversarial"].wrapped, timeout=2000)
