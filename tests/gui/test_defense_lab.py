"""The Defenses tab: a defense against the plain and the adaptive attacker (bit depth, JPEG, an ensemble),
cancel, and a defended model made the studio's current model (and the way back to a file)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from qt_helpers import draw_digit, wait_settled

from advstudio.gui.features.defenses.messages import DefenseCancelled, DefenseResult, DefenseSpec


@pytest.fixture
def dwindow(make_window, mnist_dir):
    return make_window(data_dir=str(mnist_dir))


def _run(qtbot, window, spec, attack, steps, eps, n, timeout=120000):
    studio = window.defense
    with qtbot.waitSignal(studio.defenseFinished, timeout=timeout) as blocker:
        assert studio.run(spec, attack, steps, eps, n) is not None
    return blocker.args[0]


def _direct_curve(model_deployed, attacked, mnist_test, attack, steps, eps, n):
    """The same curve computed straight from core.defense_eval, outside the window."""
    from advstudio.core.evaluation.defense import craft_linf, defense_curve

    split = mnist_test.head(n)
    return defense_curve(model_deployed, craft_linf(attacked, attack, steps), split.images, split.labels, eps,
                         attack, batch_size=100, seed=0)


def _check_plot(panel, result: DefenseResult) -> None:
    for c in result.curves:
        x, y = panel.plotted(c.role)
        assert np.allclose(x, c.curve.eps)
        assert np.allclose(y, np.asarray(c.curve.accuracy) * 100)
    key = panel.key.text()
    for c in result.curves:
        assert c.label.replace("&", "&amp;") in key and f"n = {result.n}" in c.label
    assert "undefended" in result.curves[0].label and " plain " in result.curves[1].label
    assert " adaptive " in result.curves[2].label
    assert "credited only with what it holds against the adaptive attack" in panel.note.text()
    assert panel.note.isVisible()


def test_bit_depth_collapses_under_bpda(qtbot, dwindow, bundled_model, mnist_test):
    from advstudio.core.defenses import BitDepthReduction, DefendedModel

    r = _run(qtbot, dwindow, DefenseSpec("bit_depth", bits=2), "pgd", 10, [0.0, 0.3], 64)
    assert isinstance(r, DefenseResult) and r.n == 64 and r.eps == (0.0, 0.3)
    plain, adaptive, undefended = r.curve("plain"), r.curve("adaptive"), r.curve("undefended")
    assert adaptive.accuracy[1] <= plain.accuracy[1]
    assert plain.accuracy[1] > 0.8  # the illusion: zero gradients, the naive attack finds nothing
    assert adaptive.accuracy[1] < 0.3 and undefended.accuracy[1] < 0.3
    assert plain.accuracy[0] == adaptive.accuracy[0] > 0.9  # ε = 0: the defended model on clean images
    t = BitDepthReduction(2)
    direct = _direct_curve(DefendedModel(bundled_model, t), DefendedModel(bundled_model, t, adaptive=True),
                           mnist_test, "pgd", 10, [0.0, 0.3], 64)
    assert direct.accuracy == adaptive.accuracy
    panel = dwindow.defense.panel
    _check_plot(panel, r)
    for word in ("PGD-10", "ε ∈ {0, 0.3}", "n = 64", "BPDA", "bit depth 2 bits"):
        assert word in panel.caption.text()
    assert panel.table.rowCount() == 2 and panel.table.item(1, 3).text() == f"{adaptive.accuracy[1] * 100:.1f} %"
    assert panel.progress.value() == 1000 and not panel.running


def test_jpeg_plain_against_bpda(qtbot, dwindow):
    r = _run(qtbot, dwindow, DefenseSpec("jpeg", quality=50), "fgsm", 1, [0.0, 0.3], 32)
    assert isinstance(r, DefenseResult) and r.steps == 1
    plain, adaptive = r.curve("plain"), r.curve("adaptive")
    assert adaptive.accuracy[1] < plain.accuracy[1]
    assert plain.params["attacker"].startswith("differentiates the defended model")
    assert adaptive.params["attacker"].startswith("BPDA")
    _check_plot(dwindow.defense.panel, r)
    assert "FGSM" in dwindow.defense.panel.caption.text()


def test_ensemble_transfer_equals_white_box_for_identical_members(qtbot, dwindow, tmp_path):
    from advstudio.core.resources import bundled_model_path

    copy = tmp_path / "twin.safetensors"
    shutil.copy(bundled_model_path(), copy)
    models = dwindow.ctx.models
    models.add_file(copy)
    studio = dwindow.defense
    studio.refresh_models()
    studio.panel.set_defense("ensemble")
    studio.panel.set_checked({"bundled", models.entries()[-1].key})  # the bundled model and its copy
    spec = studio.panel.spec()
    assert len(spec.members) == 2 and spec.members[1].path == str(copy)
    r = _run(qtbot, dwindow, spec, "fgsm", 1, [0.0, 0.2], 24)
    # identical members: the ensemble's logits are one member's, so the transferred attack is white-box
    assert r.curve("plain").accuracy == r.curve("adaptive").accuracy == r.curve("undefended").accuracy
    assert "ensemble of" in r.defended_name


def test_bad_input_is_reported_not_run(dwindow):
    studio = dwindow.defense
    studio.panel.eps_edit.setText("0, 2")
    assert studio.run_from_panel() is None
    studio.panel.eps_edit.setText("0, 0.1")
    studio.panel.set_defense("ensemble")
    studio.panel.set_checked(set())
    assert studio.run_from_panel() is None
    assert len(dwindow.ctx.errors) == 2 and "[0, 1]" in dwindow.ctx.errors[0] and "two" in dwindow.ctx.errors[1]


def test_cancel_stops_the_run(qtbot, dwindow):
    studio = dwindow.defense
    got = []
    studio.defenseProgress.connect(got.append)
    with qtbot.waitSignal(studio.defenseFinished, timeout=60000) as blocker:
        studio.run(DefenseSpec("bit_depth", bits=2), "pgd", 40, [0.0, 0.1, 0.2, 0.3], 2000)
        qtbot.waitUntil(lambda: any(p.done > 0 for p in got), timeout=60000)
        studio.cancel()
    r = blocker.args[0]
    assert isinstance(r, DefenseCancelled) and r.done < r.total
    assert not studio.panel.running and studio.panel.result is None and not studio.panel.lines
    assert "Cancelled" in studio.panel.eta.text()
    assert got[-1].total == r.total == 3 * 2000 * 3  # three curves, three ε > 0


def _probs(model, image):
    with torch.inference_mode():
        return torch.softmax(model(torch.from_numpy(image.reshape(1, 1, 28, 28).copy())), 1)[0].numpy()


def test_use_as_current_then_back_to_a_file(qtbot, dwindow, bundled_model, tmp_path):
    from advstudio.core.attacks.fgsm import apply_perturbation, fgsm_direction
    from advstudio.core.defenses import BitDepthReduction, DefendedModel
    from advstudio.core.resources import bundled_model_path

    w = dwindow
    draw_digit(qtbot, w, 3)
    w.studio.attack_panel.controls.set_eps(0.2)
    wait_settled(qtbot, w)
    studio = w.defense
    studio.panel.set_defense("bit_depth")
    studio.panel.bits.setValue(1)
    with qtbot.waitSignal(w.ctx.analysisShown, timeout=30000):
        with qtbot.waitSignal(w.ctx.modelReady, timeout=30000) as ready:
            assert studio.use_as_current() is not None
    info = ready.args[0]
    assert info.name == "mnist_cnn + bit depth 1 bit" or info.name.endswith("+ bit depth 1 bit")
    assert "bit depth 1 bit" in w.status_model.text() and "(defended)" in w.status_model.text()
    assert "bit depth 1 bit" in w.studio.model_panel.text.text()
    assert w.settings.value("model/last", "", str) == ""
    assert all(m.path != info.path for m in w.ctx.models)  # not offered to the lab as a file
    wait_settled(qtbot, w)
    image = w.ctx.current_input
    defended = DefendedModel(bundled_model, BitDepthReduction(1), adaptive=True).eval()
    expected = _probs(defended, image)
    assert np.allclose(w.ctx.analysis.prediction.probs, expected, atol=1e-5)
    assert not np.allclose(expected, _probs(bundled_model, image), rtol=0.1, atol=0)  # the defense changed them
    # the live FGSM goes through the BPDA wrapper: the honest adaptive result
    x = torch.from_numpy(image.reshape(1, 1, 28, 28).copy())
    y = torch.tensor([int(expected.argmax())])
    direction, _ = fgsm_direction(defended, x, y)
    x_adv, _ = apply_perturbation(x, direction, 0.2)
    assert np.allclose(w.ctx.analysis.attack.adv_probs, _probs(defended, x_adv.numpy()), atol=1e-5)
    assert "defended" in studio.panel.use_status.text()

    model_file = tmp_path / "plain.safetensors"
    shutil.copy(bundled_model_path(), model_file)
    with qtbot.waitSignal(w.ctx.analysisShown, timeout=30000):
        with qtbot.waitSignal(w.ctx.modelReady, timeout=30000):
            w.studio.open_model(model_file)
    wait_settled(qtbot, w)
    assert "(defended)" not in w.status_model.text()
    assert w.settings.value("model/last", "", str) == str(model_file)
    assert np.allclose(w.ctx.analysis.prediction.probs, _probs(bundled_model, image), atol=1e-5)
    assert studio.defended_info is None and "undefended" in studio.panel.use_status.text()


def test_distilled_file_and_noise_defense_as_current(qtbot, dwindow, mnist_train, tmp_path):
    from advstudio.core.defenses.distillation import distill, distillation_recipe
    from advstudio.core.model import MnistCNN
    from advstudio.core.storage import save_model
    from advstudio.core.training_config import TrainConfig

    torch.manual_seed(0)
    teacher, student = MnistCNN(), MnistCNN()
    cfg = TrainConfig(epochs=1, batch_size=64, limit=256, eval_limit=64)
    for _ in distill(teacher, student, mnist_train, None, cfg, temperature=20.0):
        pass
    path = save_model(student, tmp_path / "distilled.safetensors",
                      {"name": "distilled", "recipe": distillation_recipe(cfg, 20.0)})
    w = dwindow
    studio = w.defense
    studio.panel.set_defense("distillation")
    studio.panel.distilled_path.setText(str(path))
    studio.panel.cw_steps.setValue(10)  # the C&W part is tested below; keep it short here
    studio.panel.cw_searches.setValue(1)
    spec = studio.panel.spec()
    assert spec.temperature is None  # read from the file
    r = _run(qtbot, w, spec, "fgsm", 1, [0.0, 0.2], 32)
    assert isinstance(r, DefenseResult) and "T=20" in r.defended_name
    assert r.curve("plain").accuracy[0] == r.curve("adaptive").accuracy[0]  # same deployed model on clean images
    assert "logits / T" in r.curve("adaptive").params["attacker"]
    draw_digit(qtbot, w, 7)
    with qtbot.waitSignal(w.ctx.analysisShown, timeout=30000), \
            qtbot.waitSignal(w.ctx.modelReady, timeout=30000) as ready:
        studio.use_as_current()
    assert "distilled, T=20" in ready.args[0].name and "(defended)" in w.status_model.text()
    wait_settled(qtbot, w)
    assert np.allclose(w.ctx.analysis.prediction.probs, _probs(student.eval(), w.ctx.current_input), atol=1e-5)
    studio.panel.set_defense("gaussian_noise")
    with qtbot.waitSignal(w.ctx.analysisShown, timeout=30000), \
            qtbot.waitSignal(w.ctx.modelReady, timeout=30000) as ready:
        studio.use_as_current()
    assert ready.args[0].name.endswith("+ Gaussian noise σ=0.3")  # on the undefended model, not stacked
    wait_settled(qtbot, w)
    assert abs(float(w.ctx.analysis.prediction.probs.sum()) - 1) < 1e-4


def _distilled_file(mnist_train, tmp_path):
    from advstudio.core.defenses.distillation import distill, distillation_recipe
    from advstudio.core.model import MnistCNN
    from advstudio.core.storage import save_model
    from advstudio.core.training_config import TrainConfig

    torch.manual_seed(0)
    teacher, student = MnistCNN(), MnistCNN()
    cfg = TrainConfig(epochs=1, batch_size=32, limit=256)
    for _ in distill(teacher, student, mnist_train, None, cfg, temperature=20.0):
        pass
    return save_model(student, tmp_path / "distilled.safetensors",
                      {"name": "distilled", "recipe": distillation_recipe(cfg, 20.0)}), student.eval()


def test_distilled_run_adds_cw_on_both_models_equal_to_core(qtbot, dwindow, mnist_train, mnist_test, bundled_model,
                                                            tmp_path):
    from advstudio.core.attacks import make_attack
    from advstudio.gui.features.defenses.jobs import CW_BATCH

    path, student = _distilled_file(mnist_train, tmp_path)
    studio = dwindow.defense
    p = studio.panel
    p.set_defense("distillation")
    p.distilled_path.setText(str(path))
    assert (p.cw_steps.value(), p.cw_searches.value()) == (100, 5)  # the CLI's defaults
    p.cw_steps.setValue(10)
    p.cw_searches.setValue(2)
    spec = p.spec()
    assert (spec.cw_steps, spec.cw_searches) == (10, 2)
    n = 12
    assert n <= CW_BATCH  # one C&W batch, as the direct computation below
    progress = []
    studio.defenseProgress.connect(progress.append)
    r = _run(qtbot, dwindow, spec, "fgsm", 1, [0.0, 0.1], n)
    assert isinstance(r, DefenseResult) and [s.role for s in r.cw] == ["distilled", "undefended"]
    assert any(m.label.startswith("C&W L2 on the distilled") for m in progress)
    assert progress[-1].done == progress[-1].total == 3 * n + 2 * n
    split = mnist_test.head(n)
    for summary, model in zip(r.cw, (student, bundled_model)):
        out = make_attack("cw", steps=10, binary_search_steps=2).run(model, split.images, split.labels)
        correct = (out.clean_pred == out.labels).numpy()
        fooled = out.success.numpy() & correct
        assert summary.n == n and summary.correct == int(correct.sum()) and summary.fooled == int(fooled.sum())
        assert 0.0 <= summary.success_rate <= 1.0
        assert summary.success_rate == pytest.approx(fooled.sum() / correct.sum())
        if fooled.any():
            assert summary.median_l2 == pytest.approx(float(np.median(out.l2.numpy()[fooled])), rel=1e-5)
        else:
            assert summary.median_l2 is None
    # shown under the curves, from these numbers
    text = p.cw_label.text()
    assert p.cw_label.isVisibleTo(p) and text == r.cw_text()
    d, u = r.cw
    assert "C&W L2 (10 steps, 2 c-searches, n = 12)" in text
    assert f"{d.success_rate * 100:.0f} % of the {d.correct} images the distilled model" in text
    assert f"{u.success_rate * 100:.0f} % of {u.correct}" in text
    if u.median_l2 is not None:
        assert f"median ‖δ‖₂ {u.median_l2:.2f}" in text
    # a non-distillation run shows no C&W line
    r2 = _run(qtbot, dwindow, DefenseSpec("bit_depth", bits=2), "fgsm", 1, [0.0, 0.1], 8)
    assert r2.cw == () and not p.cw_label.isVisibleTo(p)


def test_cw_verdict_follows_the_numbers():
    from advstudio.gui.features.defenses.messages import cw_summary, cw_text

    undefended = cw_summary("undefended", "base", [True] * 4, [True] * 4, [1.0, 1.2, 1.4, 9.0], 100, 5)
    masked = cw_summary("distilled", "d", [True, True, True, True], [True, True, True, False],
                        [2.0, 2.2, 2.4, 0.0], 100, 5)
    assert masked.success_rate == 1.0 and masked.median_l2 == pytest.approx(2.2) and undefended.median_l2 == pytest.approx(1.3)
    text = cw_text((masked, undefended))
    assert "100 % of the 3 images" in text and "median ‖δ‖₂ 2.20" in text and "median ‖δ‖₂ 1.30" in text
    assert "it does not make the model robust" in text
    held = cw_summary("distilled", "d", [True, False, False, False], [True] * 4, [2.0, 5.0, 5.0, 5.0], 100, 5)
    text = cw_text((held, undefended))
    assert "25 % of the 4" in text and "does not make the model robust" not in text


def test_cancel_during_cw(qtbot, dwindow, mnist_train, tmp_path):
    path, _ = _distilled_file(mnist_train, tmp_path)
    studio = dwindow.defense

    def cancel_in_cw(m) -> None:
        if m.label.startswith("C&W"):
            studio.cancel()

    studio.defenseProgress.connect(cancel_in_cw)
    spec = DefenseSpec("distillation", distilled=str(path), cw_steps=2000, cw_searches=5)
    r = _run(qtbot, dwindow, spec, "fgsm", 1, [0.0, 0.1], 50, timeout=60000)
    assert isinstance(r, DefenseCancelled) and 3 * 50 <= r.done < r.total == 5 * 50
    assert studio.panel.result is None and not studio.panel.running
