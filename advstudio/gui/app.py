"""Start the studio window: `python -m advstudio [--model F] [--data DIR] [--demo | --lab-demo N] [--quit-after MS]`."""

from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv: list[str]) -> argparse.Namespace:
    from advstudio.core.argtypes import int_in  # the CLI's ranges: a usage message, not a traceback

    p = argparse.ArgumentParser(prog="advstudio", description="Adversarial Studio: draw a digit, attack it live.")
    p.add_argument("--model", help="model file (.safetensors or .onnx) to start with (default: the last one, else bundled)")
    p.add_argument("--data", help="MNIST folder for the gallery (default: setting, else $ADVSTUDIO_MNIST_DIR)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=None, help="where the model runs")
    p.add_argument("--theme", choices=("system", "light", "dark"), help="colour theme (default: saved, else system)")
    p.add_argument("--settings", metavar="INI", help="keep settings in this file instead of the user's settings")
    p.add_argument("--demo", action="store_true", help="start with a drawn 3 attacked at the smallest ε that flips it")
    p.add_argument("--lab-demo", type=int_in(10, 10_000), metavar="N",
                   help="start in the robustness lab with FGSM and PGD-40 curves of the current model (and PGD-40 of the robust model) on N test images (10–10000)")
    p.add_argument("--tab", metavar="KEY", help="start on this tab (attack, attack_lab, robustness, …)")
    p.add_argument("--quit-after", type=int_in(0, 86_400_000), metavar="MS", help="quit MS milliseconds after the window is ready")
    p.add_argument("--self-test", action="store_true", help="check this installation offscreen, then exit 0 or 1")
    p.add_argument("--lesson", metavar="PATH", help="open the guided lesson from this file, folder or bundled "
                   "language (e.g. en); kept as the lesson for later starts")
    p.add_argument("--lesson-step", type=int_in(1, 1000), metavar="N", help="open the guided lesson at step N (1 = the first)")
    p.add_argument("--present", action="store_true", help="start in presentation mode (F11 or Esc leaves it)")
    p.add_argument("--reset-settings", action="store_true", help="start with every setting at its default (the old "
                   "settings files are moved aside, kept as NAME.reset-<time>)")
    return p.parse_args(argv)


def _prepare_environment() -> None:
    """Leave one core to the GUI: OMP must be told before torch is imported."""
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))


def run(argv: list[str] | None = None) -> int:
    from advstudio.applog import install_excepthook, setup_logging

    setup_logging()
    args = parse_args(list(argv or []))
    if args.self_test:
        from advstudio.gui.selftest import run_self_test

        return run_self_test(argv)
    _prepare_environment()
    from advstudio.gui.qtapp import make_app

    app = make_app()
    install_excepthook()
    from PySide6.QtCore import QTimer

    from advstudio.gui.stored import open_settings, read_text
    from advstudio.gui.theme import THEMES, apply_theme
    from advstudio.gui.window import MainWindow

    if args.reset_settings:
        reset_settings_files(args.settings)
    settings = open_settings(args.settings)
    apply_theme(app, args.theme or read_text(settings, "view/theme", "system", choices=THEMES))
    window = MainWindow(settings=settings, model_path=args.model, data_dir=args.data, device=args.device)
    window.show()
    state = {"ready": False}

    def on_ready(_info=None) -> None:
        if state["ready"]:
            return
        state["ready"] = True
        print("advstudio: window ready", flush=True)
        if args.lesson and not window.lesson.load(args.lesson):
            print(f"advstudio: {window.ctx.errors[-1]}", file=sys.stderr)
        if args.lesson or args.lesson_step:
            window.lesson.start(max(0, (args.lesson_step or 1) - 1))
        if args.present:
            window.presentation.set_active(True)
        if args.tab and not window.show_tab(args.tab):
            print(f"advstudio: no tab {args.tab!r} (tabs: {', '.join(window.tab_widgets)})", file=sys.stderr)
        if args.lab_demo:
            start_lab_demo(window, args.lab_demo, then=schedule_quit)
        elif args.demo:
            start_demo(window, then=schedule_quit)
        else:
            schedule_quit()

    def schedule_quit() -> None:
        if args.quit_after is not None:
            QTimer.singleShot(max(0, args.quit_after), window.close)

    window.ctx.modelReady.connect(on_ready)
    app.lastWindowClosed.connect(lambda: print("advstudio: window closed", flush=True))
    leave_now(int(app.exec()))
    return 0  # not reached: leave_now ends the process


def reset_settings_files(ini: str | None) -> None:
    """--reset-settings: move the window's settings file and the one shared with the CLI aside (never read)."""
    from advstudio.core.settings import move_aside, reset_settings
    from advstudio.gui.stored import default_settings_file

    own = ini or default_settings_file()
    kept = [p for p in ((move_aside(own, "reset") if own else None), reset_settings()) if p is not None]
    print("advstudio: settings reset to their defaults" + (f"; the old ones are kept as {', '.join(map(str, kept))}"
                                                          if kept else " (there were none)"), flush=True)


def leave_now(code: int) -> None:
    """End the process as soon as the window has closed. By then the window has stopped the worker (a running job
    cancelled) and synced its settings; Python's own teardown (freeing torch's and Qt's objects module by module)
    would keep the process alive for seconds more. The exit handlers (log files, pyqtgraph) still run."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(code)


def start_lab_demo(window, n: int, then=None) -> None:
    """Draw a 3, then run untargeted FGSM and PGD-40 (ε 0–0.3) on the first n test images in the robustness lab,
    and PGD-40 on the bundled robust model beside them."""
    from advstudio.gui.demo import digit_strokes
    from advstudio.gui.features.lab.messages import LabSpec

    def finished(_result) -> None:
        window.lab.labFinished.disconnect(finished)
        if then is not None:
            then()

    for stroke in digit_strokes(3):
        window.studio.canvas.add_stroke(stroke)
    lab = window.lab
    models = window.ctx.models
    entry = models.get("bundled") or models.entries()[0]
    if window.ctx.model_info is not None and not window.ctx.model_info.bundled:
        entry = models.add_file(window.ctx.model_info.path)
    lab.panel.samples.setValue(int(n))
    lab.panel.form.set_attack("pgd", steps=40)
    lab.labFinished.connect(finished)
    specs = [LabSpec(entry, "fgsm", {}), LabSpec(entry, "pgd", {"steps": 40})]
    from pathlib import Path

    from advstudio.core.resources import robust_model_path

    robust = next((m for m in models if m.path and Path(m.path).resolve() == robust_model_path().resolve()), None)
    if robust is not None and robust is not entry:
        lab.panel.set_models(models.entries(), {entry.key, robust.key})
        specs.append(LabSpec(robust, "pgd", {"steps": 40}))
    if lab.run_lab(specs, [0.0, 0.05, 0.1, 0.15, 0.2, 0.3], int(n)) is None:
        lab.labFinished.disconnect(finished)
        window.show_tab("robustness")
        if then is not None:
            then()


def start_demo(window, then=None) -> None:
    """Draw a 3 and move ε to the smallest value that flips it."""
    from advstudio.gui.demo import digit_strokes

    def flipped(_result) -> None:
        window.ctx.flipFound.disconnect(flipped)
        if then is not None:
            then()

    def analysed(_analysis) -> None:
        window.ctx.analysisShown.disconnect(analysed)
        window.ctx.flipFound.connect(flipped)
        window.studio.find_flip()

    window.ctx.analysisShown.connect(analysed)
    for stroke in digit_strokes(3):
        window.studio.canvas.add_stroke(stroke)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
