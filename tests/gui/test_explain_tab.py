"""The "Why it breaks" tab: attribution maps follow the drawing and ε live, for the model in use and the robust
one; the landscape (plain model, and JPEG in front of it with the gradient it shows and with BPDA), the decision
plane with the attack's path, and the projection of test digits with the drawing's path; an empty canvas and a
missing MNIST folder are said in the tab; cancelling the projection changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from advstudio.core.explain.words import attribution_verdict, boundary_verdict, landscape_verdict, nearest_class
from advstudio.gui.demo import digit_strokes
from advstudio.gui.features.explain.controller import ROBUST_NAME, STANDARD_NAME


def _draw(qtbot, w, digit=3):
    w.ctx.request_strokes(digit_strokes(digit))
    qtbot.waitUntil(lambda: w.ctx.current_input is not None and w.ctx.current_input.any(), timeout=20000)


@pytest.fixture
def ewindow(make_window, qtbot):
    w = make_window()
    _draw(qtbot, w)
    return w


def _show(qtbot, w):
    ctl = w.explain
    with qtbot.waitSignal(ctl.attributionShown, timeout=30000) as blocker:
        w.show_tab("explain")
    return blocker.args[0]


def test_attributions_follow_the_drawing_for_two_models(ewindow, qtbot):
    r = _show(qtbot, ewindow)
    assert r.method == "saliency" and len(r.rows) == 2
    assert r.rows[1].model_name == ROBUST_NAME
    image = ewindow.ctx.current_input
    for row in r.rows:
        assert row.maps.shape == (2, 28, 28) and np.all(row.maps >= 0) and row.maps.max() > 0
        np.testing.assert_allclose(row.clean, image, atol=1e-6)
        assert np.abs(row.adversarial - row.clean).max() <= ewindow.ctx.attack_settings.eps + 1e-6
        assert all(0.0 <= s <= 1.0 for s in row.ink_share)
    # the verdict names the model whose map lies more on the strokes, with both measured shares
    text = attribution_verdict(r)
    hi = max(r.rows, key=lambda row: row.ink_share[0])
    assert text.startswith(hi.model_name) or text.startswith("Both")
    assert ewindow.explain.panel.attribution.verdict.text() == text
    # a new ε gives new adversarial columns
    with qtbot.waitSignal(ewindow.explain.attributionShown, timeout=30000) as blocker:
        ewindow.ctx.request_eps(0.25)
    r2 = blocker.args[0]
    assert r2.attack.eps == pytest.approx(0.25)
    assert not np.array_equal(r2.rows[0].adversarial, r.rows[0].adversarial)


@pytest.mark.parametrize("method", ["smoothgrad", "ig", "gradcam"])
def test_each_method_draws(ewindow, qtbot, method):
    _show(qtbot, ewindow)
    page = ewindow.explain.panel.attribution
    with qtbot.waitSignal(ewindow.explain.attributionShown, timeout=30000) as blocker:
        page.method.setCurrentIndex(page.method.findData(method))
    r = blocker.args[0]
    assert r.method == method
    if method == "ig":
        assert r.signed and all(row.relative_delta is not None for row in r.rows)
        assert "within" in page.note.text()
    else:
        assert all(np.all(row.maps >= 0) for row in r.rows)


def test_empty_canvas_says_so(make_window, qtbot):
    w = make_window()
    w.show_tab("explain")
    qtbot.wait(100)
    page = w.explain.panel.attribution
    assert page.empty.isVisible() and not page.glw.isVisible()
    assert w.explain.compute_landscape() is None
    assert "Draw a digit" in w.explain.panel.landscape.run.eta.text()


def test_landscape_plain_and_masked(ewindow, qtbot):
    _show(qtbot, ewindow)
    ctl, page = ewindow.explain, ewindow.explain.panel.landscape
    ewindow.ctx.request_eps(0.2)
    with qtbot.waitSignal(ctl.landscapeShown, timeout=60000) as blocker:
        assert ctl.compute_landscape() is not None
    r = blocker.args[0]
    assert r.loss.shape == (41, 41) and not r.gradient_zero and r.eps == pytest.approx(0.2)
    assert page.verdict.text() == landscape_verdict(r) and "ε-ball" in page.caption.text()
    page.model.setCurrentIndex(page.model.findData("jpeg"))
    assert page.direction.isEnabled()
    with qtbot.waitSignal(ctl.landscapeShown, timeout=120000) as blocker:
        ctl.compute_landscape()
    masked = blocker.args[0]
    assert masked.gradient_zero and "zero" in landscape_verdict(masked)
    assert np.ptp(masked.loss[masked.b.size // 2]) < 1e-4  # flat along the direction it shows
    page.direction.setCurrentIndex(page.direction.findData("bpda"))
    with qtbot.waitSignal(ctl.landscapeShown, timeout=120000) as blocker:
        ctl.compute_landscape()
    bpda = blocker.args[0]
    assert not bpda.gradient_zero and bpda.rise_a > masked.rise_a
    # a new drawing marks the shown landscape as stale
    _draw(qtbot, ewindow, 7)
    assert page.stale.isVisibleTo(page)


def test_boundary_with_path(ewindow, qtbot):
    _show(qtbot, ewindow)
    ctl, page = ewindow.explain, ewindow.explain.panel.boundary
    ewindow.ctx.request_eps(0.3)
    page.attack.setCurrentIndex(page.attack.findData("pgd"))
    with qtbot.waitSignal(ctl.boundaryShown, timeout=120000) as blocker:
        assert ctl.compute_boundary() is not None
    r = blocker.args[0]
    assert r.pred.shape == (81, 81) and r.path is not None and len(r.path) > 2
    assert r.points["clean"] == pytest.approx((0.0, 0.0), abs=1e-6)
    assert page.verdict.text() == boundary_verdict(r)
    if r.adv_pred != r.clean_pred:
        assert r.crossing is not None and "crosses the border" in page.verdict.text()


def test_boundary_at_zero_eps_is_refused_in_the_page(ewindow, qtbot):
    _show(qtbot, ewindow)
    ewindow.ctx.request_eps(0.0)
    qtbot.waitUntil(lambda: ewindow.ctx.attack_settings.eps == 0.0, timeout=5000)
    assert ewindow.explain.compute_boundary() is None
    assert "raise ε" in ewindow.explain.panel.boundary.run.eta.text()


def test_projection_needs_mnist(make_window, qtbot, tmp_path):
    w = make_window(data_dir=str(tmp_path / "nowhere"))
    _draw(qtbot, w)
    w.show_tab("explain")
    assert w.explain.compute_projection() is None
    msg = w.explain.panel.projection.data_message
    assert msg.isVisibleTo(w.explain.panel.projection) and msg.text.text()


def test_projection_places_the_drawing(make_window, mnist_dir, qtbot):
    w = make_window(data_dir=str(mnist_dir))
    _draw(qtbot, w)
    _show(qtbot, w)
    ctl, page = w.explain, w.explain.panel.projection
    page.samples.setValue(1000)
    with qtbot.waitSignal(ctl.projectionShown, timeout=120000) as blocker:
        assert ctl.compute_projection() is not None
    r = blocker.args[0]
    assert r.coords.shape == (1000, 2) and r.labels.shape == (1000,) and not r.cached
    assert r.path.shape[1] == 2 and len(r.path) == len(r.path_classes)
    assert nearest_class(r.coords, r.labels, r.coords[r.labels == 1].mean(0)) == 1
    with qtbot.waitSignal(ctl.projectionShown, timeout=120000) as blocker:
        ctl.compute_projection()
    assert blocker.args[0].cached  # the test set's layout is kept for this model
    np.testing.assert_array_equal(blocker.args[0].coords, r.coords)


def test_other_bundled_model():
    from advstudio.core.resources import bundled_model_path, robust_model_path
    from advstudio.gui.features.explain.controller import other_bundled

    assert other_bundled(str(bundled_model_path())).name == ROBUST_NAME
    assert other_bundled(str(robust_model_path())).name == STANDARD_NAME
    assert other_bundled(None).name == ROBUST_NAME


def test_lesson_masking_step_uses_the_landscape(ewindow, qtbot):
    lesson = ewindow.lesson
    step = next(s for s in lesson.lesson.steps if s.id == "masking")
    assert step.action.name == "show_landscape" and step.action.arg == "jpeg"
    assert not lesson.checks.passed(step)
    with qtbot.waitSignal(ewindow.explain.landscapeShown, timeout=120000) as blocker:
        assert lesson.do(step.action.name, step.action.arg)
    assert ewindow.ctx.current_tab() == "explain" and ewindow.explain.panel.page_key() == "landscape"
    assert blocker.args[0].request.model == "jpeg" and blocker.args[0].gradient_zero
    assert not lesson.checks.passed(step)  # the flat picture alone is not the point of the step
    page = ewindow.explain.panel.landscape
    page.direction.setCurrentIndex(page.direction.findData("bpda"))
    with qtbot.waitSignal(ewindow.explain.landscapeShown, timeout=120000):
        ewindow.explain.compute_landscape()
    assert lesson.checks.passed(step)


def test_the_session_report_shows_what_was_explained(ewindow, qtbot):
    from advstudio.core.report.page import build_report_html

    log = ewindow.session_log
    assert "The Why it breaks tab was not used" in log.html()
    _show(qtbot, ewindow)
    with qtbot.waitSignal(ewindow.explain.landscapeShown, timeout=60000) as blocker:
        ewindow.explain.compute_landscape()
    data = log.session_data()
    assert set(data["explain"]) == {"attribution", "landscape"}
    html = log.html()
    assert "What the network looks at" in html and "The loss around the drawing" in html
    assert landscape_verdict(blocker.args[0]) in html.replace("&#x27;", "'")
    assert html.count("<img") >= 3  # two attribution rows and the landscape
    # a malformed entry (a hand-edited session) is left out, not a broken report
    data["explain"]["boundary"] = {"kind": "boundary", "u": "nonsense"}
    assert "The border it crosses" not in build_report_html(data)


def test_cancelling_the_projection_changes_nothing(make_window, mnist_dir, qtbot):
    from advstudio.gui.features.explain.messages import ExplainCancelled

    w = make_window(data_dir=str(mnist_dir))
    _draw(qtbot, w)
    _show(qtbot, w)
    ctl, page = w.explain, w.explain.panel.projection
    with qtbot.waitSignal(ctl.projectionShown, timeout=120000) as blocker:
        assert ctl.compute_projection() is not None
        ctl.cancel_projection()
    assert isinstance(blocker.args[0], ExplainCancelled)
    assert page.result is None and page.area.empty and "Cancelled" in page.run.eta.text()
    assert page.run.run.isEnabled() and page.samples.isEnabled()
