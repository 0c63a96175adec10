"""The attack lab (any attack on the current input, its trajectory, the norms table) and the robustness lab
(curves over the test set, overlays, confusion, gallery, exports, cancel, a missing dataset)."""

from __future__ import annotations

import csv
import gzip
import json
import struct

import numpy as np
import torch
from PIL import Image
from qt_helpers import draw_digit, set_eps

from advstudio.gui.features.lab.messages import LabCancelled, LabResult, LabSpec


def _run_input(qtbot, window, attack: str, **values):
    tab = window.any_attack
    tab.panel.form.set_attack(attack, **values)
    with qtbot.waitSignal(tab.inputAttackShown, timeout=30000) as blocker:
        assert tab.run_input_attack() is not None
    return blocker.args[0]


def _softmax(model, frames: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return torch.softmax(model(torch.from_numpy(frames[:, None].copy())), 1).numpy()


def test_the_form_offers_every_setting_of_every_attack(window):
    from advstudio.core.attacks import ATTACKS, attack_settings

    form = window.any_attack.panel.form
    for name in ATTACKS:
        form.set_attack(name)
        expected = set(attack_settings(name)) - {"record_trajectory", "targeted"}
        assert set(form.fields) == expected
        settings = form.settings()
        from advstudio.core.attacks import make_attack

        make_attack(name, **settings)  # every value the form gives is accepted


def test_pgd_on_the_input_stays_within_eps_and_fills_the_scrubber(qtbot, window, bundled_model):
    draw_digit(qtbot, window, 3)
    r = _run_input(qtbot, window, "pgd", eps=0.1, steps=12, early_stop=False)
    panel = window.any_attack.panel
    assert panel.result is r and r.attack == "pgd" and r.eps == 0.1
    assert np.array_equal(r.clean, window.ctx.current_input)
    assert r.linf <= 0.1 + 1e-6
    assert np.abs(r.adversarial - r.clean).max() <= 0.1 + 1e-6
    assert np.allclose(r.adversarial - r.clean, r.perturbation, atol=1e-6)
    assert 0.0 <= r.adversarial.min() and r.adversarial.max() <= 1.0
    # full mode: the random start and 12 steps, every frame inside the ε-ball
    assert len(r.frames) == 13 and list(r.frame_step) == list(range(13))
    assert np.abs(r.frames - r.clean).max() <= 0.1 + 1e-6
    assert np.allclose(_softmax(bundled_model, r.frames), r.frame_probs, atol=1e-4)
    assert np.allclose(r.adv_probs, _softmax(bundled_model, r.adversarial[None])[0], atol=1e-4)
    assert panel.slider.maximum() == 12
    for k in (0, 5, 12):
        panel.slider.setValue(k)
        assert panel.frame == k
        assert np.array_equal(panel.view.shown["iterate"], r.frames[k])
        assert np.allclose(panel.view.shown["perturbation"], r.frames[k] - r.clean)
        assert np.array_equal(panel.view.bars.heights[1], r.frame_probs[k])
        assert np.array_equal(panel.view.bars.heights[0], r.clean_probs)
    for word in ("PGD", "ε = 0.100", "12 steps", "1 restart", "n = 1"):
        assert word in panel.caption.text()


def test_the_cw_animation_ends_on_the_result_the_caption_and_table_report(qtbot, window, mnist_test):
    # test digit 0 (a 7): C&W's best is an early search round; its last round reads 7 again
    window.studio.canvas.set_base(mnist_test.images[0, 0].numpy())
    qtbot.waitUntil(lambda: window.ctx.current_input is not None)
    r = _run_input(qtbot, window, "cw")
    panel = window.any_attack.panel
    assert r.success and r.adv_label != r.clean_label
    last = len(r.frames) - 1
    assert panel.slider.maximum() == last and panel.slider.value() == last and panel.frame == last
    assert np.array_equal(r.frames[last], r.adversarial)
    assert int(np.argmax(r.frame_probs[last])) == r.adv_label
    assert np.array_equal(panel.view.shown["iterate"], r.adversarial)
    verdict = f"{r.clean_label} → {r.adv_label}"
    assert f"reads {r.adv_label} (" in panel.step_label.text() and "the result" in panel.step_label.text()
    assert verdict in panel.caption.text()
    assert panel.table.item(panel.table.rowCount() - 1, 3).text() == verdict
    panel.timer.setInterval(1)  # the same animation, frame by frame, without the on-screen pace
    panel.play.setChecked(True)  # the animation ends where the run ended
    qtbot.waitUntil(lambda: not panel.play.isChecked(), timeout=120000)
    assert panel.frame == last and f"reads {r.adv_label} (" in panel.step_label.text()


def test_the_prompt_follows_the_canvas_drawn_cleared_and_after_a_run(qtbot, window):
    status = window.any_attack.panel.status
    assert "Draw a digit" in status.text()
    draw_digit(qtbot, window, 7)
    assert "Draw a digit" not in status.text() and "Run attack" in status.text()
    _run_input(qtbot, window, "fgsm", eps=0.2)
    assert "Done" in status.text()
    window.studio.canvas.clear()
    qtbot.waitUntil(lambda: window.ctx.current_input is None)
    assert "Draw a digit" in status.text() and window.any_attack.panel.result is None
    draw_digit(qtbot, window, 3)
    assert "Draw a digit" not in status.text()


def test_the_eps_field_follows_the_attack_tabs_slider(qtbot, window):
    form, controls = window.any_attack.panel.form, window.studio.attack_panel.controls

    def eps_field() -> float:
        return form.fields["eps"].value()

    form.set_attack("pgd")
    controls.set_eps(0.3)
    qtbot.waitUntil(lambda: eps_field() == 0.3, timeout=5000)
    form.fields["eps"].setValue(0.05)  # the student's own ε here stays until the slider moves again
    form.set_attack("bim")
    assert form.settings()["eps"] == 0.05
    controls.set_eps(0.2)
    qtbot.waitUntil(lambda: eps_field() == 0.2, timeout=5000)
    form.set_attack("deepfool")  # no ε: the next attack with one takes the slider's
    assert "eps" not in form.fields
    form.set_attack("pgd")
    assert form.settings()["eps"] == 0.2 and window.ctx.attack_settings.eps == 0.2


def test_the_norms_table_gets_one_row_per_attack_and_clears_for_a_new_input(qtbot, window):
    draw_digit(qtbot, window, 7)
    runs = [_run_input(qtbot, window, "fgsm", eps=0.2), _run_input(qtbot, window, "bim", eps=0.1, steps=5),
            _run_input(qtbot, window, "deepfool", steps=20)]
    panel = window.any_attack.panel
    assert panel.table.rowCount() == 3
    assert [row[0] for row in panel.norm_rows] == ["fgsm", "bim", "deepfool"]
    for row, r in zip(panel.norm_rows, runs):
        assert row[2:] == (r.linf, r.l2, r.l0, r.success)
    assert panel.table.item(0, 4).text() == f"{runs[0].linf:.4f}"
    assert panel.table.item(2, 1).text() == "—"  # DeepFool has no ε
    assert runs[0].linf <= 0.2 + 1e-6 and runs[1].linf <= 0.1 + 1e-6
    assert len(runs[0].frames) == 2  # one-step FGSM: the start and the result
    draw_digit(qtbot, window, 3)
    assert panel.table.rowCount() == 0 and panel.result is None


def test_the_lab_overlays_fgsm_and_pgd_curves_that_match_attack_curve(qtbot, window, bundled_model, mnist_test,
                                                                      tmp_path):
    from advstudio.core.evaluation.lab import attack_curve

    lab = window.lab
    entry = window.ctx.models.entries()[0]
    eps = [0.0, 0.1, 0.2]
    specs = [LabSpec(entry, "fgsm", {}), LabSpec(entry, "pgd", {"steps": 10})]
    progress = []
    lab.labProgress.connect(progress.append)
    with qtbot.waitSignal(lab.labFinished, timeout=60000) as blocker:
        assert lab.run_lab(specs, eps, 100) is not None
        assert lab.panel.running and not lab.panel.run_button.isEnabled()
    result = blocker.args[0]
    assert isinstance(result, LabResult) and not lab.panel.running
    assert progress and progress[-1].done == progress[-1].total
    panel = lab.panel
    assert len(panel.curves) == 2 and len(panel.lines) == 2
    images, labels = mnist_test.images[:100], mnist_test.labels[:100]
    for c, line, (attack, settings) in zip(panel.curves, panel.lines, (("fgsm", {}), ("pgd", {"steps": 10}))):
        direct = attack_curve(bundled_model, images, labels, attack, eps, settings, batch_size=250)
        assert c.curve.accuracy == direct.accuracy and c.curve.n == 100
        x, y = line.getData()
        assert np.allclose(x, eps) and np.allclose(y, np.asarray(direct.accuracy) * 100)
        assert c.confusion.sum() == 100 and c.detail_eps == 0.2
        assert np.trace(c.confusion) == round(direct.accuracy[-1] * 100)
    pgd = panel.curves[1]
    assert pgd.curve.accuracy[-1] < panel.curves[0].curve.accuracy[-1]  # PGD is the stronger attack
    for word in ("PGD", "10 steps", "1 restart", "n = 100"):
        assert word in pgd.label()
    assert "ε ∈ {0, 0.1, 0.2}" in pgd.describe()
    m = pgd.mistakes
    assert len(m.indices) > 0 and np.all(m.labels != m.predicted) and np.all(np.diff(m.confidence) <= 0)
    assert np.abs(m.adversarial - m.clean).max() <= 0.2 + 1e-6
    assert "n = 100" in panel.gallery_title.text and "ε = 0.2" in panel.cm_title.text
    assert "attacker who knows it" in panel.note.text()

    paths = {k: lab.export(k, tmp_path / f"curves.{k}") for k in ("csv", "json", "png")}
    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(rows) == 6 and {r["attack"] for r in rows} == {"fgsm", "pgd"}
    assert [float(r["accuracy"]) for r in rows[3:]] == list(pgd.curve.accuracy)
    assert rows[3]["steps"] == "10" and rows[3]["restarts"] == "1" and rows[3]["n"] == "100"
    docs = json.loads(paths["json"].read_text())
    assert [d["attack"] for d in docs] == ["fgsm", "pgd"]
    assert docs[1]["params"]["steps"] == 10 and docs[1]["params"]["eps"] == eps and docs[1]["n"] == 100
    assert [r["accuracy"] for r in docs[1]["results"]] == list(pgd.curve.accuracy)
    assert {"model", "model_path", "clean_accuracy", "success_rate"} <= set(docs[1])
    with Image.open(paths["png"]) as img:
        assert img.width >= 900 and img.height > 200


def test_cancel_stops_a_run_promptly_and_leaves_the_window_usable(qtbot, window, mnist_dir):
    import time

    draw_digit(qtbot, window, 3)
    lab = window.lab
    spec = LabSpec(window.ctx.models.entries()[0], "pgd", {"steps": 400, "early_stop": False})
    with qtbot.waitSignal(lab.labProgress, timeout=30000):
        lab.run_lab([spec], [0.1, 0.2, 0.3], 2000)
    start = time.perf_counter()
    with qtbot.waitSignal(lab.labFinished, timeout=5000) as blocker:
        lab.panel.cancel_button.click()
    assert time.perf_counter() - start < 3.0
    assert isinstance(blocker.args[0], LabCancelled)
    assert not lab.panel.running and lab.panel.run_button.isEnabled() and lab.panel.curves == []
    assert set_eps(qtbot, window, 0.2).eps == 0.2  # the live slider still answers


def test_a_missing_dataset_shows_an_error_and_changes_nothing(qtbot, make_window, monkeypatch, tmp_path, idx_folder):
    monkeypatch.delenv("ADVSTUDIO_MNIST_DIR", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    window = make_window(data_dir=str(empty))
    lab = window.lab
    tab = window.tabs.currentIndex()
    before = len(window.ctx.errors)
    assert lab.run_lab([LabSpec(window.ctx.models.entries()[0], "fgsm", {})], [0.0, 0.1], 100) is None
    assert not lab.panel.running and lab.panel.curves == [] and window.tabs.currentIndex() == tab
    assert not lab.panel.data_message.isHidden() and "MNIST" in lab.panel.data_text.text()
    assert any("MNIST" in e for e in window.ctx.errors[before:])
    # a folder whose files exist but do not belong together fails on the worker: same message, nothing changes
    bad = idx_folder(50)
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 0x801, 40) + bytes(40)))
    window.ctx.data_dir = str(bad)
    lab.panel.show_data_error(None)
    with qtbot.waitSignal(lab.labFailed, timeout=20000):
        assert lab.run_lab([LabSpec(window.ctx.models.entries()[0], "fgsm", {})], [0.0, 0.1], 100) is not None
    assert not lab.panel.running and lab.panel.curves == [] and lab.panel.run_button.isEnabled()
    assert not lab.panel.data_message.isHidden() and "40 labels" in lab.panel.data_text.text()
    # the message's button asks for a folder; a usable one hides the message
    good = idx_folder(60, seed=2)
    monkeypatch.setattr(window.ctx, "set_data_dir", lambda folder: setattr(window.ctx, "data_dir", str(folder)))
    monkeypatch.setattr(window, "ask_data_dir", lambda: window.ctx.set_data_dir(good))
    lab.panel.choose_folder.click()
    assert lab.panel.data_message.isHidden() and window.ctx.data_dir == str(good)


def test_the_lab_offers_the_bundled_robust_model_beside_the_standard_one(window):
    from pathlib import Path

    from advstudio.core.resources import robust_model_path

    keys = [m.key for m in window.ctx.models]
    assert keys[0] == "bundled"
    robust = [m for m in window.ctx.models if Path(m.path).resolve() == robust_model_path().resolve()]
    assert len(robust) == 1 and "robust" in robust[0].name


def test_hide_side_panels_from_the_view_menu_restores_exactly_what_was_shown(window):
    window.show_tab("attack")
    window.docks["gallery"].hide()  # the user's own choice on this tab
    shown = {k for k, d in window.docks.items() if not d.isHidden()}
    assert shown and "gallery" not in shown
    action = window.actions_.hide_panels
    action.trigger()
    assert all(d.isHidden() for d in window.docks.values())
    assert action.isChecked()
    action.trigger()
    assert {k for k, d in window.docks.items() if not d.isHidden()} == shown
    assert not action.isChecked()


def test_the_robustness_lab_gets_the_whole_window_without_asking(window):
    window.resize(1280, 720)
    window.show_tab("attack")
    assert not window.docks["input"].isHidden()
    window.show_tab("robustness")
    assert all(d.isHidden() for d in window.docks.values())  # its workspace has no side panels
    assert not window.side_panels_hidden()  # nothing was hidden by hand: View ▸ Hide side panels stays off
    window.show_tab("attack")
    assert not window.docks["input"].isHidden() and not window.docks["prediction"].isHidden()


def test_before_a_run_any_attack_shows_the_drawing_and_a_colour_bar_at_the_forms_eps(qtbot, window):
    panel = window.any_attack.panel
    assert window.show_tab("attack_lab")
    assert not np.any(panel.view.shown["clean"])  # an empty canvas: blank images
    draw_digit(qtbot, window, 3)
    qtbot.waitUntil(lambda: window.ctx.current_input is not None and np.any(panel.view.shown["clean"]), timeout=10000)
    assert np.array_equal(panel.view.shown["clean"], window.ctx.current_input.reshape(28, 28))
    assert not np.any(panel.view.shown["perturbation"])
    panel.form.set_attack("pgd", eps=0.2)
    assert panel.view.colorbar.delta_labels == ["−0.2", "0", "+0.2"]
    panel.form.set_eps(0.15)
    assert panel.view.colorbar.delta_labels == ["−0.15", "0", "+0.15"]
    result = _run_input(qtbot, window, "fgsm", eps=0.25)  # a run's own δ takes over
    assert np.any(panel.view.shown["perturbation"]) and result.eps == 0.25
