"""The README screenshot of a dataset with named classes: the window with a model trained on the letters of
scripts/font_letters.py, a test letter picked from the gallery and attacked at the smallest ε that flips it.

    .venv/bin/python scripts/font_letters.py /tmp/letters
    .venv/bin/python -m advstudio train --data /tmp/letters --epochs 3 --out /tmp/letters.safetensors
    ../shared/tools/screenshot -w 60 -s 1280x720 docs/screenshot-letters.png -- \
        .venv/bin/python scripts/shot_classes.py /tmp/letters.safetensors /tmp/letters [LETTER [TAB]]

(TAB: another tab to show once the letter is attacked, e.g. attack_lab, universal, compare, certify.)
"""
import sys
import tempfile

import numpy as np
from PySide6.QtCore import QSettings, QTimer

from advstudio.gui.qtapp import make_app
from advstudio.gui.window import MainWindow

MODEL, DATA = sys.argv[1], sys.argv[2]
LETTER = sys.argv[3] if len(sys.argv) > 3 else "k"
TAB = sys.argv[4] if len(sys.argv) > 4 else None
sys.argv = ["advstudio"]
app = make_app()
w = MainWindow(settings=QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat),
               model_path=MODEL, data_dir=DATA)
w.show()
gallery = w.studio.gallery_panel


def pick():
    d = gallery.data
    if d is None or len(w.ctx.model_info.classes) != len(d.classes):
        QTimer.singleShot(300, pick)
        return
    k = d.classes.index(LETTER)
    right = np.flatnonzero((d.labels == k) & (d.predictions == k))
    gallery.set_filter(k)
    gallery.pick(int(right[0]))
    QTimer.singleShot(800, w.ctx.request_flip)
    if TAB:
        QTimer.singleShot(2500, lambda: w.show_tab(TAB))


QTimer.singleShot(1500, pick)
app.exec()
