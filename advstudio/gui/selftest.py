"""`advstudio --self-test`: open the real window offscreen, classify bundled digits, attack them, check.

Everything goes through the window and its worker thread, as a user's clicks would: the gallery classifies the
whole MNIST test set, 100 test digits are picked into the input one by one with the attack slider at ε = 0.3,
a digit is drawn on the canvas with mouse events, and the flip search runs on it. Prints one line per check
and exits 0 when all pass, 1 (naming what failed) otherwise. Used by the installer builds on every fresh
bundle, and from source with `python -m advstudio --self-test`."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MIN_CLEAN_ACCURACY = 0.95
FGSM_EPS = 0.3
MAX_FGSM_ACCURACY = 0.50  # the bundled model keeps ~18 % at ε = 0.3 on the full test set
SAMPLE = 100
DRAWN_DIGIT = 7
MAX_FLIP_EPS = 0.5  # the slider's range; a confidently drawn digit can need more than 0.3
WAIT_S = 120.0


class SelfTestFailure(Exception):
    pass


def _process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc), so start-up time includes the interpreter's own."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class Report:
    def __init__(self, out) -> None:
        self.out, self.failures, self.lines = out, [], []

    def line(self, text: str) -> None:
        self.lines.append(text)
        print(text, file=self.out, flush=True)
        if self.out in (sys.__stdout__, sys.__stderr__) and self.out is not None:
            # a console shows it; the log keeps it too (a windowed build's stdout already is the log)
            import logging

            logging.getLogger("advstudio.selftest").info("%s", text)

    def check(self, ok: bool, what: str) -> bool:
        self.line(("PASS " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)
        return ok


def _network_guard(report: Report) -> list[str]:
    """Record (not block) every attempt to open a network connection during the self-test."""
    attempts: list[str] = []

    def hook(event: str, args: tuple) -> None:
        if event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
            target = args[1] if event == "socket.connect" and len(args) > 1 else args[0] if args else ""
            if event == "socket.connect" and isinstance(target, (str, bytes)):
                return  # AF_UNIX sockets (D-Bus, X11) are local
            attempts.append(f"{event} {target!r}")

    sys.addaudithook(hook)
    return attempts


def run_self_test(argv: list[str] | None = None, out=None) -> int:
    """Run every check; returns the exit status (0 = all passed)."""
    out = out or sys.stdout
    age_at_entry = _process_age_s()
    t_entry = time.perf_counter()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # no screen needed, nothing flashes on one
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
    report = Report(out)
    frozen = bool(getattr(sys, "frozen", False))
    from advstudio import __version__

    where = Path(sys.executable).parent if frozen else Path(__file__).resolve().parents[2]
    report.line(f"advstudio {__version__} self-test ({'installed bundle' if frozen else 'source tree'}: {where})")
    attempts = _network_guard(report)
    try:
        _run_checks(report, frozen, t_entry, age_at_entry)
    except SelfTestFailure as exc:
        report.check(False, str(exc))
    except Exception as exc:  # noqa: BLE001 - any crash is a failed self-test, with its traceback logged
        import logging

        logging.getLogger("advstudio.selftest").exception("self-test crashed")
        report.check(False, f"the self-test crashed: {type(exc).__name__}: {exc}")
    report.check(not attempts, "no network access attempted" + (f" (attempts: {attempts[:3]})" if attempts else ""))
    total = time.perf_counter() - t_entry
    if report.failures:
        report.line(f"self-test FAILED ({len(report.failures)} of the checks above) in {total:.1f} s")
        for f in report.failures:
            report.line(f"  - {f}")
        return 1
    report.line(f"self-test PASSED in {total:.1f} s")
    return 0


def _run_checks(report: Report, frozen: bool, t_entry: float, age_at_entry: float | None) -> None:
    import logging

    from PySide6.QtWidgets import QApplication

    from advstudio.gui.qtapp import make_app

    log = logging.getLogger("advstudio.selftest")
    _route_qt_messages(log)
    app = make_app()
    import PySide6
    import torch

    report.line(f"python {sys.version.split()[0]}, torch {torch.__version__}, PySide6 {PySide6.__version__}, "
                f"Qt platform '{QApplication.platformName()}', {torch.get_num_threads()} torch threads")

    # Throw-away settings for the window (QSettings) and for what it shares with the CLI (core.settings):
    # a user's saved state neither changes the result nor is changed by it.
    settings_dir = tempfile.mkdtemp(prefix="advstudio-selftest-")
    saved_config = os.environ.get("ADVSTUDIO_CONFIG_DIR")
    os.environ["ADVSTUDIO_CONFIG_DIR"] = settings_dir
    try:
        _checks_with_settings(report, frozen, t_entry, age_at_entry, settings_dir, log, app)
    finally:
        if saved_config is None:
            os.environ.pop("ADVSTUDIO_CONFIG_DIR", None)
        else:
            os.environ["ADVSTUDIO_CONFIG_DIR"] = saved_config
        import shutil

        shutil.rmtree(settings_dir, ignore_errors=True)


def _checks_with_settings(report, frozen, t_entry, age_at_entry, settings_dir, log, app) -> None:
    from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QPointF, QSettings, Qt, QTimer, Slot
    from PySide6.QtGui import QMouseEvent

    from advstudio.core import data as data_mod
    from advstudio.core.resources import bundled_model_path
    from advstudio.gui.demo import digit_strokes
    from advstudio.gui.messages import UNTARGETED
    from advstudio.gui.window import MainWindow

    # ---- the bundled data, found without being told where it is
    if frozen:
        saved_env = os.environ.pop(data_mod.ENV_VAR, None)  # prove the bundled copy is found on its own
        found = data_mod.resolve_data_dir(None)
        if saved_env is not None:
            os.environ[data_mod.ENV_VAR] = saved_env
        bundled_dir = Path(str(Path(data_mod.__file__).parents[1] / "resources" / "mnist"))
        ok = found is not None and found.resolve() == bundled_dir.resolve()
        report.check(ok, f"bundled MNIST found automatically: {found}")
        if not ok:
            raise SelfTestFailure(f"the bundled MNIST copy is missing (expected in {bundled_dir})")
        data_dir: Path | None = found
    else:
        data_dir = data_mod.resolve_data_dir(None)
        if data_dir is None:
            report.line("SKIP MNIST checks: no MNIST folder (set ADVSTUDIO_MNIST_DIR; installed bundles carry one)")
    if data_dir is not None:
        counts = {}
        for split, (img_stem, lbl_stem) in data_mod.SPLIT_FILES.items():
            img, lbl = data_mod.find_split_file(data_dir, img_stem), data_mod.find_split_file(data_dir, lbl_stem)
            counts[split] = None if img is None or lbl is None else _idx_count(img)
        report.check(counts.get("test") == 10000 and counts.get("train") == 60000,
                     f"MNIST in {data_dir}: {counts.get('test')} test and {counts.get('train')} training images")

    # ---- the real window
    settings = QSettings(str(Path(settings_dir) / "selftest.ini"), QSettings.Format.IniFormat)
    errors: list[str] = []

    class Recorder(QObject):
        """Collects what the window announces (all on the GUI thread)."""

        def __init__(self) -> None:
            super().__init__()
            self.model_info = None
            self.analyses: list = []
            self.flips: list = []
            self.errors: list[str] = []

        @Slot(object)
        def on_model(self, info) -> None:
            self.model_info = info

        @Slot(object)
        def on_analysis(self, analysis) -> None:
            self.analyses.append(analysis)

        @Slot(object)
        def on_flip(self, result) -> None:
            self.flips.append(result)

        @Slot(str)
        def on_error(self, message: str) -> None:
            self.errors.append(message)

    rec = Recorder()

    class Waiter(QObject):
        """Runs a nested event loop until a condition holds, polled by a timer (few calls into Qt per wait)."""

        def __init__(self) -> None:
            super().__init__()
            self.loop = QEventLoop()
            self.timer = QTimer(self)
            self.timer.setInterval(5)
            self.timer.timeout.connect(self.poll)
            self.predicate, self.deadline, self.outcome = None, 0.0, ""

        @Slot()
        def poll(self) -> None:
            if self.predicate():
                self.outcome = "ok"
            elif rec.errors:
                self.outcome = "error"
            elif time.perf_counter() > self.deadline:
                self.outcome = "timeout"
            else:
                return
            self.timer.stop()
            self.loop.quit()

        def wait(self, predicate, what: str, timeout: float) -> float:
            t0 = time.perf_counter()
            if not predicate():
                self.predicate, self.deadline, self.outcome = predicate, t0 + timeout, ""
                self.timer.start()
                self.loop.exec()
            if self.outcome == "error":
                raise SelfTestFailure(f"the window reported an error while waiting for {what}: {rec.errors[-1]}")
            if self.outcome == "timeout":
                raise SelfTestFailure(f"timed out after {timeout:.0f} s waiting for {what}")
            return time.perf_counter() - t0

    waiter = Waiter()

    def wait_for(predicate, what: str, timeout: float = WAIT_S) -> float:
        return waiter.wait(predicate, what, timeout)

    window = MainWindow(settings=settings, report_error=lambda title, msg: errors.append(f"{title}: {msg}"),
                        model_path=str(bundled_model_path()), data_dir=str(data_dir) if data_dir else None)
    window.ctx.modelReady.connect(rec.on_model)
    window.ctx.analysisShown.connect(rec.on_analysis)
    window.ctx.flipFound.connect(rec.on_flip)
    window.ctx.errorShown.connect(rec.on_error)
    try:
        window.show()
        wait_for(lambda: window.isVisible() and window.windowHandle() is not None
                 and window.windowHandle().isExposed(), "the window to be shown", 30)
        wait_for(lambda: rec.model_info is not None, "the bundled model to load")
        ready = time.perf_counter() - t_entry
        since_start = f"{age_at_entry + ready:.2f} s since the process started, " if age_at_entry is not None else ""
        info = rec.model_info
        report.check(True, f"window shown and bundled model '{info.name}' loaded on {info.device}: "
                           f"{since_start}{ready:.2f} s after the self-test began")
        report.line(f"startup_s={age_at_entry + ready if age_at_entry is not None else ready:.3f}")
        log.info("self-test: window ready after %.2f s", ready)

        # ---- the gallery: the whole test set classified by the worker, as the window shows it
        if data_dir is not None:
            wait_for(lambda: getattr(window.studio.gallery_panel, "data", None) is not None, "the MNIST gallery")
            g = window.studio.gallery_panel.data
            acc = float((g.labels == g.predictions).mean())
            report.check(len(g.labels) == 10000 and acc >= MIN_CLEAN_ACCURACY,
                         f"gallery: {len(g.labels)} MNIST test digits classified, accuracy {acc:.2%} "
                         f"(needs ≥ {MIN_CLEAN_ACCURACY:.0%})")

            # ---- 100 test digits through the input path, attacked at ε = 0.3 by the attack panel
            controls = window.studio.attack_panel.controls
            controls.set_method(UNTARGETED)
            controls.set_eps(FGSM_EPS)
            rng = np.random.default_rng(0)
            picks = rng.choice(len(g.labels), size=SAMPLE, replace=False)
            clean_right = adv_right = 0
            eps_seen = set()
            for idx in picks:
                expected = g.images[idx].astype(np.float32) / 255.0
                before = len(rec.analyses)
                window.studio.gallery_panel.pick(int(idx))

                def arrived(expected=expected, before=before) -> bool:
                    return any(np.array_equal(a.prediction.image, expected) for a in rec.analyses[before:])

                wait_for(arrived, f"the analysis of test digit #{idx}")
                a = next(a for a in reversed(rec.analyses) if np.array_equal(a.prediction.image, expected))
                clean_right += int(a.prediction.label == g.labels[idx])
                adv_right += int(a.attack.adv_label == g.labels[idx])
                eps_seen.add(round(a.attack.eps, 6))
                if a.attack.linf > FGSM_EPS + 1e-5:
                    raise SelfTestFailure(f"digit #{idx}: the perturbation's L∞ {a.attack.linf:.4f} exceeds ε")
            clean_acc, adv_acc = clean_right / SAMPLE, adv_right / SAMPLE
            report.check(clean_acc >= MIN_CLEAN_ACCURACY,
                         f"{SAMPLE} test digits picked into the input: {clean_right}/{SAMPLE} classified right "
                         f"(needs ≥ {MIN_CLEAN_ACCURACY:.0%})")
            report.check(eps_seen == {FGSM_EPS} and adv_acc <= MAX_FGSM_ACCURACY,
                         f"FGSM (untargeted, L∞, 1 step) at ε = {FGSM_EPS} from the attack panel on those "
                         f"{SAMPLE}: accuracy {clean_acc:.0%} → {adv_acc:.0%} (needs ≤ {MAX_FGSM_ACCURACY:.0%})")
            window.studio.canvas.clear()

        # ---- a digit drawn with the mouse on the canvas, then the flip search
        canvas = window.studio.canvas
        controls = window.studio.attack_panel.controls
        controls.set_eps(0.0)
        before = len(rec.analyses)
        drawn_by = _draw_with_mouse(canvas, digit_strokes(DRAWN_DIGIT), QMouseEvent, QPointF, Qt, QCoreApplication)
        if not canvas.strokes:  # no mouse input arrived at the canvas (should not happen): use its stroke API
            for stroke in digit_strokes(DRAWN_DIGIT):
                canvas.add_stroke(stroke)
            drawn_by = "add_stroke"
        wait_for(lambda: len(rec.analyses) > before and window.ctx.analysis is rec.analyses[-1]
                 and window.ctx.current_input is not None
                 and np.array_equal(rec.analyses[-1].prediction.image, window.ctx.current_input),
                 "the drawn digit's analysis")
        pred = rec.analyses[-1].prediction
        report.check(pred.label == DRAWN_DIGIT,
                     f"a {DRAWN_DIGIT} drawn on the canvas ({drawn_by}) is read as {pred.label} "
                     f"with p = {pred.confidence:.2f}")
        digit_label = getattr(window.studio.prediction_panel, "digit", None)
        if digit_label is not None:
            report.check(digit_label.text().strip() == str(pred.label),
                         f"the prediction panel shows '{digit_label.text()}'")

        flips_before = len(rec.flips)
        window.studio.find_flip()
        wait_for(lambda: len(rec.flips) > flips_before, "the flip search")
        flip = rec.flips[-1]
        report.check(flip.found and 0.0 < flip.eps <= MAX_FLIP_EPS,
                     f"flip search on the drawn {DRAWN_DIGIT}: smallest ε that flips it = {flip.eps:.3f} "
                     f"({flip.clean_label} → {flip.adv_label}, {flip.evaluations} forward passes)")
        if flip.found:
            wait_for(lambda: window.ctx.analysis is not None and abs(window.ctx.analysis.attack.eps - flip.eps) < 1e-6,
                     "the attack view at the flipping ε")
            report.check(window.ctx.analysis.attack.flipped,
                         f"the attack view at ε = {flip.eps:.3f} shows the flip "
                         f"({window.ctx.analysis.attack.clean_label} → {window.ctx.analysis.attack.adv_label})")
        _check_bundled_extras(report)
        report.check(not errors, "no error dialogs" + (f": {errors}" if errors else ""))
    finally:
        window.close()
        stopped = window.worker_thread.thread.wait(5000) if hasattr(window, "worker_thread") else True
        app.processEvents()
        window.deleteLater()
        app.processEvents()
    report.check(bool(stopped), "window closed and its worker thread stopped")


def _check_bundled_extras(report: Report) -> None:
    """The robust model and the lesson files travel with the app (resources the installer must carry)."""
    from advstudio.core.errors import LessonError, ModelFileError
    from advstudio.core.lesson import load_lesson
    from advstudio.core.model_meta import robust_headline
    from advstudio.core.resources import robust_model_path
    from advstudio.core.storage import load_model

    try:
        _model, meta = load_model(robust_model_path())
        head = robust_headline(meta)
        ok = head is not None and head["strongest"] and head["accuracy"] >= 0.85
        what = (f"{head['label']} accuracy at ε = 0.3 in its metadata: {head['accuracy'] * 100:.2f}% on "
                f"{head['n'] or '?'} test images" if head else "no robust accuracy at ε = 0.3 in its metadata")
        report.check(ok, f"bundled robust model '{meta.get('name')}' loads ({what})")
    except (ModelFileError, OSError) as exc:
        report.check(False, f"bundled robust model: {exc}")
    try:
        lesson = load_lesson()
        report.check(len(lesson.steps) == 10, f"lesson '{lesson.title}' loads with {len(lesson.steps)} steps")
    except LessonError as exc:
        report.check(False, f"lesson: {exc}")


def _route_qt_messages(log) -> None:
    """Qt's own messages go to the log file; the offscreen platform's harmless notes stay off the console."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    quiet = ("propagateSizeHints",)
    levels = {QtMsgType.QtDebugMsg: 10, QtMsgType.QtInfoMsg: 20, QtMsgType.QtWarningMsg: 30,
              QtMsgType.QtCriticalMsg: 40, QtMsgType.QtFatalMsg: 50}

    def handler(mode, context, message) -> None:
        level = levels.get(mode, 30)
        if any(q in message for q in quiet):
            level = 10
        log.log(level, "Qt: %s", message)

    _route_qt_messages.handler = handler  # keep a reference for as long as the process runs
    qInstallMessageHandler(handler)


def _idx_count(path: Path) -> int | None:
    """The item count from an IDX header, reading only its first bytes."""
    import gzip
    import struct

    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        head = fh.read(8)
    return struct.unpack(">I", head[4:8])[0] if len(head) == 8 else None


def _draw_with_mouse(canvas, strokes, QMouseEvent, QPointF, Qt, QCoreApplication) -> str:
    """Press, move and release the left button along each stroke, in widget coordinates, as a user would."""
    side = min(canvas.width(), canvas.height()) - 2
    ox, oy = (canvas.width() - side) / 2, (canvas.height() - side) / 2
    scale = side / 280.0
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mods = Qt.KeyboardModifier.NoModifier
    T = QMouseEvent.Type
    for stroke in strokes:
        pts = [QPointF(ox + x * scale, oy + y * scale) for x, y in stroke]
        events = [(T.MouseButtonPress, pts[0], left, left)]
        events += [(T.MouseMove, p, none, left) for p in pts[1:]]
        events.append((T.MouseButtonRelease, pts[-1], left, none))
        for kind, pos, button, buttons in events:
            global_pos = canvas.mapToGlobal(pos)
            ev = QMouseEvent(kind, pos, global_pos, button, buttons, mods)
            QCoreApplication.sendEvent(canvas, ev)
    return f"mouse events on a {canvas.width()}×{canvas.height()} canvas"
