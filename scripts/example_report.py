"""Run a scripted studio session offscreen and export its report: docs/example-report.html and .pdf.

The session: a student named "Example Student" follows the lesson's first three steps; the demo 3 and its
smallest flipping ε, a drawn 7 and its flip, a drawn 0 kept at ε = 0.1, the 3 at its flipping ε side by side on
the standard and the robust model, the same 3 at the same ε on the bundled robust model, the Activations dock on
screen throughout, and a robustness-lab run (FGSM and PGD-40 on the standard model, PGD-40 on the robust one,
ε 0–0.3) on N test images.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/example_report.py --data ../shared/mnist [--n 200] [--out docs]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("ADVSTUDIO_MNIST_DIR"), help="MNIST folder (for the lab)")
    p.add_argument("--n", type=int, default=200, help="test images for the robustness lab")
    p.add_argument("--out", default=str(ROOT / "docs"), help="folder for example-report.html and .pdf")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("ADVSTUDIO_CONFIG_DIR", tempfile.mkdtemp(prefix="advstudio-report-config-"))

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from advstudio.gui.demo import digit_strokes
    from advstudio.gui.features.lab.messages import LabSpec
    from advstudio.gui.qtapp import make_app
    from advstudio.gui.window import MainWindow

    app = make_app()
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "advstudio.ini"), QSettings.Format.IniFormat)
    problems: list[str] = []
    window = MainWindow(settings=settings, data_dir=args.data,
                        report_error=lambda title, message: problems.append(f"{title}: {message}"))
    window.show()
    log = window.session_log

    def wait(predicate, what: str, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}; errors: {problems}")
            app.processEvents()
            time.sleep(0.01)

    wait(lambda: window.ctx.model_info is not None, "the model")
    window.docks["activations"].show()
    window.docks["activations"].raise_()

    def draw(digit: int) -> None:
        window.studio.canvas.clear()
        for stroke in digit_strokes(digit):
            window.studio.canvas.add_stroke(stroke)
        wait(lambda: window.ctx.analysis is not None and window.ctx.current_input is not None
             and (window.ctx.analysis.prediction.image == window.ctx.current_input).all(), f"the analysis of a {digit}")

    def flip(digit: int) -> None:
        draw(digit)
        before = len(log.attacks)
        window.studio.find_flip()
        wait(lambda: len(log.attacks) > before or (window.ctx.flip is not None and not window.ctx.flip.found),
             f"the flip of a {digit}")
        wait_activations(f"the activations of the {digit}")

    def wait_activations(what: str) -> None:
        """The dock answers the input and ε on screen while it is shown; ask again if no answer came."""
        for attempt in range(3):
            window.activations.dock.raise_()
            window.activations.request()
            try:
                wait(lambda: any(a["attack_id"] == log.attacks[-1]["id"] for a in log.activations), what, 20)
                return
            except SystemExit:
                if attempt == 2:
                    raise
                print(f"no answer yet for {what}; asking again", flush=True)

    log.set_student("Example Student")
    lesson = window.lesson
    lesson.start(0)
    for step in ("model", "clean", "draw"):  # the lesson's first steps, by its own buttons
        lesson.perform_action()
        wait(lambda step=step: step in lesson.done, f"the lesson's step {step!r}")
        lesson.next()
    window.docks["activations"].raise_()

    flip(3)
    flip_eps = log.attacks[0]["eps"]
    window.show_tab("compare")  # the same 3 at its flipping ε on the standard and the robust model
    wait(lambda: log.compare is not None and abs(log.compare["eps"] - flip_eps) < 1e-3
         and all(s["clean_label"] is not None for s in log.compare["sides"]), "the side-by-side comparison")
    window.show_tab("attack")
    flip(7)
    draw(0)
    window.studio.attack_panel.controls.set_eps(0.1)
    wait(lambda: abs(window.ctx.analysis.attack.eps - 0.1) < 1e-6, "the 0 at ε = 0.1")
    log.keep_current()
    wait_activations("the activations of the 0")

    # the lesson's defense step: the robust model against the same attack on the same 3
    from advstudio.core.resources import robust_model_path

    robust = robust_model_path().resolve()
    window.studio.open_model(robust)
    wait(lambda: window.ctx.model_info is not None and Path(window.ctx.model_info.path).resolve() == robust,
         "the robust model")
    draw(3)
    window.studio.attack_panel.controls.set_eps(flip_eps)
    wait(lambda: abs(window.ctx.analysis.attack.eps - flip_eps) < 1e-3, "the 3 on the robust model")
    log.keep_current()
    wait_activations("the activations of the 3 on the robust model")

    lab = window.lab
    entry = window.ctx.models.get("bundled")
    robust_entry = next(m for m in window.ctx.models if m.path and Path(m.path).resolve() == robust)
    specs = [LabSpec(entry, "fgsm", {}), LabSpec(entry, "pgd", {"steps": 40}),
             LabSpec(robust_entry, "pgd", {"steps": 40})]
    runs = len(log.labs)
    if lab.run_lab(specs, [0.0, 0.05, 0.1, 0.15, 0.2, 0.3], args.n) is None:
        raise SystemExit(f"the lab did not start: {problems}")
    t0 = time.monotonic()
    wait(lambda: len(log.labs) > runs, "the robustness lab", 1800)
    print(f"lab: {time.monotonic() - t0:.1f} s", flush=True)

    out = Path(args.out)
    html = log.export(out / "example-report.html")
    pdf = log.export(out / "example-report.pdf")
    print(f"attacks {len(log.attacks)}, activations {len(log.activations)}, lab runs {len(log.labs)}")
    for path in (html, pdf):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)" if path else "a file was not written")
    window.close()
    QApplication.processEvents()
    return 0 if html and pdf and pdf.suffix == ".pdf" and not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
