"""The side-by-side tab: one drawing, the Attack tab's FGSM at one ε, two models; each side's predictions equal
that model's own, ε moves both sides together, a bad or missing model is reported on its side only, and a
hidden tab sends no work."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch
from qt_helpers import draw_digit

from advstudio.core.types import AttackResult
from advstudio.gui.features.compare.messages import CompareResult, CompareSide, SideResult
from advstudio.gui.features.compare.view import summary_text
from advstudio.gui.messages import AttackSettings


@pytest.fixture
def no_robust(monkeypatch, tmp_path):
    """Pretend the bundled robust model is not shipped (an installation without it). Request it before `window`,
    so the window is built without it."""
    import advstudio.core.resources as resources

    absent = tmp_path / "absent" / resources.ROBUST_MODEL
    monkeypatch.setattr(resources, "robust_model_path", lambda: absent)
    return absent


def _perturbed(bundled_model, path, seed: int = 0, scale: float = 0.15):
    """A copy of the bundled model with noisy weights, saved as a model file (a second, different model)."""
    from advstudio.core.storage import save_model

    model = copy.deepcopy(bundled_model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * p.std() * scale)
    save_model(model, path, {"name": f"noisy copy {seed}"})
    return model


def _direct(model, image: np.ndarray, eps: float):
    """The model's own clean and adversarial probabilities under the studio's untargeted FGSM."""
    from advstudio.core.attacks.fgsm import fgsm_direction

    x = torch.from_numpy(image[None, None].astype(np.float32).copy())
    with torch.inference_mode():
        clean = torch.softmax(model(x), 1)
    direction, _ = fgsm_direction(model, x, clean.argmax(1))
    adv = (x + eps * direction).clamp(0.0, 1.0)
    with torch.inference_mode():
        adv_probs = torch.softmax(model(adv), 1)
    return clean[0].numpy(), adv[0, 0].numpy(), adv_probs[0].numpy()


def _wait(qtbot, window) -> CompareResult:
    """Wait until the tab shows the answer for the current drawing, ε and both chosen models."""
    c = window.compare

    def shown() -> None:
        r = c.panel.result
        assert r is not None and window.ctx.current_input is not None
        assert np.array_equal(r.image, window.ctx.current_input)
        assert r.settings == window.studio.attack_panel.controls.settings()
        assert [s.side.key for s in r.sides] == c._selection

    qtbot.waitUntil(shown, timeout=30000)
    return c.panel.result


def _check_side(side: SideResult, model, image: np.ndarray, eps: float) -> None:
    clean, adv, adv_probs = _direct(model, image, eps)
    a = side.attack
    assert a is not None and side.message is None
    assert a.eps == eps
    assert np.allclose(a.clean_probs, clean, atol=1e-5) and a.clean_label == int(clean.argmax())
    assert np.allclose(a.adversarial, adv, atol=1e-6)
    assert np.allclose(a.adv_probs, adv_probs, atol=1e-5) and a.adv_label == int(adv_probs.argmax())
    assert np.abs(a.perturbation).max() <= eps + 1e-6


def test_two_models_give_each_its_own_prediction_and_eps_moves_both(qtbot, window, bundled_model, tmp_path):
    other_path = tmp_path / "noisy.safetensors"
    other = _perturbed(bundled_model, other_path)
    c = window.compare
    assert window.show_tab("compare")
    c.use_model_file(1, other_path)
    assert c._selection[0] == "bundled"
    window.studio.attack_panel.controls.set_eps(0.05)
    draw_digit(qtbot, window, 3)
    r = _wait(qtbot, window)
    image = window.ctx.current_input
    _check_side(r.sides[0], bundled_model, image, 0.05)
    _check_side(r.sides[1], other, image, 0.05)
    assert r.sides[0].side.role == "standard" and r.sides[1].model_name == "noisy copy 0"
    # two different models: different gradients, so different perturbations of the same drawing
    assert not np.array_equal(r.sides[0].attack.perturbation, r.sides[1].attack.perturbation)
    side = c.panel.sides[1].views  # the δ view shows this side's perturbation on the Attack tab's ±ε scale
    assert side.delta_scale == 0.05 and side.colorbar.delta_labels == ["−0.05", "0", "+0.05"]
    views = side.data
    assert np.allclose(views["perturbation"], np.clip(r.sides[1].attack.perturbation / 0.05, -1, 1))
    assert np.array_equal(views["adversarial"], r.sides[1].attack.adversarial)

    window.studio.attack_panel.controls.set_eps(0.25)  # the slider on the Attack tab drives both sides
    r2 = _wait(qtbot, window)
    assert r2.settings.eps == 0.25 and all(s.attack.eps == 0.25 for s in r2.sides)
    _check_side(r2.sides[0], bundled_model, image, 0.25)
    _check_side(r2.sides[1], other, image, 0.25)
    assert np.abs(r2.sides[0].attack.perturbation).max() > 0.05 + 1e-3
    assert "ε = 0.250" in c.panel.summary.text() and "ε = 0.250" in c.panel.settings_label.text()
    for view, side in zip(c.panel.sides, r2.sides):
        assert f"{side.attack.clean_label} (" in view.banner.text()
        assert ("Flipped" in view.banner.text()) == side.attack.flipped

    c.panel.eps_slider.setValue(150)  # the tab's own slider moves the studio's one ε
    assert window.studio.attack_panel.controls.eps() == 0.15
    r2 = _wait(qtbot, window)
    assert [s.attack.eps for s in r2.sides] == [0.15, 0.15]
    assert c.panel.eps_value.text() == "ε = 0.150"

    # the file is replaced on disk: the worker loads the new weights, not its cached copy
    third = _perturbed(bundled_model, other_path, seed=1, scale=0.3)
    st = other_path.stat()
    os.utime(other_path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    window.studio.attack_panel.controls.set_eps(0.1)
    r3 = _wait(qtbot, window)
    _check_side(r3.sides[1], third, image, 0.1)
    assert r3.sides[1].model_name == "noisy copy 1"
    assert window.ctx.errors == []


def test_missing_robust_and_corrupt_models_are_reported_on_their_side_only(qtbot, no_robust, window, bundled_model,
                                                                           tmp_path):
    c = window.compare
    window.show_tab("compare")
    c.refresh_models()  # the window was built before the fixture's path took effect in the chooser's text
    assert c._selection == ["bundled", "bundled-robust"]
    assert "not there yet" in c.panel.sides[1].combo.currentText()
    draw_digit(qtbot, window, 7)
    r = _wait(qtbot, window)
    _check_side(r.sides[0], bundled_model, window.ctx.current_input, window.studio.attack_panel.controls.eps())
    assert r.sides[1].attack is None and "not in this installation" in r.sides[1].message
    assert "not in this installation" in c.panel.sides[1].banner.text()
    assert c.panel.sides[0].message is None and "the standard model" in c.panel.summary.text()

    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + b"\x00" * 64)
    c.use_model_file(1, bad)
    r = _wait(qtbot, window)
    assert r.sides[0].attack is not None and r.sides[0].message is None
    assert r.sides[1].attack is None and "corrupt.safetensors" in r.sides[1].message
    assert "corrupt.safetensors" in c.panel.sides[1].banner.text()
    assert c.panel.sides[0].message is None

    # the bad file on the left, the bundled model on the right: the message moves with it
    c.select(0, r.sides[1].side.key)
    c.select(1, "bundled")
    r = _wait(qtbot, window)
    assert r.sides[0].attack is None and r.sides[1].attack is not None
    assert "corrupt.safetensors" in c.panel.sides[0].banner.text()
    assert window.ctx.errors == []  # no modal box: the side says it


def test_a_hidden_tab_sends_no_work_and_catches_up_when_shown(qtbot, window, bundled_model):
    c = window.compare
    window.show_tab("attack")
    before = c.submitted
    draw_digit(qtbot, window, 3)
    window.studio.attack_panel.controls.set_eps(0.2)
    c.select(1, "bundled")
    qtbot.wait(200)
    assert c.submitted == before and c.panel.result is None
    window.show_tab("compare")
    assert c.submitted == before + 1
    r = _wait(qtbot, window)
    _check_side(r.sides[1], bundled_model, window.ctx.current_input, 0.2)
    assert "both sides use the standard model" in c.panel.summary.text()
    window.show_tab("attack")
    window.studio.attack_panel.controls.set_eps(0.3)
    qtbot.wait(100)
    assert c.submitted == before + 1


def _side(role, name, clean: int, adv: int, eps: float = 0.2, target=None) -> SideResult:
    cp, ap = np.full(10, 0.01, np.float32), np.full(10, 0.01, np.float32)
    cp[clean], ap[adv] = 0.91, 0.64
    z = np.zeros((28, 28), np.float32)
    attack = AttackResult(z, z, z, cp, ap, eps, "fgsm", target)
    return SideResult(CompareSide(name, name, f"/{name}.safetensors", role), name, attack=attack)


def test_the_summary_says_what_the_two_sides_show():
    s = AttackSettings("fgsm", None, 0.2)
    text = summary_text(CompareResult(np.zeros((28, 28)), s, (_side("standard", "a", 3, 8), _side("robust", "b", 3, 3))))
    assert text == "Same drawing, same FGSM ε = 0.200: the standard model flips 3 → 8, the robust model still says 3."
    t = AttackSettings("fgsm-targeted", 5, 0.3)
    text = summary_text(CompareResult(np.zeros((28, 28)), t, (_side(None, "mine", 3, 8, 0.3, 5),
                                                              _side("robust", "b", 3, 5, 0.3, 5))))
    assert text == ("Same drawing, same targeted FGSM (toward 5) ε = 0.300: “mine” flips 3 → 8 (not the target 5), "
                    "the robust model flips 3 → 5.")
