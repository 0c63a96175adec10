"""The Training tab: a short standard run (live plots, a model file with the CLI's metadata, the lab registry,
"Use as current model"), FGSM-RS with its per-epoch PGD readout, cancel keeping the checkpoint, resume, a
missing dataset, and drawing answered while training runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from qt_helpers import draw_digit

from advstudio.gui.features.training.messages import (
    TrainCancelled,
    TrainProblem,
    TrainResult,
    checkpoint_path,
    read_checkpoint_info,
)


def _setup(window, tmp_path, *, limit: int, epochs: int = 1, method=None, eval_limit: int = 300, **adv):
    t = window.training
    p = t.panel
    p.set_method(method)
    p.limit.setValue(limit)
    p.epochs.setValue(epochs)
    p.eval_limit.setValue(eval_limit)
    for name, value in adv.items():
        getattr(p, name).setValue(value)
    out = tmp_path / "trained.safetensors"
    t.set_output(out)
    return t, out


def _run(qtbot, t, timeout: int = 120000):
    with qtbot.waitSignal(t.trainingFinished, timeout=timeout) as blocker:
        assert t.start() is not None
        assert not t.panel.start_button.isEnabled() and t.panel.cancel_button.isEnabled()
    return blocker.args[0]


def _weights_of_core_training(mnist_dir, config):
    """The same run done directly with core.training.train (as `advstudio train` does it)."""
    from advstudio.core.data import load_split
    from advstudio.core.model import MnistCNN
    from advstudio.core.training import train

    torch.manual_seed(config.seed)
    model = MnistCNN()
    for _ in train(model, load_split(mnist_dir, "train"), None, dataclasses.replace(config, report_every=5)):
        pass
    return model.state_dict()


def test_a_standard_run_plots_saves_registers_and_can_become_the_model(qtbot, make_window, tmp_path, mnist_dir):
    from advstudio.core.storage import load_model

    window = make_window(data_dir=str(mnist_dir))
    t, out = _setup(window, tmp_path, limit=256, epochs=1)
    progress = []
    t.trainingProgress.connect(progress.append)
    r = _run(qtbot, t)
    assert isinstance(r, TrainResult), r
    p = t.panel
    assert p.start_button.isEnabled() and not p.cancel_button.isEnabled()
    assert any(m.progress is not None for m in progress)
    # the plots hold what the reports said: training loss at fractional epochs, one test point per epoch
    x, y = p.curves.loss_line.getData()
    assert len(x) >= 1 and x[-1] == pytest.approx(1.0) and np.all(np.isfinite(y)) and y[-1] > 0
    tx, ty = p.curves.test_line.getData()
    assert list(tx) == [1.0] and ty[0] == pytest.approx(r.history[-1]["test_accuracy"] * 100)
    assert not p.curves.robust_line.isVisible()
    # the file: loadable, with the CLI's metadata fields
    assert out.is_file() and r.path == str(out)
    model, meta = load_model(out)
    for key in ("name", "recipe", "seed", "epochs", "train_samples", "test_accuracy", "test_samples", "history",
                "training_seconds", "device", "versions", "date", "command", "fgsm_curve"):
        assert key in meta, key
    assert meta["train_samples"] == 256 and meta["test_samples"] == 300 and meta["epochs"] == 1
    assert meta["recipe"]["optimizer"] == "Adam" and "adversarial" not in meta["recipe"]
    assert meta["fgsm_curve"]["n"] == 300 and meta["fgsm_curve"]["accuracy"][0] == pytest.approx(meta["test_accuracy"])
    assert 0.1 < meta["test_accuracy"] <= 1.0  # 256 images, one epoch: well above chance (10 %)
    # the same weights as core training with the same settings (drawing between batches changes nothing)
    reference = _weights_of_core_training(mnist_dir, p.config())
    for k, v in model.state_dict().items():
        assert torch.allclose(v, reference[k], atol=1e-5), k
    # the robustness lab offers it; "Use as current model" loads it
    assert any(m.path == str(out) for m in window.ctx.models)
    assert p.use_button.isVisibleTo(p)
    with qtbot.waitSignal(window.ctx.modelReady, timeout=20000) as loaded:
        p.use_button.click()
    assert loaded.args[0].path == str(out)
    assert checkpoint_path(out).is_file() and read_checkpoint_info(checkpoint_path(out))["epoch"] == 1


def test_fgsm_rs_training_reports_pgd_robust_accuracy(qtbot, make_window, tmp_path, mnist_dir):
    window = make_window(data_dir=str(mnist_dir))
    t, out = _setup(window, tmp_path, limit=128, method="fgsm_rs", eval_limit=200, eps=0.1, robust_n=100)
    p = t.panel
    assert "0.125" in p.step_auto.text()  # auto step size 1.25·ε shown
    r = _run(qtbot, t)
    assert isinstance(r, TrainResult), r
    robust = r.history[-1]["robust_accuracy"]
    assert robust is not None and 0.0 <= robust <= 1.0
    rx, ry = p.curves.robust_line.getData()
    assert list(rx) == [1.0] and ry[0] == pytest.approx(robust * 100)
    assert p.curves.robust_line.isVisible()
    label = p.curves.acc_legend.text()
    assert "PGD-20, ε=0.1, n=100" in label
    assert "PGD-20, ε=0.1, n=100" in p.status.text()
    recipe = r.metadata["recipe"]
    assert recipe["adversarial"] == "fgsm_rs" and recipe["adv_eps"] == 0.1 and recipe["adv_step_size"] == 0.125


def test_cancel_stops_and_keeps_the_last_finished_epoch(qtbot, make_window, tmp_path, mnist_dir):
    window = make_window(data_dir=str(mnist_dir))
    t, out = _setup(window, tmp_path, limit=512, epochs=30, eval_limit=100)

    def cancel_after_first_epoch(msg) -> None:
        if msg.history:
            t.cancel()

    t.trainingProgress.connect(cancel_after_first_epoch)
    r = _run(qtbot, t)
    assert isinstance(r, TrainCancelled), r
    assert 1 <= r.epochs_done < 30 and r.checkpoint == str(checkpoint_path(out))
    assert read_checkpoint_info(r.checkpoint)["epoch"] == r.epochs_done
    assert not out.exists()  # no model file for an unfinished run
    p = t.panel
    assert f"({r.epochs_done} of 30)" in p.status.text() and "Resume" in p.status.text()
    assert p.start_button.isEnabled() and p.resume.isEnabled()
    assert f"epoch {r.epochs_done} of 30" in p.checkpoint_label.text()


def test_resume_continues_from_the_checkpoint(qtbot, make_window, tmp_path, mnist_dir):
    window = make_window(data_dir=str(mnist_dir))
    t, out = _setup(window, tmp_path, limit=256, epochs=1, eval_limit=100)
    assert not t.panel.resume.isEnabled()  # no checkpoint yet
    first = _run(qtbot, t)
    assert isinstance(first, TrainResult)
    p = t.panel
    assert p.resume.isEnabled()
    p.epochs.setValue(2)
    p.resume.setChecked(True)
    progress = []
    t.trainingProgress.connect(progress.append)
    r = _run(qtbot, t)
    assert isinstance(r, TrainResult), r
    assert r.first_epoch == 2 and r.metadata["resumed_from_epoch"] == 1
    assert [h["epoch"] for h in r.history] == [1, 2]
    assert r.history[0] == first.history[0]
    assert all(m.progress.epoch == 2 for m in progress if m.progress is not None)
    assert list(p.curves.test_line.getData()[0]) == [1.0, 2.0]
    # identical to two uninterrupted epochs (model, optimizer and RNG state all come back)
    from advstudio.core.storage import load_model

    model, _ = load_model(out)
    reference = _weights_of_core_training(mnist_dir, p.config())
    for k, v in model.state_dict().items():
        assert torch.allclose(v, reference[k], atol=1e-5), k
    # a checkpoint made with other settings is refused with the reason
    p.epochs.setValue(3)
    p.batch_size.setValue(32)
    p.resume.setChecked(True)
    bad = _run(qtbot, t)
    assert isinstance(bad, TrainProblem) and "batch size" in bad.message and "batch size" in p.status.text()


def test_a_resumed_run_keeps_the_earlier_epochs_on_the_plot_and_unticks_resume(qtbot, make_window, tmp_path,
                                                                              mnist_dir, monkeypatch):
    from advstudio.gui.features.training import jobs

    monkeypatch.setattr(jobs, "EMIT_EVERY_S", 0.0)  # every report reaches the plot: several points an epoch
    window = make_window(data_dir=str(mnist_dir))
    t, _out = _setup(window, tmp_path, limit=1024, epochs=1, eval_limit=100)
    t.panel.batch_size.setValue(64)
    assert isinstance(_run(qtbot, t), TrainResult)
    p, c = t.panel, t.panel.curves
    first = list(zip(c.loss_x, c.loss_y))
    assert len(first) >= 3 and first[0][0] < 1.0 and first[-1][0] == 1.0
    p.epochs.setValue(2)
    p.resume.setChecked(True)
    assert isinstance(_run(qtbot, t), TrainResult)
    points = list(zip(c.loss_x, c.loss_y))
    assert points[:len(first)] == first  # epoch 1 as it was drawn, batch by batch
    assert len(points) >= 2 * len(first) - 1 and all(1.0 < x <= 2.0 for x, _ in points[len(first):])
    assert np.all(np.diff(c.loss_line.getData()[0]) > 0)
    assert not p.resume.isChecked() and p.resume.isEnabled()  # the run is over; Resume is offered again
    # a small loss is shown as it is, not rescaled to "×0.001"
    c.loss_line.setData([0.0, 1.0, 2.0], [0.004, 0.003, 0.002])
    c.loss_plot.enableAutoRange()
    qtbot.wait(50)
    axis = c.loss_plot.getAxis("left")
    assert axis.autoSIPrefixScale == 1.0 and "0.001" not in axis.labelString()


def test_resuming_after_a_restart_starts_from_the_checkpoints_epochs(window):
    from advstudio.core.training_config import TrainConfig
    from advstudio.gui.features.training.messages import TrainProgress

    c = window.training.panel.curves
    history = ({"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.8, "test_accuracy": 0.9},
               {"epoch": 2, "train_loss": 0.3, "train_accuracy": 0.9, "test_accuracy": 0.95})
    c.begin(TrainConfig(epochs=4))
    c.add_progress(TrainProgress("Reading MNIST…", None, 3, 4, 0, 0, 0.0, history, 0))
    assert c.loss_x == [1.0, 2.0] and c.loss_y == [0.5, 0.3] and c.acc_y == [80.0, 90.0]


def test_a_missing_dataset_says_so_in_the_panel(qtbot, make_window, tmp_path, idx_folder):
    window = make_window(data_dir=str(tmp_path / "nowhere"))
    t = window.training
    t.set_output(tmp_path / "m.safetensors")
    with qtbot.waitSignal(t.trainingFailed, timeout=5000) as blocker:
        assert t.start() is None
    assert "does not exist" in blocker.args[0] and str(tmp_path / "nowhere") in blocker.args[0]
    p = t.panel
    assert p.data_message.isVisibleTo(p) and "nowhere" in p.data_text.text()
    assert p.start_button.isEnabled() and not t.running
    window.ctx.data_dir = str(idx_folder(20))  # a test split alone is not enough to train
    assert t.start() is None
    assert "train-images-idx3-ubyte" in p.data_text.text()


def test_drawing_is_answered_while_training_runs(qtbot, make_window, tmp_path, mnist_dir):
    window = make_window(data_dir=str(mnist_dir))
    t, out = _setup(window, tmp_path, limit=0, epochs=1, eval_limit=100)  # all 60 000 images: long enough
    seen = []
    window.ctx.analysisShown.connect(lambda _a: seen.append(t.running))
    with qtbot.waitSignal(t.trainingProgress, timeout=60000, check_params_cb=lambda m: m.progress is not None):
        assert t.start() is not None
    draw_digit(qtbot, window, 3)
    assert seen and seen[-1] is True  # the prediction arrived while training was still running
    with qtbot.waitSignal(t.trainingFinished, timeout=60000) as blocker:
        t.cancel()
    assert isinstance(blocker.args[0], TrainCancelled) and blocker.args[0].epochs_done == 0
    assert "nothing was kept" in t.panel.status.text()


def test_defensive_distillation_trains_teacher_then_student_and_hands_it_to_defenses(qtbot, make_window, tmp_path,
                                                                                      mnist_dir, mnist_train):
    from advstudio.core.defenses.distillation import distill
    from advstudio.core.model import MnistCNN
    from advstudio.core.storage import load_model
    from advstudio.core.training_config import TrainConfig

    window = make_window(data_dir=str(mnist_dir))
    t, out = _setup(window, tmp_path, limit=256, epochs=1, method="distillation", eval_limit=100)
    p = t.panel
    assert p.temperature.value() == 20.0 and "100" in p.temperature.toolTip()  # the CLI's default; the paper's T
    assert p.distill_box.isVisibleTo(p) and not p.adv_box.isVisibleTo(p)
    assert not p.resume.isEnabled() and "no checkpoint" in p.resume.toolTip()
    assert "no checkpoint" in p.checkpoint_label.text()
    assert p.config().adversarial is None and p.config().lr_schedule == "constant"
    progress = []
    t.trainingProgress.connect(progress.append)
    r = _run(qtbot, t)
    assert isinstance(r, TrainResult), r
    assert not p.resume.isEnabled()  # still nothing to resume after the run
    # progress named each stage, in order, and the student's epochs continue the teacher's
    phases = [m.phase for m in progress if m.progress is not None]
    assert phases[0] == "teacher" and phases[-1] == "student" and phases == sorted(phases, key=["teacher",
                                                                                               "student"].index)
    assert any("teacher" in m.stage for m in progress) and any("student" in m.stage for m in progress)
    x, y = p.curves.loss_line.getData()
    assert x[-1] == pytest.approx(2.0) and np.any((x > 0) & (x <= 1)) and np.all(np.isfinite(y))
    tx, _ty = p.curves.test_line.getData()
    assert list(tx) == [1.0, 2.0] and p.curves.stage_lines[1].isVisible() and p.curves.stage_lines[1].value() == 1.0
    assert p.progress.value() == 1000
    # the file: the student, with `advstudio distill`'s metadata
    model, meta = load_model(out)
    assert meta["recipe"]["temperature"] == 20.0 and meta["recipe"]["defense"] == "defensive_distillation"
    assert meta["recipe"]["role"] == "student" and meta["train_samples"] == 256 and meta["test_samples"] == 100
    assert [h["epoch"] for h in meta["history"]] == [1] and meta["fgsm_curve"]["n"] == 100
    assert 0.0 <= meta["test_accuracy"] <= 1.0  # 4 batches at T = 20 learn little: only the range is sure
    assert not checkpoint_path(out).exists()
    # the same weights as core.distillation.distill with the same settings
    cfg = TrainConfig(epochs=1, batch_size=p.batch_size.value(), lr=p.lr.value(), seed=p.seed.value(), limit=256,
                      eval_limit=100, report_every=5)
    torch.manual_seed(cfg.seed)
    teacher, student = MnistCNN(), MnistCNN()
    for _ in distill(teacher, student, mnist_train, None, cfg, 20.0):
        pass
    for k, v in model.state_dict().items():
        assert torch.allclose(v, student.state_dict()[k], atol=1e-5), k
    assert "T = 20" in p.status.text() and "FGSM accuracy at ε = 0.1 (n = 100)" in p.status.text()
    # offered to the Defenses tab, which accepts it with T from the file
    assert p.defense_button.isVisibleTo(p)
    p.defense_button.click()
    d = window.defense.panel
    assert window.current_tab() == "defenses" and d.defense_kind() == "distillation"
    spec = d.spec()
    assert spec.distilled == str(out) and spec.temperature is None
    from advstudio.gui.features.defenses.messages import DefenseResult

    with qtbot.waitSignal(window.defense.defenseFinished, timeout=120000) as done:
        window.defense.run(spec, "fgsm", 1, [0.0, 0.1], 16)
    assert isinstance(done.args[0], DefenseResult) and "T=20" in done.args[0].defended_name


def test_cancelling_distillation_keeps_nothing(qtbot, make_window, tmp_path, mnist_dir):
    window = make_window(data_dir=str(mnist_dir))
    t, out = _setup(window, tmp_path, limit=2048, epochs=3, method="distillation", eval_limit=100)

    def cancel_in_the_teacher(msg) -> None:
        if msg.progress is not None:
            t.cancel()

    t.trainingProgress.connect(cancel_in_the_teacher)
    r = _run(qtbot, t)
    assert isinstance(r, TrainCancelled) and r.checkpoint is None
    assert not out.exists() and not checkpoint_path(out).exists()
    assert "nothing was kept" in t.panel.status.text() and t.panel.start_button.isEnabled()
    assert not t.panel.resume.isEnabled()


@pytest.mark.parametrize("header", [
    [1, 2], 5, "text", {"__metadata__": [1]}, {"__metadata__": "x"}, {"__metadata__": {"advstudio_checkpoint": 5}},
    {"__metadata__": {"advstudio_checkpoint": "[" * 5000 + "]" * 5000}},
    {"__metadata__": {"advstudio_checkpoint": '{"epoch": NaN}'}},
])
def test_a_checkpoint_with_a_hostile_header_is_a_readable_refusal(tmp_path, header):
    import json
    import struct

    from advstudio.core.training_config import CHECKPOINT_KEY

    assert CHECKPOINT_KEY == "advstudio_checkpoint"
    body = json.dumps(header).encode()
    path = tmp_path / "bad.checkpoint"
    path.write_bytes(struct.pack("<Q", len(body)) + body)
    with pytest.raises(ValueError, match="bad.checkpoint is not"):
        read_checkpoint_info(path)


def test_trades_shows_beta_trains_and_saves_its_recipe(qtbot, make_window, tmp_path, mnist_dir):
    window = make_window(data_dir=str(mnist_dir))
    t, out = _setup(window, tmp_path, limit=128, method="trades", eval_limit=200, eps=0.1, robust_n=50, steps=2)
    p = t.panel
    form = p.adv_box.form
    assert form.isRowVisible(p.beta) and p.steps.isEnabled() and not p.share.isEnabled()
    p.beta.setValue(3.0)
    c = p.config()
    assert c.adversarial == "trades" and c.trades_beta == 3.0 and c.adv_steps == 2

    r = _run(qtbot, t)
    assert isinstance(r, TrainResult), r
    recipe = r.metadata["recipe"]
    assert recipe["adversarial"] == "trades" and recipe["trades_beta"] == 3.0 and recipe["adv_steps"] == 2
    assert "TRADES" in p.curves.caption.text() and "β = 3" in p.curves.caption.text()
    assert r.history[-1]["robust_accuracy"] is not None and out.exists()
    # the run joins the clean-vs-robust view beside the published AutoAttack points
    from advstudio.gui.features.training.tradeoff import PUBLISHED, run_point

    point = p.tradeoff.runs[-1]
    assert point.label.startswith("TRADES β = 3, ε = 0.1") and "PGD-20 check" in point.label
    assert point.clean == pytest.approx(r.history[-1]["test_accuracy"] * 100)
    assert point.robust == pytest.approx(r.history[-1]["robust_accuracy"] * 100)
    xs, ys = p.tradeoff.mine.getData()
    assert list(xs) == [point.clean] and list(ys) == [point.robust]
    assert len(p.tradeoff.published.getData()[0]) == len(PUBLISHED) == 3
    assert {"Madry et al. (PGD)", "TRADES (β = 6)"} <= {t.toPlainText().strip() for t in p.tradeoff.texts}
    assert run_point({"recipe": {}}, r.history) is None  # standard training is not a point
    p.set_method("pgd")
    assert not form.isRowVisible(p.beta) and p.share.isEnabled()


def test_the_quick_robust_preset_fills_the_form_and_a_change_makes_it_your_own(window):
    from advstudio.core.training_config import PRESETS

    p = window.training.panel
    preset = PRESETS["quick-robust"]
    p.preset.setCurrentIndex(p.preset.findData("quick-robust"))
    assert p.config() == preset.config
    assert p.preset_blurb.isVisibleTo(p) and p.preset_blurb.text() == preset.blurb
    assert p.guard.isChecked() == (preset.config.guard_every > 0)
    p.epochs.setValue(preset.config.epochs + 1)
    assert p.preset_key() is None and "now your own recipe" in p.preset_blurb.text()
    assert p.config().epochs == preset.config.epochs + 1  # the edit is kept, the rest of the recipe too
    assert p.config().adversarial == preset.config.adversarial


def test_the_guard_sentence_shows_when_it_stopped_a_run(window):
    from advstudio.gui.features.training.messages import guard_message

    p = window.training.panel
    p.guard.setChecked(True)
    p.set_method("fgsm_rs")
    assert p.config().guard_every > 0
    p.set_method(None)
    assert "guarded" not in p.curves.caption.text()
    note = "stopped in epoch 2, batch 400: PGD-10 accuracy on 256 training images fell to 3.0% from its best 40.0%"
    history = ({"epoch": 1, "test_accuracy": 0.98}, {"epoch": 2, "test_accuracy": 0.98, "guard": note})
    assert guard_message(history) == note and guard_message(history[:1]) is None
    p.show_result(TrainResult("m.safetensors", "m", {"test_samples": 10}, history, 3.0, 1))
    assert f"The overfitting guard {note}." in p.status.text()
