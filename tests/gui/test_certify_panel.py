"""The "Certify & detect" tab: randomized smoothing on the drawn digit (the same certificate core.certify gives
with the same seed), certified accuracy against L2 radius, the detector's ROCs against FGSM, PGD and the
detector-aware PGD, an empty canvas, cancel and a missing dataset."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from qt_helpers import draw_digit

from advstudio.gui.features.certify.messages import CertifyCancelled, CertifyCurveResult, DetectResult


def _smoothing(panel, sigma=0.25, n0=30, n=300, alpha=0.001, seed=5):
    panel.sigma.setValue(sigma)
    panel.n0.setValue(n0)
    panel.n.setValue(n)
    panel.alpha.setValue(alpha)
    panel.seed.setValue(seed)


def test_the_tab_states_what_an_l2_certificate_means(window):
    panel = window.certify.panel
    assert window.show_tab("certify") and window.current_tab() == "certify"
    text = panel.l2_note.text()
    assert "L2 radius, not the L∞ ball" in text and "784 pixels" in text and "up to 2.8." in text
    panel.set_input_shape((10, 10))  # computed from the shape, not written down
    assert "100 pixels" in panel.l2_note.text() and "up to 1.0." in panel.l2_note.text()


def test_certifying_the_drawn_digit_matches_core_certify(qtbot, window, bundled_model):
    from advstudio.core.defenses import certify

    draw_digit(qtbot, window, 3)
    studio, panel = window.certify, window.certify.panel
    _smoothing(panel)
    with qtbot.waitSignal(studio.inputCertified, timeout=30000) as blocker:
        assert studio.certify_input() is not None
    r = blocker.args[0]
    assert np.array_equal(r.image, window.ctx.current_input)
    torch.manual_seed(5)
    x = torch.from_numpy(window.ctx.current_input.copy()).reshape(1, 1, 28, 28)
    direct = certify(bundled_model, x, 0.25, 30, 300, 0.001, 500)
    assert r.label == direct.label and r.counts == direct.counts
    assert r.radius == pytest.approx(direct.radius) and r.radius >= 0
    assert sum(r.counts) == 300
    assert r.label == 3 and r.radius > 0  # a clean, well-drawn 3 is certified
    text = panel.input_result.text()
    assert f"{r.radius:.3f}" in text and "n = 300" in text and "α = 0.001" in text and "<b>3</b>" in text
    # a new drawing makes the shown certificate stale
    draw_digit(qtbot, window, 7)
    assert panel.certificate is None and "New input" in panel.input_result.text()


def test_the_input_line_follows_the_canvas(qtbot, window):
    text = window.certify.panel.input_result.text
    assert "Draw a digit" in text()
    draw_digit(qtbot, window, 3)
    assert "Draw a digit" not in text() and "Certify this input" in text()
    window.studio.canvas.clear()
    qtbot.waitUntil(lambda: window.ctx.current_input is None)
    assert "Draw a digit" in text()


def test_an_empty_canvas_asks_for_a_digit(qtbot, window):
    window.studio.canvas.clear()
    qtbot.waitUntil(lambda: window.ctx.current_input is None or not window.ctx.current_input.any(), timeout=5000)
    assert window.certify.certify_input() is None
    assert "Draw a digit first" in window.certify.panel.input_result.text()


def test_the_certified_accuracy_curve_is_non_increasing_and_labelled(qtbot, window, bundled_model, mnist_test):
    from advstudio.core.defenses import certify

    studio, panel = window.certify, window.certify.panel
    _smoothing(panel, sigma=0.25, n0=20, n=100, alpha=0.01, seed=3)
    progress = []
    studio.progressShown.connect(lambda kind, value: progress.append(value) if kind == "certify_curve" else None)
    with qtbot.waitSignal(studio.curveFinished, timeout=60000) as blocker:
        assert studio.run_curve(samples=20) is not None
        assert panel.curve_runner.running and not panel.curve_runner.run.isEnabled()
    r = blocker.args[0]
    assert isinstance(r, CertifyCurveResult) and r.n == 20 and not panel.curve_runner.running
    assert np.all(np.diff(r.accuracy) <= 0) and np.all(np.diff(r.radii) > 0) and r.radii[0] == 0
    assert 0 < r.accuracy[0] <= 1 and r.accuracy[-1] == 0  # the grid ends past the largest certifiable radius
    x, y = panel.curve_items[0].getData()
    assert np.allclose(x, r.radii) and np.allclose(y, r.accuracy * 100)
    for word in ("σ = 0.25", "n = 100", "α = 0.01", "N = 20"):
        assert word in r.label()
    assert r.label() in panel.curve_legend.labels() and not panel.curve_area.empty
    assert r.correct + r.wrong + r.abstained == 20
    # image i is certified with torch seeded at seed + i: the same certificate core.certify gives
    for i in (0, 7):
        torch.manual_seed(3 + i)
        c = certify(bundled_model, mnist_test.images[i : i + 1], 0.25, 20, 100, 0.01, 500)
        assert r.certified[i] == (-1 if c.label is None else c.label) and r.cert_radii[i] == pytest.approx(c.radius)
    assert r.accuracy[0] == pytest.approx(r.correct / 20)
    assert progress and progress[-1].done == progress[-1].total == 20
    assert "N = 20" in panel.curve_caption.text() and "abstained" in panel.curve_caption.text()


def test_detection_rocs_for_fgsm_pgd_and_the_adaptive_attack(qtbot, window, mnist_dir):
    studio, panel = window.certify, window.certify.panel
    with qtbot.waitSignal(studio.detectFinished, timeout=120000) as blocker:
        assert studio.run_detect(fit_samples=200, fit_eps=0.1, samples=100, eps=0.2, steps=10, lam=1.0) is not None
    r = blocker.args[0]
    assert isinstance(r, DetectResult) and set(r.rocs) == {"fgsm", "pgd", "adaptive_pgd"}
    assert set(panel.roc_items) == set(r.rocs)
    legend = panel.roc_legend.labels()
    for name, roc in r.rocs.items():
        assert 0.0 <= roc.auc <= 1.0 and roc.n == 100
        x, y = panel.roc_items[name].getData()
        assert np.allclose(x, roc.fpr) and np.allclose(y, roc.tpr) and x[0] == 0 and y[-1] == 1
    assert any("FGSM: AUC" in t and "ε = 0.2" in t and "1 step," in t and "n = 100" in t for t in legend)
    assert any(t.startswith("adaptive PGD") and "10 steps" in t and "λ = 1" in t for t in legend)
    # what the core measures (tests/core/test_detection.py): FGSM and PGD are caught, the adaptive attack is not
    assert r.rocs["fgsm"].auc > 0.95 and r.rocs["pgd"].auc > 0.95
    assert r.rocs["adaptive_pgd"].auc < r.rocs["fgsm"].auc - 0.1
    summary = panel.detect_summary.text()  # the fall is said as measured, 0.5 named as a coin flip
    assert f"falls from {r.rocs['fgsm'].auc:.3f}" in summary or f"falls from {r.rocs['pgd'].auc:.3f}" in summary
    assert f"to {r.rocs['adaptive_pgd'].auc:.3f}" in summary and "coin flip" in summary
    assert "toward 0.5" not in summary and "training images" in r.fit_source
    assert "attacker who knows it" in panel.note.text()


def test_cancel_stops_the_curve_and_the_detection(qtbot, window, mnist_dir):
    studio, panel = window.certify, window.certify.panel
    _smoothing(panel, n0=50, n=2000)
    studio.run_curve(samples=2000)
    qtbot.waitUntil(lambda: panel.curve_runner.progress.value() > 0, timeout=30000)
    start = time.perf_counter()
    with qtbot.waitSignal(studio.curveFinished, timeout=10000) as blocker:
        panel.curve_runner.cancel.click()
    assert time.perf_counter() - start < 5.0
    assert isinstance(blocker.args[0], CertifyCancelled) and panel.curves == []
    assert panel.curve_runner.run.isEnabled() and "Cancelled" in panel.curve_runner.eta.text()

    studio.run_detect(fit_samples=100, samples=2000, steps=40)
    qtbot.waitUntil(lambda: panel.detect_runner.progress.value() > 0, timeout=60000)
    with qtbot.waitSignal(studio.detectFinished, timeout=15000) as blocker:
        panel.detect_runner.cancel.click()
    assert isinstance(blocker.args[0], CertifyCancelled) and panel.detection is None
    assert panel.detect_runner.run.isEnabled() and panel.roc_items == {}


def test_a_missing_dataset_gives_a_clear_message(qtbot, make_window, monkeypatch, tmp_path):
    monkeypatch.delenv("ADVSTUDIO_MNIST_DIR", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    window = make_window(data_dir=str(empty))
    studio, panel = window.certify, window.certify.panel
    # an empty folder is named before any job starts
    with qtbot.waitSignal(studio.failedMessage, timeout=20000):
        assert studio.run_curve(samples=10) is None
    assert not panel.curve_runner.running and panel.curves == []
    assert not panel.data_message.isHidden() and f"{empty} has no MNIST files" in panel.data_text.text()
    panel.data_message.hide()
    with qtbot.waitSignal(studio.failedMessage, timeout=20000):
        assert studio.run_detect(samples=10) is None
    assert not panel.detect_runner.running and panel.detection is None
    assert not panel.data_message.isHidden() and "MNIST" in panel.data_text.text()
    # files the worker cannot use: the job fails and says so
    (empty / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    (empty / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    panel.data_message.hide()
    with qtbot.waitSignal(studio.failedMessage, timeout=20000):
        assert studio.run_curve(samples=10) is not None
    assert not panel.curve_runner.running and panel.curves == []
    assert not panel.data_message.isHidden() and "gzip" in panel.data_text.text()
    window.ctx.data_dir = str(tmp_path / "nowhere")
    assert studio.run_curve(samples=10) is None and "does not exist" in panel.data_text.text()
