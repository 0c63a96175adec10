"""The window as a whole: worker errors, closing under load, settings, About, themes, and the real app."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from qt_helpers import draw_digit, wait_settled

from advstudio.gui.messages import AnalyzeRequest, AttackSettings

REPO = Path(__file__).resolve().parents[2]


def test_a_worker_error_becomes_a_message_and_the_window_survives(qtbot, window):
    draw_digit(qtbot, window, 3)
    with qtbot.waitSignal(window.ctx.errorShown, timeout=30000):
        window.studio.submit("analyze", AnalyzeRequest(np.zeros((5, 5), np.float32), AttackSettings()))
    assert "reshape" in window.ctx.errors[-1] or "size" in window.ctx.errors[-1]
    window.studio.attack_panel.controls.set_eps(0.15)
    wait_settled(qtbot, window)  # still answering


def test_latest_request_wins_and_no_queue_builds(qtbot, window):
    draw_digit(qtbot, window, 3)
    seen = []
    window.ctx.analysisShown.connect(lambda a: seen.append(a.attack.eps))
    ctl = window.studio.attack_panel.controls
    for v in range(0, 301):  # a fast drag over 300 slider steps, faster than the worker can answer
        ctl.slider.setValue(v)
    wait_settled(qtbot, window)
    assert window.ctx.analysis.attack.eps == 0.3
    assert len(seen) < 100, f"{len(seen)} stale results were shown"
    assert seen[-1] == 0.3


def test_closing_while_work_runs_exits_within_two_seconds(qtbot, make_window, idx_folder):
    folder = idx_folder(10000)
    window = make_window()
    draw_digit(qtbot, window, 3)
    thread = window.worker_thread.thread
    window.ctx.set_data_dir(folder)  # a long job: 10000 digits
    window.studio.find_flip()
    qtbot.wait(300)
    assert thread.isRunning()
    start = time.perf_counter()
    window.close()
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0 and thread.isFinished()
    QApplication.processEvents()  # late signals are dropped, not delivered to a closed window


def test_settings_persist_across_runs(qtbot, make_window, settings, tmp_path):
    w1 = make_window(data_dir=None)
    w1.studio.input_panel.brush.setValue(31)
    w1.resize(1200, 760)
    w1.docks["model"].hide()
    w1.ctx.set_data_dir(tmp_path)
    saved_geometry = w1.saveGeometry()
    w1.close()
    assert settings.value("canvas/brush_width", type=int) == 31
    assert settings.value("window/geometry") == saved_geometry
    w2 = make_window()
    assert w2.studio.input_panel.brush.value() == 31 and w2.studio.canvas.brush_width == 31
    # the offscreen screen is only 800×600, so Qt clamps the restored width to the window's minimum
    assert w2.size().height() == 760
    assert not w2.docks["model"].isVisible()
    assert w2.ctx.data_dir == str(tmp_path)


def test_fits_1280_by_800(window):
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 800


def test_status_bar_about_and_shortcuts(window):
    assert window.status_device.text().startswith("device: ")
    assert "MNIST CNN" in window.status_model.text()
    assert "%" in window.status_accuracy.text()
    box = window.about()
    text = box.text()
    assert "CC BY-SA 3.0" in text and "LeCun" in text and "Cortes" in text
    box.close()
    acts = window.actions_
    for act, keys in ((acts.open_image, "Ctrl+O"), (acts.save, "Ctrl+S"), (acts.flip, "Ctrl+F"),
                      (acts.open_model, "Ctrl+M"), (acts.clear, "Del")):
        assert act.shortcut().toString() == keys


def test_dark_and_light_themes(qtbot, window):
    from PySide6.QtGui import QPalette

    app = QApplication.instance()
    try:
        window.actions_.themes["dark"].trigger()
        qtbot.wait(20)
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 100
        bg = window.studio.prediction_panel.bars.backgroundBrush().color()
        assert bg.lightness() < 100
        window.actions_.themes["light"].trigger()
        qtbot.wait(20)
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 150
        assert window.studio.prediction_panel.bars.backgroundBrush().color().lightness() > 150
    finally:
        window.actions_.themes["light"].trigger()


def test_the_real_app_starts_and_quits_at_once_after_its_window_closes(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    cmd = [sys.executable, "-m", "advstudio", "--quit-after", "300", "--settings", str(tmp_path / "s.ini"), "--demo"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, closed = [], None
    try:
        for line in proc.stdout:
            lines.append(line)
            if "window closed" in line:
                closed = time.perf_counter()
        proc.wait(timeout=60)
        gone = time.perf_counter()
        stderr = proc.stderr.read()
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr[-2000:]
    assert any("window ready" in line for line in lines) and closed is not None
    assert "Traceback" not in stderr
    # no seconds of interpreter teardown once the window is gone (it took ~2 s here, 4–9 s on slower machines)
    assert gone - closed < 1.0, f"the process lived {gone - closed:.2f} s after its window closed"
    assert QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat).value("window/geometry") is not None


def test_closing_an_idle_window_stops_the_worker_at_once(qtbot, window):
    thread = window.worker_thread.thread
    assert thread.isRunning()
    start = time.perf_counter()
    window.close()
    assert thread.wait(2000) and thread.isFinished() and time.perf_counter() - start < 2.0


def test_closing_during_training_cancels_it_promptly(qtbot, make_window, tmp_path, mnist_dir):
    window = make_window(data_dir=str(mnist_dir))
    t = window.training
    t.panel.epochs.setValue(5)  # minutes of work, were it not cancelled
    t.set_output(tmp_path / "m.safetensors")
    with qtbot.waitSignal(t.trainingProgress, timeout=60000,
                          check_params_cb=lambda p: p.progress is not None):
        assert t.start() is not None
    thread = window.worker_thread.thread
    start = time.perf_counter()
    window.close()
    assert thread.isFinished() and time.perf_counter() - start < 2.0
    assert not (tmp_path / "m.safetensors").exists()


def test_dataset_folder_chosen_in_window_reaches_the_cli(qtbot, make_window, tmp_path, monkeypatch):
    from advstudio.core.data import resolve_data_dir
    from advstudio.core.settings import load_settings

    monkeypatch.delenv("ADVSTUDIO_MNIST_DIR", raising=False)
    w = make_window(data_dir=None)
    w.ctx.set_data_dir(tmp_path)
    assert load_settings()["mnist_dir"] == str(tmp_path)
    assert resolve_data_dir(None) == tmp_path
