"""The attack panel: the ε slider, the flip search, targeted attacks and saving."""

from __future__ import annotations

import numpy as np
from PIL import Image
from qt_helpers import draw_digit, set_eps, wait_settled

from advstudio.gui.messages import TARGETED, UNTARGETED


def test_slider_moves_keep_the_perturbation_within_eps(qtbot, window):
    draw_digit(qtbot, window, 3)
    for eps in (0.0, 0.02, 0.1, 0.25, 0.5):
        r = set_eps(qtbot, window, eps)
        assert r.eps == eps
        assert r.linf <= eps + 1e-6
        assert np.allclose(r.adversarial - r.clean, r.perturbation, atol=1e-6)
        assert r.adversarial.min() >= 0.0 and r.adversarial.max() <= 1.0
        views = window.studio.attack_panel.views.data
        assert np.array_equal(views["adversarial"], r.adversarial)
        s = window.studio.attack_panel.views.delta_scale  # the colour bar's ±s: s = ε (an L∞ attack)
        assert s == (eps if eps > 0 else s)
        assert np.allclose(views["perturbation"], np.clip(r.perturbation / s, -1, 1))
        bars = window.studio.attack_panel.results.bars.heights
        assert np.array_equal(bars[1], r.adv_probs) and np.array_equal(bars[0], r.clean_probs)
    assert set_eps(qtbot, window, 0.0).linf == 0.0


def test_the_delta_colour_bar_runs_from_minus_eps_to_plus_eps_with_its_labels(qtbot, window):
    from PySide6.QtGui import QFontMetrics

    draw_digit(qtbot, window, 3)
    views = window.studio.attack_panel.views
    axis = views.colorbar.getAxis("right")
    for eps, top in ((0.5, "+0.5"), (0.05, "+0.05"), (0.284, "+0.284")):
        set_eps(qtbot, window, eps)
        assert views.delta_scale == eps and views.colorbar.delta_scale == eps  # never stuck at ±0.1
        ticks = dict(axis._tickLevels[0])
        assert ticks == {-1.0: f"−{top[1:]}", 0.0: "0", 1.0: top}
        assert axis.labelText == "pixel units" and axis.label.isVisible()
        qtbot.waitUntil(lambda: axis.width() == axis.fixedWidth, timeout=5000)  # laid out as on screen
        metrics = QFontMetrics(axis.style.get("tickFont") or axis.font())
        room = axis.width() - axis.style["tickTextOffset"][0] - axis.label.boundingRect().height()
        assert all(metrics.horizontalAdvance(t) <= room for t in ticks.values())  # no label clipped
        r = window.ctx.analysis.attack
        full = np.abs(views.data["perturbation"]).max()
        assert full == 1.0 and np.isclose(np.abs(r.perturbation).max(), eps)  # ±ε is the full colour


def test_the_gradient_sign_is_computed_once_per_input(qtbot, window):
    draw_digit(qtbot, window, 3)
    for eps in (0.05, 0.1, 0.15, 0.2):
        set_eps(qtbot, window, eps)
    assert len(window.worker.state.values["fgsm_directions"]) == 1


def test_spin_box_and_readout_follow_the_slider(qtbot, window):
    ctl = window.studio.attack_panel.controls
    ctl.spin.setValue(0.3)
    assert ctl.slider.value() == 300 and ctl.eps() == 0.3
    assert "76.5 of 255" in ctl.readout.text() and "0.974 normalized" in ctl.readout.text()


def test_flip_search_finds_the_smallest_flipping_eps(qtbot, window):
    draw_digit(qtbot, window, 3)
    with qtbot.waitSignal(window.ctx.flipFound, timeout=20000) as sig:
        window.actions_.flip.trigger()
    found = sig.args[0]
    assert found.found and 0 < found.eps <= 0.5
    assert window.studio.attack_panel.controls.eps() == found.eps  # the slider moved there
    wait_settled(qtbot, window)
    at = window.ctx.analysis.attack
    assert at.flipped and at.adv_label == found.adv_label
    assert "flipped" in window.studio.attack_panel.results.banner.text().lower()
    below = set_eps(qtbot, window, round(found.eps - 0.001, 6))
    assert not below.flipped


def test_targeted_attack_and_its_flip_search(qtbot, window):
    draw_digit(qtbot, window, 3)
    window.studio.attack_panel.controls.set_method(TARGETED, target=8)
    wait_settled(qtbot, window)
    assert window.ctx.analysis.attack.target == 8 and window.ctx.analysis.attack.method == TARGETED
    with qtbot.waitSignal(window.ctx.flipFound, timeout=20000) as sig:
        window.studio.find_flip()
    found = sig.args[0]
    assert found.found and found.adv_label == 8 and 0 < found.eps <= 1.0  # FGSM and the drawing are deterministic
    wait_settled(qtbot, window)
    assert window.ctx.analysis.attack.adv_label == 8
    assert window.ctx.analysis.attack.adv_label != set_eps(qtbot, window, round(found.eps - 0.001, 6)).adv_label
    window.studio.attack_panel.controls.set_method(UNTARGETED)
    wait_settled(qtbot, window)
    assert window.ctx.analysis.attack.target is None


def test_save_writes_images_and_figure_atomically(qtbot, window, tmp_path):
    draw_digit(qtbot, window, 3)
    set_eps(qtbot, window, 0.3)
    paths = window.studio.save_result(tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert len(names) == 5 and all(p.is_file() for p in paths)
    sizes = {p.name: Image.open(p).size for p in paths}
    r = window.ctx.analysis.attack
    stem = f"{r.clean_label}_to_{r.adv_label}_eps0p300"
    assert sizes[f"{stem}_adversarial_28x28.png"] == (28, 28)
    assert sizes[f"{stem}_adversarial_280x280.png"] == (280, 280)
    assert sizes[f"{stem}_perturbation_x10_28x28.png"] == (28, 28)
    assert sizes[f"{stem}_perturbation_x10_280x280.png"] == (280, 280)
    assert sizes[f"{stem}_figure.png"][0] > 3 * 280
    saved = np.asarray(Image.open(tmp_path / "out" / f"{stem}_adversarial_28x28.png"), dtype=np.float32) / 255
    assert np.abs(saved - r.adversarial).max() <= 0.5 / 255 + 1e-6
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


def test_save_with_nothing_drawn_is_an_error_not_a_crash(window, tmp_path):
    assert window.studio.save_result(tmp_path / "out") == []
    assert len(window.ctx.errors) == 1 and not (tmp_path / "out").exists()
