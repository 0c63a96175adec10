"""The README screenshot of the "Patch & universal" tab: a 3 is drawn, a 12×12 patch toward 8 is trained for 300
steps, dragged onto the digit (the prediction changes) and measured on 1,000 test digits
(`scripts/shot_patch.py universal`: the universal-perturbation page instead, v at ε = 0.3 added to the drawing;
a second argument `sweep` then also draws the page's plot: success against size, 100 steps a patch, or fooling
rate against ε).

    ADVSTUDIO_MNIST_DIR=../shared/mnist ../shared/tools/screenshot -w 150 -s 1280x720 docs/screenshot-patch.png -- .venv/bin/python scripts/shot_patch.py
"""
import os
import sys
import tempfile

from PySide6.QtCore import QSettings, QTimer

from advstudio.gui.demo import digit_strokes
from advstudio.gui.features.universal.messages import PatchData, PatchRateResult, UniversalData
from advstudio.gui.qtapp import make_app
from advstudio.gui.window import MainWindow

PAGE, SWEEP = (sys.argv[1:] + ["patch", ""][len(sys.argv) - 1:])[:2]
sys.argv = ["advstudio"]
app = make_app()

w = MainWindow(settings=QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat),
               data_dir=os.environ["ADVSTUDIO_MNIST_DIR"])
w.show()
ctl = w.universal


def go(_info=None):
    w.ctx.modelReady.disconnect(go)
    w.ctx.request_strokes(digit_strokes(3))
    w.show_tab("universal")
    if PAGE == "universal":
        ctl.panel.show_page("universal")
        ctl.panel.universal.add_box.setChecked(True)
        ctl.compute_universal()
        return
    half = ctl.panel.patch
    half.side.setValue(12)
    half.steps.setValue(300)
    half.move_patch(0, 16)
    ctl.train_patch()


def trained(kind, value):
    if SWEEP and isinstance(value, PatchRateResult):
        ctl.panel.patch.steps.setValue(100)
        ctl.sweep_patch()
    if SWEEP and isinstance(value, UniversalData):
        ctl.sweep_universal()
    if isinstance(value, PatchData):
        ctl.panel.patch.move_patch(0, 16)  # first off the digit: still a 3 …
        QTimer.singleShot(1500, onto_digit)


def onto_digit():
    ctl.panel.patch.move_patch(7, 8)  # … then dragged onto its middle: an 8
    QTimer.singleShot(500, ctl.measure_patch)


w.ctx.modelReady.connect(go)
ctl.workFinished.connect(trained)
app.exec()
