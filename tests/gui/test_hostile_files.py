"""What a user's model files and images can do to the window (issue 18): a hostile name shows literally (plain
text, never rich text), hostile metadata shows as unknown, an image is decoded off the GUI thread, a failed load
leaves the worker and the status on the model in use, and closing while a load hangs does not abort."""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QThread, QTimer
from PySide6.QtGui import Qt as QtGuiNamespace
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QLabel, QTextEdit, QWidget
from qt_helpers import draw_digit, wait_settled

from advstudio.gui.features.lab.messages import LabSpec

HOSTILE = "<img src=x onerror=alert(1)>"
RAW = "<img src=x"


def _save(tmp_path, stem: str, **meta_overrides):
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model, save_model

    model, meta = load_model(bundled_model_path())
    return save_model(model, tmp_path / f"{stem}.safetensors", {**meta, **meta_overrides})


def _rich(text: str, fmt=Qt.TextFormat.AutoText) -> bool:
    return fmt == Qt.TextFormat.RichText or (fmt == Qt.TextFormat.AutoText and QtGuiNamespace.mightBeRichText(text))


def rich_leaks(root: QWidget) -> list[str]:
    """Every place under `root` where the hostile text would be rendered as HTML: labels, tooltips, text
    views, and the items (and their tooltips) of lists and combo boxes."""
    leaks = []
    for w in [root, *root.findChildren(QWidget)]:
        name = f"{type(w).__name__} {w.objectName()!r}"
        if isinstance(w, QLabel) and RAW in w.text() and _rich(w.text(), w.textFormat()):
            leaks.append(f"{name} text: {w.text()[:80]}")
        if RAW in w.toolTip() and _rich(w.toolTip()):
            leaks.append(f"{name} tooltip: {w.toolTip()[:80]}")
        if isinstance(w, QTextEdit) and '<img src="x"' in w.toHtml():
            leaks.append(f"{name} document")
        model = w.model() if isinstance(w, (QAbstractItemView, QComboBox)) else None
        if model is not None:
            for row in range(min(model.rowCount(), 50)):
                tip = model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole)
                if isinstance(tip, str) and RAW in tip and _rich(tip):
                    leaks.append(f"{name} item {row} tooltip: {tip[:80]}")
    return leaks


def test_a_hostile_model_name_shows_literally_everywhere(qtbot, window, tmp_path, mnist_dir):  # a lab curve too
    """The model's name (from its metadata) and its file name are HTML; every label, tooltip, list and the
    lesson show them as text."""
    path = _save(tmp_path, HOSTILE, name=HOSTILE)
    draw_digit(qtbot, window, 3)
    with qtbot.waitSignal(window.ctx.modelReady, timeout=30000):
        window.studio.open_model(path)
    wait_settled(qtbot, window)
    entry = window.ctx.models.add_file(path)
    with qtbot.waitSignal(window.compare.compareShown, timeout=30000):  # Side by side: the hostile file on side 2
        window.compare.use_model_file(1, path)
        window.show_tab("compare")
    with qtbot.waitSignal(window.lab.labFinished, timeout=60000):  # a lab curve named after it
        window.lab.run_lab([LabSpec(entry, "fgsm", {})], [0.0, 0.1], 8)
    assert HOSTILE in window.status_model.text()
    assert HOSTILE in window.studio.model_panel.text.text() or "&lt;img" in window.studio.model_panel.text.text()
    window.lesson.start(0)  # its first step names the model
    qtbot.waitUntil(lambda: HOSTILE in window.lesson.panel.body.toPlainText(), timeout=5000)
    leaks = set()
    for key in window.tab_widgets:
        window.show_tab(key)
        qtbot.wait(30)
        leaks.update(f"{key}: {leak}" for leak in rich_leaks(window))
    for dock in window.docks.values():
        leaks.update(rich_leaks(dock))
    assert sorted(leaks) == [], "\n".join(sorted(leaks))
    report = window.session_log.export(tmp_path / "report.html").read_text(encoding="utf-8")
    assert RAW not in report and "&lt;img src=x onerror=alert(1)&gt;" in report  # the HTML report escapes it


def test_the_status_bar_shows_a_hostile_name_as_text(qtbot, window, tmp_path):
    path = _save(tmp_path, "plain", name=HOSTILE)
    with qtbot.waitSignal(window.ctx.modelReady, timeout=30000):
        window.studio.open_model(path)
    label = window.status_model
    assert label.textFormat() == Qt.TextFormat.PlainText and label.text() == f"model: {HOSTILE}"


@pytest.mark.parametrize("meta", [
    {"test_accuracy": float("nan"), "adversarial_accuracy": float("inf")},
    {"test_accuracy": "a", "clean_accuracy": "a", "fgsm_curve": "0.1"},
    {"fgsm_curve": {"eps": [[0.0]], "accuracy": [None]}, "recipe": {"lr": float("nan")}},
    {"fgsm_curve": None, "name": "n" * 1_000_000, "test_samples": 10**30},
])
def test_hostile_metadata_shows_as_unknown_in_the_window(qtbot, window, tmp_path, meta):
    from advstudio.core.storage import METADATA_KEY

    path = _save(tmp_path, "odd")
    # write the odd values straight into the header: save_model would refuse NaN in its own JSON sidecar
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"] = {METADATA_KEY: json.dumps({"architecture": "MnistCNN", **meta})}
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])
    with qtbot.waitSignal(window.ctx.modelReady, timeout=60000):
        window.studio.open_model(path)
    info = window.ctx.model_info
    start = time.perf_counter()
    window.ctx.set_model(info)  # what the GUI thread does with a loaded model: every view shows it
    assert time.perf_counter() - start < 2  # a 1 MB name used to stall the window 6 s here
    assert info.path == str(path) and len(info.name) <= 200
    assert window.status_accuracy.text() == "accuracy unknown"
    shown = window.studio.model_panel.text.text() + window.studio.model_panel.caption.text()
    assert "nan" not in shown.lower() and "inf" not in shown.lower()
    assert "records no robustness curve" in window.studio.model_panel.caption.text()
    assert window.studio.model_panel.line.getData()[0] is None or len(window.studio.model_panel.line.getData()[0]) == 0


def _digit_png(path, size=(300, 200)) -> None:
    im = Image.new("L", size, 255)
    im.paste(0, (size[0] // 2 - 8, 30, size[0] // 2 + 8, size[1] - 30))
    im.save(path)


def test_an_image_is_decoded_off_the_gui_thread(qtbot, window, tmp_path, monkeypatch):
    """The decode runs on the worker's thread; the GUI thread is free meanwhile and then shows the digit."""
    from advstudio.core import images

    path = tmp_path / "one.png"
    _digit_png(path)
    threads, release = [], threading.Event()
    real = images.load_image_file

    def slow(p):
        threads.append(QThread.currentThread())
        release.wait(10)
        return real(p)

    monkeypatch.setattr(images, "load_image_file", slow)
    start = time.perf_counter()
    window.studio.open_image(path)
    assert time.perf_counter() - start < 2  # returns at once, while the decode is held up
    qtbot.waitUntil(lambda: bool(threads), timeout=10000)
    assert threads[0] is not window.thread() and threads[0] is window.worker_thread.thread
    timer = QTimer(window)
    timer.setSingleShot(True)
    with qtbot.waitSignal(timer.timeout, timeout=2000):  # the GUI's event loop turns meanwhile
        timer.start(50)
    assert not release.is_set() and window.ctx.errors == []
    release.set()
    wait_settled(qtbot, window)
    assert window.ctx.analysis.prediction.label == 1 and window.ctx.errors == []


def _png_claiming(width: int, height: int) -> bytes:
    """A 70-byte PNG whose header claims width × height."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_an_image_bomb_is_refused_in_the_window(qtbot, window, tmp_path):
    draw_digit(qtbot, window, 3)
    before = window.ctx.current_input.copy()
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(30_000, 30_000))
    with qtbot.waitSignal(window.ctx.errorShown, timeout=10000):
        window.studio.open_image(path)
    assert "too large" in window.ctx.errors[-1] and "bomb.png" in window.ctx.errors[-1]
    assert np.array_equal(window.ctx.current_input, before)


def test_a_failed_load_keeps_the_model_in_use_on_the_worker_and_in_the_status(qtbot, window, tmp_path,
                                                                             monkeypatch):
    """B is asked for, then a bad file C before B's answer is shown: B's answer is still shown (the worker
    holds B), C's failure leaves B in use, and the status names B."""
    from advstudio.core import storage

    good = _save(tmp_path, "second", name="Second CNN")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10" + b"\x00" * 7 + b"not a header at all")
    started, release = threading.Event(), threading.Event()
    real = storage.load_model

    def gated(path, device="cpu"):
        if path.name == good.name:
            started.set()
            release.wait(20)
        return real(path, device)

    monkeypatch.setattr(storage, "load_model", gated)
    errors = len(window.ctx.errors)
    window.studio.open_model(good)
    assert started.wait(10)
    window.studio.open_model(bad)  # asked for while B still loads
    release.set()
    qtbot.waitUntil(lambda: len(window.ctx.errors) > errors and window.ctx.model_info.name == "Second CNN",
                    timeout=30000)
    state = window.worker.state
    held = state.model
    assert held is state.model_file(good)[0]  # the worker holds B …
    assert window.ctx.model_info.path == str(good) and "Second CNN" in window.status_model.text()  # … and says so
    assert "bad.safetensors" in window.ctx.errors[-1]
    with qtbot.waitSignal(window.ctx.errorShown, timeout=30000):
        window.studio.open_model(bad)  # on its own, after B is shown
    qtbot.wait(100)
    assert state.model is held and "Second CNN" in window.status_model.text()


def test_closing_while_a_model_load_hangs_does_not_abort(qtbot, make_window, tmp_path, monkeypatch):
    """A load that never ends (a slow disk; a FIFO before it was refused) must not keep the window from
    closing, and the still-running thread is kept, never destroyed (Qt aborts the process then)."""
    from advstudio.core import storage
    from advstudio.gui import worker as worker_module

    window = make_window()
    started, release = threading.Event(), threading.Event()

    def hanging(path, device="cpu"):
        started.set()
        release.wait(30)
        raise storage.ModelFileError("released")

    monkeypatch.setattr(storage, "load_model", hanging)
    (tmp_path / "slow.safetensors").write_bytes(b"x" * 100)
    window.studio.open_model(tmp_path / "slow.safetensors")
    assert started.wait(10)
    thread = window.worker_thread.thread
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 8  # stop() waits 2 s, not the 30 s the load would take
    assert thread.isRunning() and any(t is thread for t, _ in worker_module.STILL_RUNNING)
    release.set()
    assert thread.wait(10000)


EXIT_SCRIPT = r"""
import sys, threading
from PySide6.QtCore import QSettings, QTimer
from advstudio.gui.qtapp import make_app
app = make_app()
from advstudio.core import storage
from advstudio.gui.app import leave_now
from advstudio.gui.window import MainWindow

def hanging(path, device="cpu"):
    threading.Event().wait(60)  # a load that does not end while the window closes

storage.load_model = hanging
window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat), model_path=sys.argv[2],
                    report_error=lambda title, message: None)
window.show()
QTimer.singleShot(1500, window.close)
app.exec()
print("closed", flush=True)
leave_now(0)
"""


def test_the_app_exits_cleanly_when_its_window_closes_during_a_hanging_load(tmp_path):
    """The real exit path (app.leave_now runs the exit handlers, then os._exit): no SIGABRT from
    "QThread: Destroyed while thread is still running"."""
    import os
    import subprocess
    import sys

    model = tmp_path / "slow.safetensors"
    model.write_bytes(b"x" * 100)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(tmp_path / "s.ini"), str(model)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert "Destroyed while thread" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0 and "closed" in done.stdout, (done.returncode, done.stderr[-2000:])


def test_the_window_starts_on_a_last_model_with_odd_metadata(qtbot, make_window, settings, tmp_path):
    """The remembered model's metadata holds "clean_accuracy": "a" (and a NaN accuracy): the window still
    becomes ready, on that model, with its accuracy unknown."""
    from advstudio.core.storage import METADATA_KEY

    path = _save(tmp_path, "last", name="Last CNN")
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"] = {METADATA_KEY: json.dumps({"architecture": "MnistCNN", "name": "Last CNN",
                                                        "clean_accuracy": "a", "test_accuracy": float("nan")})}
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])
    settings.setValue("model/last", str(path))
    window = make_window()
    assert window.ctx.model_info.name == "Last CNN" and window.status_accuracy.text() == "accuracy unknown"


def test_the_model_panel_copes_with_unchecked_metadata(qtbot):
    """Metadata that did not come through storage (a feature's own dict) is checked again where it is shown."""
    from advstudio.gui.features.studio.model_panel import ModelInfoPanel
    from advstudio.gui.models import ModelInfo

    panel = ModelInfoPanel()
    qtbot.addWidget(panel)
    for meta in ({"test_accuracy": float("nan"), "fgsm_curve": {"eps": ["a"], "accuracy": [None]}},
                 {"test_accuracy": "a", "fgsm_curve": {"eps": [0.0, 0.1], "accuracy": [0.5]}},
                 {"test_accuracy": float("inf"), "fgsm_curve": [[0.1]], "recipe": {"lr": HOSTILE}}):
        info = ModelInfo(HOSTILE, f"/tmp/{HOSTILE}.safetensors", "CPU", meta)
        assert info.accuracy is None
        panel.set_data(info)
        assert "not recorded" in panel.text.text() and RAW not in panel.text.text()
        assert "records no robustness curve" in panel.caption.text()


def test_a_fifo_given_as_the_model_is_refused_at_once(qtbot, window, tmp_path):
    import os

    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    before = window.ctx.model_info
    with qtbot.waitSignal(window.ctx.errorShown, timeout=20000):  # it used to wait for a writer for ever
        window.studio.open_model(fifo)
    assert "not a regular file" in window.ctx.errors[-1] and window.ctx.model_info is before


def test_a_long_unbroken_name_does_not_widen_the_window(qtbot, window, tmp_path):
    """200 characters without a space (the most the metadata keeps): the status bar shortens it, the Model dock
    wraps it, and the window still fits a 1280-px projector."""
    path = _save(tmp_path, "long", name="N" * 1000)
    with qtbot.waitSignal(window.ctx.modelReady, timeout=30000):
        window.studio.open_model(path)
    assert window.ctx.model_info.name == "N" * 199 + "…"
    window.show_tab("attack")
    window.docks["model"].show()
    window.docks["model"].raise_()
    qtbot.wait(100)
    assert window.minimumSizeHint().width() <= 1280
    assert len(window.status_model.text()) < 80 and "N" * 199 in window.status_model.toolTip()


def test_an_error_box_shows_a_hostile_file_name_as_text(qtbot, window):
    from PySide6.QtWidgets import QMessageBox

    window._message_box("Could not open the model", f"{HOSTILE}.safetensors: not a safetensors file")
    box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
    assert box.textFormat() == Qt.TextFormat.PlainText and HOSTILE in box.text()
    box.close()
